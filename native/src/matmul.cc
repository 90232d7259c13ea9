#include "matmul.h"

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
  const FormatOps& ops = format_ops(W.format);
  const int64_t k = W.cols, n = W.rows;
  size_t ab = ops.act_bytes(m, k);
  if (ab) scratch.act.reserve(ab);
  void* act = ab ? scratch.act.data() : nullptr;
  // Output columns are split in blocks of 16 so threads own whole register tiles.
  const int64_t nblocks = (n + 15) / 16;
  if (ops.prepare && m == 1) {
    ops.prepare(kt, A, lda, k, 0, 1, act);
  } else if (ops.prepare) {
    pool.run([&](int tid, int nth) {
      long r0, r1;
      split_range(m, nth, tid, &r0, &r1);
      ops.prepare(kt, A, lda, k, r0, r1, act);
    });
  }
  pool.run([&](int tid, int nth) {
    long b0, b1;
    split_range(nblocks, nth, tid, &b0, &b1);
    int64_t j0 = b0 * 16, j1 = b1 * 16 < n ? b1 * 16 : n;
    if (j0 < j1) ops.run(kt, A, lda, act, m, W, C, ldc, j0, j1);
  });
}

}  // namespace lowbit
