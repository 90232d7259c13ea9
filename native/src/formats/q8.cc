#include "formats/q8.h"

#include <cstring>
#include <vector>

#include "kernels/kernels.h"
#include "weights_io.h"
#include "weights_shard.h"

namespace lowbit {

namespace {
constexpr int64_t kCh = chunk_elems(1);
Q8Weight& q8(Weight& w) { return static_cast<Q8Weight&>(w); }
}  // namespace

std::unique_ptr<Weight> q8_create() { return std::make_unique<Q8Weight>(); }

void q8_layout(Weight& w, const WSpec& s) {
  w.kp = pad_to(w.cols, kCh);
  // w8a8 kernels sum (a + 128) * w in int32: |sum| <= 255 * 127 * kp needs kp <= 65536
  if (w.kp > 65536) throw std::invalid_argument(w.name + ": q8 needs cols <= 65536 (int32 sums)");
  q8(w).act_scale = s.act_scale;
}

void q8_fill(Weight& w, const WSpec& s, SrcDtype src, const void* data) {
  Q8Weight& q = q8(w);
  const size_t prow = (size_t)pad_to(w.rows, kGroupRows);
  w.data.reserve(prow * w.kp);
  std::memset(w.data.data(), 0, prow * w.kp);  // padding rows/columns are zeros
  q.scales.reserve(w.rows * 4);
  q.wsum.reserve(w.rows * 4);
  std::vector<float> rowf((size_t)w.cols);
  std::vector<int8_t> rowq((size_t)w.kp);
  for (int64_t j = 0; j < w.rows; j++) {
    src_row_f32(src, data, j, w.cols, rowf.data());
    quantize_row_q8(rowf.data(), w.cols, w.kp, rowq.data(), q.scales.as<float>() + j, q.wsum.as<int32_t>() + j,
                    s.row_amax ? s.row_amax[j] : 0.0f);
    pack_matrix(rowq.data(), 1, w.kp, w.data.as<int8_t>() + (j / 4) * 4 * w.kp + (j % 4) * kCh, w.kp, kCh);
  }
}

size_t q8_bytes(const Weight& w) { return (size_t)pad_to(w.rows, kGroupRows) * w.kp + (size_t)w.rows * 8; }

std::vector<WeightBuffer> q8_buffers(Weight& w) {
  const size_t prow = (size_t)pad_to(w.rows, kGroupRows), rows = (size_t)w.rows;
  return {{"data", "I8", prow * w.kp, &w.data}, {"scales", "F32", rows * 4, &q8(w).scales}, {"wsum", "I32", rows * 4, &q8(w).wsum}};
}

void q8_meta(const Weight& w, WeightMeta& m) { m.act_scale = as_q8(w).act_scale; }

namespace {
// the sum of row j's codes (padding included: zeros), and whether it holds the code -128
int64_t row_code_sum(const Weight& w, int64_t j, bool& has_min) {
  int64_t t = 0;
  for (int64_t p = 0; p < w.kp; p++) {
    const int8_t c = w.data.as<int8_t>()[packed_index(j, p, w.kp, kCh)];
    has_min |= c == -128;
    t += c;
  }
  return t;
}
}  // namespace

// q8 from a file: codes in the quantizer's [-127, 127] and wsum[j] the sum of
// row j's codes, which the VNNI kernels subtract (128 * wsum) from their u8 x s8
// dot products; a corrupt wsum overflows int32 there (found by fuzzing).
void q8_check_import(Weight& w) {
  const Q8Weight& q = as_q8(w);
  for (int64_t j = 0; j < w.rows; j++) {
    bool has_min = false;
    const int64_t t = row_code_sum(w, j, has_min);
    if (has_min) throw std::invalid_argument(w.name + ": q8 code -128 at row " + std::to_string(j) + " (codes are in [-127, 127])");
    if (t != q.wsum.as<int32_t>()[j])
      throw std::invalid_argument(w.name + ".wsum[" + std::to_string(j) + "] = " + std::to_string(q.wsum.as<int32_t>()[j]) +
                                  " is not the sum of the row's codes (" + std::to_string(t) + ")");
  }
}

bool q8_same_act(const Weight& a, const Weight& b) { return as_q8(a).act_scale == as_q8(b).act_scale; }

// rows: theirs; columns (row-parallel): each row's codes there with the whole row's scale (the
// ranks' int32 dot products add up to the whole row's, scaled once: matmul_row_parallel), the
// sums of the shard's codes
std::unique_ptr<Weight> q8_shard(const Weight& w, const WeightShard& s) {
  std::unique_ptr<Weight> t = shard_layout(w, s);
  shard_packed(w, *t, s, 1);
  Q8Weight& q = q8(*t);
  for (int64_t j = 0; j < t->rows; j++) {
    q.scales.as<float>()[j] = as_q8(w).scales.as<float>()[shard_row(s, j)];
    bool has_min = false;  // (shard_weight's check_import refuses -128)
    q.wsum.as<int32_t>()[j] = (int32_t)row_code_sum(*t, j, has_min);
  }
  return t;
}

int64_t q8_scales_at(const Weight& w, int64_t m) { return pad_to(m * w.kp, 64); }

void q8_prepare_rows(const KernelTable& kt, const Weight& w, float act_scale, const float* A, int64_t lda, int64_t m,
                     int64_t r0, int64_t r1, void* act) {
  int8_t* q = static_cast<int8_t*>(act);
  float* sa = reinterpret_cast<float*>(q + q8_scales_at(w, m));
  for (int64_t r = r0; r < r1; r++) kt.quantize_q8(A + r * lda, w.cols, w.kp, q + r * w.kp, sa + r, act_scale);
}

const FormatOps kQ8Ops = {
    [](const Weight& w, int64_t m) -> size_t { return (size_t)q8_scales_at(w, m) + (size_t)m * 4; },
    [](const KernelTable& kt, const Weight& w, const float* A, int64_t lda, int64_t m, int64_t r0, int64_t r1,
       void* act) {
      // static scale (w8a8-sq-static) when calibrated, else per token
      q8_prepare_rows(kt, w, as_q8(w).act_scale, A, lda, m, r0, r1, act);
    },
    [](const KernelTable& kt, const float*, int64_t, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      const Q8Weight& q = as_q8(W);
      const int8_t* a = static_cast<const int8_t*>(act);
      const float* sa = reinterpret_cast<const float*>(a + q8_scales_at(W, m));
      kt.matmul_q8(a, W.kp, sa, W.data.as<int8_t>(), q.scales.as<float>(), q.wsum.as<int32_t>(), C, ldc, m, j0, j1, W.kp,
                   nullptr);
    },
    [](const KernelTable& kt, const void* act, int64_t m, const Weight& W, int32_t* D, int64_t ldd, int64_t j0,
       int64_t j1) {
      const Q8Weight& q = as_q8(W);
      const int8_t* a = static_cast<const int8_t*>(act);
      const float* sa = reinterpret_cast<const float*>(a + q8_scales_at(W, m));  // not read: the scales come after the sum
      kt.matmul_q8(a, W.kp, sa, W.data.as<int8_t>(), q.scales.as<float>(), q.wsum.as<int32_t>(), nullptr, ldd, m, j0, j1,
                   W.kp, D);
    },
    [](const void* act, int64_t m, const Weight& W, const int32_t* D, float* C, int64_t ldc, int64_t j0, int64_t j1) {
      // the kernels' own expression and order: sa * sw * (float)d
      const float* sa = reinterpret_cast<const float*>(static_cast<const int8_t*>(act) + q8_scales_at(W, m));
      const float* sw = as_q8(W).scales.as<float>();
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = j0; j < j1; j++) C[i * ldc + j] = sa[i] * sw[j] * (float)D[i * ldc + j];
    }};

}  // namespace lowbit
