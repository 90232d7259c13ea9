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
};

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
void gptq_quantize(ThreadPool& pool, float* W, int64_t rows, int64_t cols, const double* H, const GptqGrid& g,
                   const GptqOptions& o, float* scales, float* offsets);

// AWQ's objective: sum over rows of e H e^T, e = the row's round-to-nearest
// error on the grid, with W's columns multiplied by s before quantizing and
// divided after (s null: 1). The products run on kt's f32 matmul kernels.
double q4_output_error(ThreadPool& pool, const KernelTable& kt, const float* W, int64_t rows, int64_t cols,
                       const double* H, const float* s, const GptqGrid& g);

}  // namespace lowbit
