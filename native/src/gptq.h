// GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for
// Generative Pre-trained Transformers", 2022) onto the int4 grids of lowbit's
// formats, and the calibrated output error AWQ's scale search minimizes.
//
// A linear layer W [rows, cols] reads inputs X [tokens, cols]; H = X^T X
// (act_hessian.h). GPTQ quantizes W one input column at a time, in order (or,
// act_order, by decreasing H diagonal), and spreads each column's rounding
// error over the columns not yet quantized through U, the upper Cholesky
// factor of (H + damp * mean(diag H) * I)^-1, so that the layer's output
// error ||(W - Q) X^T|| stays small. Rows are independent: they run in
// parallel on the thread pool.
//
// The grid of a group (scale, offset) is chosen when GPTQ reaches the group's
// first column (in act order: the first of its columns processed), from the
// group's current (error-updated) values, by the same rule as round-to-nearest:
//   q4 symmetric   s = max|w| / 7, o = -8 s           (quantize.h)
//   q4 asymmetric  s = (max - min) / 15, o = min      (range including 0)
//   q4_0           d = fp16(w_absmax_signed / -8), o = -8 d (llama.cpp's Q4_0 rule)
//   q4_k           groups of 32 (sub-blocks), decided 8 at a time when GPTQ
//                  reaches a super-block of 256: quantize_row_q4_K's search on
//                  its current values (kq_quantize_scaled_mins) gives f16 d,
//                  dmin and 6-bit sc[8], mn[8]; sub-block j's grid is
//                  s = d * sc[j], o = -(dmin * mn[j]); codes round (x - o) / s
// Groups always follow the storage's column order, so the result loads
// through the existing kernels.
#pragma once
#include <cstdint>

#include "kernels/kernels.h"
#include "threadpool.h"

namespace lowbit {

struct GptqGrid {
  int64_t group = 128;  // columns per group (per channel: cols padded to 32)
  bool asym = false;
  bool q4_0 = false;  // llama.cpp Q4_0 blocks: group 32, fp16 d
  bool q4_k = false;  // llama.cpp Q4_K super-blocks of 256: group 32 (sub-blocks), grids set 8 at a time
};

// Q4_K: the grids of the 8 sub-blocks of one super-block x[256] (scale[8],
// off[8]) and the block header (d, dmin, 12 scale bytes) into blk[0..16).
void gptq_q4_k_grid(const float* x, float* scale, float* off, uint8_t* blk);

struct GptqOptions {
  double damp = 0.01;  // fraction of the mean diagonal added to H's diagonal
  bool act_order = false;
};

// Groups of a row: ceil(cols / group).
inline int64_t gptq_groups(int64_t cols, const GptqGrid& g) { return (cols + g.group - 1) / g.group; }

// One group's grid from its n current values (see above).
void gptq_group_grid(const float* w, int64_t n, const GptqGrid& g, float* scale, float* off);
// A value's code in [0, 15] on a group's grid, and its dequantized value s * q + o.
uint8_t gptq_code(float x, float scale, float off, const GptqGrid& g);
inline float gptq_dequant(uint8_t q, float scale, float off) { return scale * (float)q + off; }

// U [n, n] row-major upper triangular with U^T U = A^-1, A [n, n] symmetric
// positive definite (double). Throws std::invalid_argument when A is not.
void inverse_cholesky_upper(ThreadPool& pool, const double* A, int64_t n, double* U);

// W [rows, cols] row-major: replaced in place by the dequantized GPTQ result.
// H [cols, cols]: the input Hessian (not modified). scales / offsets
// [rows][gptq_groups]: each group's grid. Columns whose H diagonal is 0 (never
// active) are quantized as zeros.
// q4_k: kblocks (rows * cols / 256 blocks of 144 bytes) receives the GGUF Q4_K blocks.
void gptq_quantize(ThreadPool& pool, float* W, int64_t rows, int64_t cols, const double* H, const GptqGrid& g,
                   const GptqOptions& o, float* scales, float* offsets, uint8_t* kblocks = nullptr);

// AWQ's objective: sum over rows of e H e^T, e = the row's round-to-nearest
// error on the grid, with W's columns multiplied by s before quantizing and
// divided after (s null: 1). The products run on kt's f32 matmul kernels.
double q4_output_error(ThreadPool& pool, const KernelTable& kt, const float* W, int64_t rows, int64_t cols,
                       const double* H, const float* s, const GptqGrid& g);

}  // namespace lowbit
