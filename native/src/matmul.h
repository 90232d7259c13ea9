// Format-agnostic matmul: C[m, n] = A[m, k] . W[n, k]^T. Model code and the
// graph executor only call this; the weight's row of the format table
// (formats/format.h: FormatOps, activation preparation + kernel) does the
// work, so new formats plug in without touching the graph.
#pragma once
#include <cstdint>
#include <vector>

#include "buffer.h"
#include "kernels/kernels.h"
#include "threadpool.h"
#include "weights.h"

namespace lowbit {

struct MatmulScratch {
  AlignedBuf act;  // activations converted to the format's input type
  // w8a8 / w4a8 with per-token scales, row-parallel under tensor parallelism: each input
  // row's scale (the whole row's max |x| / 127, all-reduced), so the codes are exactly
  // the single-process ones; null otherwise
  const float* row_scale = nullptr;
  std::vector<float> row_scales;  // matmul_row_parallel's storage of row_scale
  AlignedBuf partial;             // matmul_row_parallel's int32 partial sums [m, n]
};

void matmul(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m, const Weight& W,
            float* C, int64_t ldc, MatmulScratch& scratch);

// Several weights of one format applied to the same input in one threaded
// job (activations prepared once): C_i[m, W_i.rows] = A . W_i^T, ldc_i = W_i.rows.
void matmul_multi(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m,
                  const Weight* const* W, float* const* C, int count, MatmulScratch& scratch);

// Tensor parallelism's row-parallel matmul (attn_output, ffn_down: the MPI build, comm.h): A
// [m, k] holds this rank's k input columns and W [n, k] the same columns of every row; C [m, n]
// = the whole product, summed over the ranks, as one process computes it. Per-token int8
// activations (w8a8, w4a8) are quantized with the whole row's scale (its max |x| all-reduced);
// formats with exact integer dot products (FormatOps::run_i32: q8) sum their int32 partial dot
// products over the ranks and scale the sum once, so their result is the single process's bit
// for bit; the others sum their f32 partial results.
void matmul_row_parallel(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m,
                         const Weight& W, float* C, MatmulScratch& scratch);

}  // namespace lowbit
