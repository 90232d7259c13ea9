#include "formats/q4.h"

#include <vector>

#include "weights_io.h"

namespace lowbit {

namespace {
Q4Weight& q4(Weight& w) { return static_cast<Q4Weight&>(w); }
}  // namespace

std::unique_ptr<Weight> q4_create() { return std::make_unique<Q4Weight>(); }

// the user-facing groups: 32, 128 or per channel
const char* q4_check_spec(const WSpec& s) {
  if (s.group != 0 && s.group != 32 && s.group != 128) return "q4 format: group must be 0 (per channel), 32 or 128";
  if (s.iscale) return "q4 format: no amplifier (integer scales are q4a8's)";
  return nullptr;
}

void q4_layout(Weight& w, const WSpec& s) {
  int4_layout(q4(w), s.group);
  q4(w).asym = s.asym;
}

void q4_fill(Weight& w, const WSpec& s, SrcDtype src, const void* data) {
  Q4Weight& q = q4(w);
  const int64_t ng = q.ngroups();
  int4_check_grid(w, s, ng);
  w.data.reserve(int4_code_bytes(w));
  std::memset(w.data.data(), 0, int4_code_bytes(w));  // padding rows are zeros
  q.scales.reserve(w.rows * ng * 4);
  q.offsets.reserve(w.rows * ng * 4);
  std::vector<float> rowf((size_t)w.cols);
  std::vector<uint8_t> rown((size_t)w.kp);
  for (int64_t j = 0; j < w.rows; j++) {
    src_row_f32(src, data, j, w.cols, rowf.data());
    float* sc = q.scales.as<float>() + j * ng;
    float* of = q.offsets.as<float>() + j * ng;
    if (s.grid) {
      std::copy(s.grid->s + j * ng, s.grid->s + (j + 1) * ng, sc);
      std::copy(s.grid->o + j * ng, s.grid->o + (j + 1) * ng, of);
      quantize_row_q4_grid(rowf.data(), w.cols, w.kp, q.group, q.asym, sc, of, rown.data());
    } else {
      quantize_row_q4(rowf.data(), w.cols, w.kp, q.group, q.asym, rown.data(), sc, of);
    }
    int4_pack_row(rown.data(), j, w.kp, w.data.as<uint8_t>());
  }
}

size_t q4_bytes(const Weight& w) { return int4_code_bytes(w) + (size_t)w.rows * as_q4(w).ngroups() * 8; }

std::vector<WeightBuffer> q4_buffers(Weight& w) {
  const size_t n = (size_t)w.rows * as_q4(w).ngroups() * 4;
  return {{"data", "U8", int4_code_bytes(w), &w.data}, {"scales", "F32", n, &q4(w).scales}, {"offsets", "F32", n, &q4(w).offsets}};
}

void q4_meta_spec(const WeightMeta& m, WSpec& s) {
  if (m.group < 32 || m.group > kMaxSavedCols || m.group % 32)
    throw std::invalid_argument("int4 group " + std::to_string(m.group) + " is not a multiple of 32 in [32, " +
                                std::to_string(kMaxSavedCols) + "]");
  if (m.amplifier != 0) throw std::invalid_argument("amplifier is only valid for q4a8 weights");
  s.group = m.group;
  s.asym = m.asym;
}

void q4_meta(const Weight& w, WeightMeta& m) {
  m.group = as_q4(w).group;
  m.asym = as_q4(w).asym;
}

bool q4_same_act(const Weight& a, const Weight& b) { return as_q4(a).group == as_q4(b).group; }

// rows, or whole groups of columns: their codes, scales and offsets ([rows][ng] each)
std::unique_ptr<Weight> q4_shard(const Weight& w, const WeightShard& s) {
  const Q4Weight& a = as_q4(w);
  return int4_shard(w, s, [&](Weight& t, int64_t j, int64_t g, int64_t from, int64_t fg) {
    const int64_t at = j * as_q4(t).ngroups() + g, of = from * a.ngroups() + fg;
    q4(t).scales.as<float>()[at] = a.scales.as<float>()[of];
    q4(t).offsets.as<float>()[at] = a.offsets.as<float>()[of];
  });
}

namespace {
int64_t sx_at(const Weight& w, int64_t m) { return pad_to(m * w.kp * 2, 64); }
}  // namespace

const FormatOps kQ4Ops = {
    [](const Weight& w, int64_t m) -> size_t { return (size_t)sx_at(w, m) + (size_t)(2 * m * as_q4(w).ngroups()) * 4; },
    [](const KernelTable& kt, const Weight& w, const float* A, int64_t lda, int64_t m, int64_t r0, int64_t r1,
       void* act) {
      const Q4Weight& q = as_q4(w);
      int16_t* a = static_cast<int16_t*>(act);
      float* sx = reinterpret_cast<float*>(static_cast<char*>(act) + sx_at(w, m));
      const int64_t ng = q.ngroups();
      float* asum = sx + m * ng;
      for (int64_t r = r0; r < r1; r++)
        kt.quantize_a16(A + r * lda, w.cols, w.kp, q.group, a + r * w.kp, sx + r * ng, asum + r * ng);
    },
    [](const KernelTable& kt, const float*, int64_t, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      const Q4Weight& q = as_q4(W);
      const int16_t* a = static_cast<const int16_t*>(act);
      const float* sx = reinterpret_cast<const float*>(static_cast<const char*>(act) + sx_at(W, m));
      kt.matmul_q4(a, W.kp, sx, sx + m * q.ngroups(), W.data.as<uint8_t>(), q.scales.as<float>(), q.offsets.as<float>(),
                   C, ldc, m, j0, j1, W.kp, q.group);
    }};

}  // namespace lowbit
