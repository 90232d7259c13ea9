// Format-agnostic matmul: C[m, n] = A[m, k] . W[n, k]^T. Model code and the
// graph executor only call this; the weight's row of the format table
// (formats/format.h: FormatOps, activation preparation + kernel) does the
// work, so new formats plug in without touching the graph.
#pragma once
#include <cstdint>

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
};

void matmul(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m, const Weight& W,
            float* C, int64_t ldc, MatmulScratch& scratch);

// Several weights of one format applied to the same input in one threaded
// job (activations prepared once): C_i[m, W_i.rows] = A . W_i^T, ldc_i = W_i.rows.
void matmul_multi(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m,
                  const Weight* const* W, float* const* C, int count, MatmulScratch& scratch);

}  // namespace lowbit
