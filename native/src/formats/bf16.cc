#include "formats/bf16.h"

#include <cstring>
#include <vector>

#include "kernels/kernels.h"
#include "weights_shard.h"

namespace lowbit {

namespace {
constexpr int64_t kCh = chunk_elems(2);
}  // namespace

void bf16_layout(Weight& w, const WSpec&) { w.kp = pad_to(w.cols, kCh); }

void bf16_fill(Weight& w, const WSpec&, SrcDtype src, const void* data) {
  w.data.reserve(w.bytes());
  std::memset(w.data.data(), 0, w.bytes());  // padding rows/columns are zeros
  std::vector<float> rowf((size_t)w.cols);
  std::vector<uint16_t> rowh((size_t)w.cols);
  for (int64_t j = 0; j < w.rows; j++) {
    if (src == SrcDtype::BF16) {  // keep the checkpoint's bits
      std::memcpy(rowh.data(), static_cast<const char*>(data) + (size_t)j * w.cols * 2, (size_t)w.cols * 2);
    } else {
      src_row_f32(src, data, j, w.cols, rowf.data());
      for (int64_t p = 0; p < w.cols; p++) rowh[p] = f32_to_bf16_scalar(rowf[p]);
    }
    pack_matrix(rowh.data(), 1, w.cols, w.data.as<uint16_t>() + (j / 4) * 4 * w.kp + (j % 4) * kCh, w.kp, kCh);
  }
}

size_t bf16_bytes(const Weight& w) { return (size_t)pad_to(w.rows, kGroupRows) * (size_t)w.kp * 2; }

void bf16_row(const Weight& w, int64_t r, float* out) {
  for (int64_t p = 0; p < w.cols; p++) out[p] = bf16_to_f32_scalar(w.data.as<uint16_t>()[packed_index(r, p, w.kp, kCh)]);
}

std::vector<WeightBuffer> bf16_buffers(Weight& w) { return {{"data", "BF16", bf16_bytes(w), &w.data}}; }

std::unique_ptr<Weight> bf16_shard(const Weight& w, const WeightShard& s) {
  std::unique_ptr<Weight> t = shard_layout(w, s);
  shard_packed(w, *t, s, 2);
  return t;
}

const FormatOps kBF16Ops = {
    [](const Weight& w, int64_t m) -> size_t { return (size_t)(m * w.kp) * 2; },
    [](const KernelTable& kt, const Weight& w, const float* A, int64_t lda, int64_t, int64_t r0, int64_t r1, void* act) {
      uint16_t* out = static_cast<uint16_t*>(act);
      for (int64_t r = r0; r < r1; r++) {
        kt.f32_to_bf16(A + r * lda, out + r * w.kp, w.cols);
        std::memset(out + r * w.kp + w.cols, 0, (w.kp - w.cols) * sizeof(uint16_t));
      }
    },
    [](const KernelTable& kt, const float*, int64_t, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      kt.matmul_bf16_bf16a(static_cast<const uint16_t*>(act), W.kp, W.data.as<uint16_t>(), C, ldc, m, j0, j1, W.kp);
    }};

}  // namespace lowbit
