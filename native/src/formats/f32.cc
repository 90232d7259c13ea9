#include "formats/f32.h"

#include <cstring>
#include <vector>

#include "kernels/kernels.h"
#include "weights_shard.h"

namespace lowbit {

namespace {
constexpr int64_t kCh = chunk_elems(4);
size_t padded_rows(const Weight& w) { return (size_t)(w.matrix ? pad_to(w.rows, kGroupRows) : w.rows); }
}  // namespace

std::unique_ptr<Weight> f32_create() { return std::make_unique<Weight>(); }

void f32_layout(Weight& w, const WSpec&) { w.kp = w.matrix ? pad_to(w.cols, kCh) : w.cols; }

void f32_fill(Weight& w, const WSpec&, SrcDtype src, const void* data) {
  w.data.reserve(w.bytes());
  std::memset(w.data.data(), 0, w.bytes());  // padding rows/columns are zeros
  float* out = w.data.as<float>();
  if (!w.matrix) {
    src_row_f32(src, data, 0, w.cols, out);
    return;
  }
  std::vector<float> rowf((size_t)w.cols);
  for (int64_t j = 0; j < w.rows; j++) {
    src_row_f32(src, data, j, w.cols, rowf.data());
    pack_matrix(rowf.data(), 1, w.cols, out + (j / 4) * 4 * w.kp + (j % 4) * kCh, w.kp, kCh);
  }
}

size_t f32_bytes(const Weight& w) { return padded_rows(w) * (size_t)w.kp * 4; }

void f32_row(const Weight& w, int64_t r, float* out) {
  if (!w.matrix) {
    std::memcpy(out, w.data.as<float>() + r * w.cols, w.cols * sizeof(float));
    return;
  }
  for (int64_t p = 0; p < w.cols; p++) out[p] = w.data.as<float>()[packed_index(r, p, w.kp, kCh)];
}

std::vector<WeightBuffer> f32_buffers(Weight& w) { return {{"data", "F32", f32_bytes(w), &w.data}}; }

std::unique_ptr<Weight> f32_shard(const Weight& w, const WeightShard& s) {
  std::unique_ptr<Weight> t = shard_layout(w, s);
  shard_packed(w, *t, s, 4);
  return t;
}

namespace {
void pad_rows_f32(const float* A, int64_t lda, int64_t k, int64_t kp, int64_t r0, int64_t r1, float* out) {
  for (int64_t r = r0; r < r1; r++) {
    std::memcpy(out + r * kp, A + r * lda, k * sizeof(float));
    std::memset(out + r * kp + k, 0, (kp - k) * sizeof(float));
  }
}
}  // namespace

// A is read in place unless k needs padding to whole chunks.
const FormatOps kF32Ops = {
    [](const Weight& w, int64_t m) -> size_t { return w.cols == w.kp ? 0 : (size_t)(m * w.kp) * 4; },
    [](const KernelTable&, const Weight& w, const float* A, int64_t lda, int64_t, int64_t r0, int64_t r1, void* act) {
      pad_rows_f32(A, lda, w.cols, w.kp, r0, r1, static_cast<float*>(act));
    },
    [](const KernelTable& kt, const float* A, int64_t lda, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      if (act) kt.matmul_f32(static_cast<const float*>(act), W.kp, W.data.as<float>(), C, ldc, m, j0, j1, W.kp);
      else kt.matmul_f32(A, lda, W.data.as<float>(), C, ldc, m, j0, j1, W.kp);
    }};

}  // namespace lowbit
