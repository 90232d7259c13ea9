#include "matmul.h"

#include <algorithm>
#include <stdexcept>

namespace lowbit {

namespace {

// One entry per weight format.
struct FormatOps {
  // bytes of prepared activations for an [m, k] input (0 = kernel reads f32 A)
  size_t (*act_bytes)(int64_t m, int64_t k);
  // converts rows [r0, r1) of A into the prepared buffer
  void (*prepare)(const KernelTable& kt, const float* A, int64_t lda, int64_t k, int64_t r0, int64_t r1, void* act);
  // computes C[:, j0:j1]
  void (*run)(const KernelTable& kt, const float* A, int64_t lda, const void* act, int64_t m, const Weight& W,
              float* C, int64_t ldc, int64_t j0, int64_t j1);
};

// f32 weights: kernels read the f32 activations directly.
const FormatOps kF32 = {
    [](int64_t, int64_t) -> size_t { return 0; },
    nullptr,
    [](const KernelTable& kt, const float* A, int64_t lda, const void*, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      kt.matmul_f32(A, lda, W.data.as<float>(), W.cols, C, ldc, m, j0, j1, W.cols);
    }};

// bf16 weights: activations rounded to bf16 (RNE) once per matmul, products of
// bf16 pairs accumulated in f32 (vdpbf16ps where available). The same numerics
// on every kernel variant and for prefill and decode.
const FormatOps kBF16 = {
    [](int64_t m, int64_t k) -> size_t { return (size_t)(m * k) * 2; },
    [](const KernelTable& kt, const float* A, int64_t lda, int64_t k, int64_t r0, int64_t r1, void* act) {
      for (int64_t r = r0; r < r1; r++) kt.f32_to_bf16(A + r * lda, static_cast<uint16_t*>(act) + r * k, k);
    },
    [](const KernelTable& kt, const float*, int64_t, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      kt.matmul_bf16_bf16a(static_cast<const uint16_t*>(act), W.cols, W.data.as<uint16_t>(), W.cols, C, ldc, m, j0,
                           j1, W.cols);
    }};

const FormatOps& format_ops(WFormat f) {
  switch (f) {
    case WFormat::F32: return kF32;
    case WFormat::BF16: return kBF16;
  }
  throw std::logic_error("matmul: unknown weight format");
}

}  // namespace

void matmul(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m, const Weight& W,
            float* C, int64_t ldc, MatmulScratch& scratch) {
  if (ldc != W.rows) throw std::logic_error("matmul: ldc must equal the weight's rows");
  const Weight* w = &W;
  matmul_multi(pool, kt, A, lda, m, &w, &C, 1, scratch);
}

void matmul_multi(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m,
                  const Weight* const* W, float* const* C, int count, MatmulScratch& scratch) {
  const FormatOps& ops = format_ops(W[0]->format);
  const int64_t k = W[0]->cols;
  for (int i = 1; i < count; i++)
    if (W[i]->format != W[0]->format || W[i]->cols != k) throw std::logic_error("matmul_multi: mixed weights");
  size_t ab = ops.act_bytes(m, k);
  if (ab) scratch.act.reserve(ab);
  void* act = ab ? scratch.act.data() : nullptr;
  if (ops.prepare && m == 1) {
    ops.prepare(kt, A, lda, k, 0, 1, act);
  } else if (ops.prepare) {
    pool.run([&](int tid, int nth) {
      long r0, r1;
      split_range(m, nth, tid, &r0, &r1);
      ops.prepare(kt, A, lda, k, r0, r1, act);
    });
  }
  // Output columns of all weights, in blocks of 16 (whole register tiles),
  // split evenly over the threads.
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
      int64_t j0 = (lo - first_block[i]) * 16, j1 = std::min<int64_t>((hi - first_block[i]) * 16, n);
      ops.run(kt, A, lda, act, m, *W[i], C[i], n, j0, j1);
    }
  });
}

}  // namespace lowbit
