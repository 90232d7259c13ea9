#include "matmul.h"

#include "comm.h"
#include "formats/q8.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>


namespace lowbit {

void matmul(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m, const Weight& W,
            float* C, int64_t ldc, MatmulScratch& scratch) {
  if (ldc != W.rows) throw std::logic_error("matmul: ldc must equal the weight's rows");
  const Weight* w = &W;
  matmul_multi(pool, kt, A, lda, m, &w, &C, 1, scratch);
}

namespace {

// The activations of W0's format for A (null: the kernels read A in place); per-token int8
// rows take scratch.row_scale when given (row-parallel shards: the whole row's scales).
void* prepare_act(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m, const Weight& W0,
                  MatmulScratch& scratch) {
  const FormatOps& ops = W0.fmt->ops;
  const int64_t k = W0.cols;
  size_t ab = ops.act_bytes(W0, m);
  if (!ab) return nullptr;
  scratch.act.reserve(ab);
  void* act = scratch.act.data();
  const bool row_scaled = scratch.row_scale && (W0.format == WFormat::Q8 || W0.format == WFormat::Q4A8);
  pool.run_sized((long)(m * k), [&](int tid, int nth) {
    long r0, r1;
    split_range(m, nth, tid, &r0, &r1);
    if (row_scaled) {  // kQ8's int8 rows and scales, with the given scale of each row
      int8_t* q = static_cast<int8_t*>(act);
      float* sa = reinterpret_cast<float*>(q + q8_scales_at(W0, m));
      for (long r = r0; r < r1; r++) kt.quantize_q8(A + r * lda, W0.cols, W0.kp, q + r * W0.kp, sa + r, scratch.row_scale[r]);
    } else {
      ops.prepare(kt, W0, A, lda, m, r0, r1, act);
    }
  });
  return act;
}

// fn(i, j0, j1) over the output columns of all weights, in blocks of 16 (whole register
// tiles), split evenly over the threads.
template <class F>
void for_column_blocks(ThreadPool& pool, const Weight* const* W, int count, const F& fn) {
  int64_t first_block[9] = {0};
  if (count > 8) throw std::logic_error("matmul_multi: at most 8 weights");
  for (int i = 0; i < count; i++) first_block[i + 1] = first_block[i] + (W[i]->rows + 15) / 16;
  const int64_t nblocks = first_block[count];
  pool.run([&](int tid, int nth) {
    long b0, b1;
    split_range(nblocks, nth, tid, &b0, &b1);
    for (int i = 0; i < count && b0 < b1; i++) {
      int64_t lo = std::max<int64_t>(b0, first_block[i]), hi = std::min<int64_t>(b1, first_block[i + 1]);
      if (lo >= hi) continue;
      const int64_t n = W[i]->rows;
      fn(i, (lo - first_block[i]) * 16, std::min<int64_t>((hi - first_block[i]) * 16, n));
    }
  });
}

}  // namespace

void matmul_multi(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m,
                  const Weight* const* W, float* const* C, int count, MatmulScratch& scratch) {
  // the format table's row of the first weight prepares the activations; each
  // weight's own row runs it (K-quant types of one activation type may mix)
  const int64_t k = W[0]->cols;
  for (int i = 0; i < count; i++)
    if (!W[i]->matrix || W[i]->cols != k || !shares_activations(*W[0], *W[i]))
      throw std::logic_error("matmul_multi: mixed weights");
  const void* act = prepare_act(pool, kt, A, lda, m, *W[0], scratch);
  for_column_blocks(pool, W, count, [&](int i, int64_t j0, int64_t j1) {
    W[i]->fmt->ops.run(kt, A, lda, act, m, *W[i], C[i], W[i]->rows, j0, j1);
  });
}

void matmul_row_parallel(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m,
                         const Weight& W, float* C, MatmulScratch& scratch) {
  const int64_t k = W.cols, n = W.rows;
  if (int8_per_token_act(W)) {  // every rank quantizes its part of a row with the whole row's scale
    scratch.row_scales.assign(m, 0.0f);
    for (int64_t r = 0; r < m; r++)
      for (int64_t p = 0; p < k; p++) scratch.row_scales[r] = std::fmax(scratch.row_scales[r], std::fabs(A[r * lda + p]));
    comm::all_reduce_max(scratch.row_scales.data(), scratch.row_scales.size());
    for (float& s : scratch.row_scales) s /= 127.0f;
    scratch.row_scale = scratch.row_scales.data();
  }
  const FormatOps& ops = W.fmt->ops;
  const Weight* ws = &W;
  try {
    if (ops.run_i32) {  // exact: the ranks' int32 dot products summed, then scaled once
      const void* act = prepare_act(pool, kt, A, lda, m, W, scratch);
      scratch.partial.reserve((size_t)m * n * sizeof(int32_t));
      int32_t* d = scratch.partial.as<int32_t>();
      for_column_blocks(pool, &ws, 1, [&](int, int64_t j0, int64_t j1) { ops.run_i32(kt, act, m, W, d, n, j0, j1); });
      comm::all_reduce_sum_i32(d, (size_t)m * n);
      for_column_blocks(pool, &ws, 1, [&](int, int64_t j0, int64_t j1) { ops.scale_i32(act, m, W, d, C, n, j0, j1); });
    } else {
      matmul_multi(pool, kt, A, lda, m, &ws, &C, 1, scratch);
      comm::all_reduce_sum(C, (size_t)m * n);
    }
  } catch (...) {
    scratch.row_scale = nullptr;
    throw;
  }
  scratch.row_scale = nullptr;
}

}  // namespace lowbit
