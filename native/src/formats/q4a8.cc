#include "formats/q4a8.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "formats/q8.h"
#include "weights_io.h"

namespace lowbit {

namespace {
Q4A8Weight& q4a8(Weight& w) { return static_cast<Q4A8Weight&>(w); }

// Per (row, group) results of the row quantization, kept until the amplifier
// is known: scales, sums of |q - 8|, and sums of (q-8)^2, w (q-8), w^2 for the
// squared weight error.
struct Rows {
  std::vector<float> s, o;
  std::vector<int32_t> l1;
  std::vector<double> qq, wq, ww;
  explicit Rows(int64_t n) : s(n, 0.0f), o(n, 0.0f), l1(n, 0), qq(n, 0.0), wq(n, 0.0), ww(n, 0.0) {}
};

// Moves the scales into the row-group layout: float scales, or integer
// scales round(s * alpha) with the amplifier chosen for this matrix.
void finish(Q4A8Weight& w, const WSpec& target, const Rows& r) {
  const int64_t ng = w.ngroups(), prow = pad_to(w.rows, kGroupRows);
  const std::vector<float>& s = r.s;
  // squared error of a group dequantized with scale c: c^2 sum q^2 - 2 c sum w q + sum w^2
  auto sse = [&](size_t i, double c) { return std::max(0.0, c * c * r.qq[i] - 2 * c * r.wq[i] + r.ww[i]); };
  w.sse_float = 0;
  for (size_t i = 0; i < s.size(); i++) w.sse_float += sse(i, s[i]);
  if (!target.iscale) {
    w.scales.reserve(prow * ng * 4);
    std::memset(w.scales.data(), 0, prow * ng * 4);
    for (int64_t j = 0; j < w.rows; j++)
      for (int64_t g = 0; g < ng; g++) w.scales.as<float>()[q4a8_scale_index(j, g, ng)] = s[j * ng + g];
    return;
  }
  w.amplifier = choose_amplifier(s.data(), r.l1.data(), w.rows, ng, target.amp, &w.is_bound);
  if (w.is_bound > 2147483647)  // scales too large (or infinite) for any amplifier in [2^-30, 2^40]
    throw std::invalid_argument(w.name + ": w4a8 integer scales cannot hold these weights (group scales too large or " +
                                "not finite for int32 sums); use float scales (" + (w.group == 32 ? "q4a8-g32" : "q4a8-g128") + ")");
  w.iscales.reserve(prow * ng * 4);
  std::memset(w.iscales.data(), 0, prow * ng * 4);
  w.sse_int = 0;
  for (int64_t j = 0; j < w.rows; j++)
    for (int64_t g = 0; g < ng; g++) {
      const int32_t si = (int32_t)std::nearbyint(s[j * ng + g] * w.amplifier);
      w.iscales.as<int32_t>()[q4a8_scale_index(j, g, ng)] = si;
      w.sse_int += sse(j * ng + g, si / w.amplifier);
    }
}

// max over rows of 127 * sum_p |si[j, g(p)]| * |q[j, p] - 8| (the bound of quantize.h)
int64_t worst_case(const Q4A8Weight& w) {
  const int64_t ng = w.ngroups();
  int64_t worst = 0;
  for (int64_t j = 0; j < w.rows; j++) {
    int64_t t = 0;
    for (int64_t p = 0; p < w.kp; p++) {
      const int q = q4_code_at(w.data.as<uint8_t>(), j, p, w.kp);
      t += std::llabs((int64_t)w.iscales.as<int32_t>()[q4a8_scale_index(j, p / w.group, ng)]) * std::abs(q - 8);
    }
    worst = std::max(worst, 127 * t);
  }
  return worst;
}
}  // namespace

std::unique_ptr<Weight> q4a8_create() { return std::make_unique<Q4A8Weight>(); }

// the user-facing groups 32 and 128; amplifiers: heuristic, max or a power of two
const char* q4a8_check_spec(const WSpec& s) {
  if (s.group != 32 && s.group != 128) return "q4a8 format: group must be 32 or 128";
  if (s.asym) return "q4a8 format: groups are symmetric (no asym)";
  if (s.iscale && s.amp != kAmpHeuristic && s.amp != kAmpMax) {
    int e = 0;
    if (!(s.amp >= 1) || !std::isfinite(s.amp) || std::frexp(s.amp, &e) != 0.5 || s.amp > 1e12)
      return "q4a8 format: amplifier must be \"heuristic\", \"max\" or a power of two >= 1";
  }
  return nullptr;
}

void q4a8_layout(Weight& w, const WSpec& s) {
  if (s.group < 32 || s.group > 128 || s.asym)
    throw std::invalid_argument(w.name + ": w4a8 needs symmetric groups of 32..128");  // int16 sums in the kernels
  int4_layout(q4a8(w), s.group);
  q4a8(w).amplifier = s.iscale && s.amp > 0 ? s.amp : 0;  // a fixed request (fill may lower it); a saved weight's own
}

void q4a8_fill(Weight& w, const WSpec& s, SrcDtype src, const void* data) {
  Q4A8Weight& q = q4a8(w);
  const int64_t ng = q.ngroups();
  w.data.reserve(int4_code_bytes(w));
  std::memset(w.data.data(), 0, int4_code_bytes(w));  // padding rows are zeros
  int4_check_grid(w, s, ng);
  Rows r(w.rows * ng);  // row-major float scales and per-group sums until the amplifier is known
  std::vector<float> rowf((size_t)w.cols);
  std::vector<uint8_t> rown((size_t)w.kp);
  for (int64_t j = 0; j < w.rows; j++) {
    src_row_f32(src, data, j, w.cols, rowf.data());
    if (s.grid) {
      std::copy(s.grid->s + j * ng, s.grid->s + (j + 1) * ng, &r.s[j * ng]);
      std::copy(s.grid->o + j * ng, s.grid->o + (j + 1) * ng, &r.o[j * ng]);
      quantize_row_q4_grid(rowf.data(), w.cols, w.kp, q.group, false, &r.s[j * ng], &r.o[j * ng], rown.data());
    } else {
      quantize_row_q4(rowf.data(), w.cols, w.kp, q.group, false, rown.data(), &r.s[j * ng], &r.o[j * ng]);
    }
    for (int64_t p = 0; p < w.kp; p++) {
      const int64_t gi = j * ng + p / q.group;
      const double c = (int)rown[p] - 8, x = p < w.cols ? rowf[p] : 0.0;
      r.l1[gi] += (int32_t)std::fabs(c);
      r.qq[gi] += c * c;
      r.wq[gi] += x * c;
      r.ww[gi] += x * x;
    }
    int4_pack_row(rown.data(), j, w.kp, w.data.as<uint8_t>());
  }
  finish(q, s, r);
}

size_t q4a8_bytes(const Weight& w) {
  return int4_code_bytes(w) + (size_t)pad_to(w.rows, kGroupRows) * as_q4a8(w).ngroups() * 4;
}

// scales in the row-group layout (padded rows): float, or int32 with an amplifier
std::vector<WeightBuffer> q4a8_buffers(Weight& w) {
  Q4A8Weight& q = q4a8(w);
  const size_t n = (size_t)pad_to(w.rows, kGroupRows) * q.ngroups() * 4;
  if (q.amplifier > 0) return {{"data", "U8", int4_code_bytes(w), &w.data}, {"iscales", "I32", n, &q.iscales}};
  return {{"data", "U8", int4_code_bytes(w), &w.data}, {"scales", "F32", n, &q.scales}};
}

void q4a8_meta_spec(const WeightMeta& m, WSpec& s) {
  if (m.group < 32 || m.group > 128 || m.group % 32 || m.asym)
    throw std::invalid_argument("w4a8 group " + std::to_string(m.group) + " must be 32, 64, 96 or 128, symmetric");
  s.group = m.group;
  int e = 0;
  if (m.amplifier != 0 && (!std::isfinite(m.amplifier) || std::frexp(m.amplifier, &e) != 0.5 || e < -29 || e > 41))
    throw std::invalid_argument("amplifier must be 0 or a power of two in [2^-30, 2^40]");
  s.iscale = m.amplifier > 0;
  s.amp = m.amplifier;
}

void q4a8_meta(const Weight& w, WeightMeta& m) {
  m.group = as_q4a8(w).group;
  m.amplifier = as_q4a8(w).amplifier;
}

// Integer scales from a file: recheck the int32 bound the kernels rely on.
void q4a8_check_import(Weight& w) {
  Q4A8Weight& q = q4a8(w);
  if (q.amplifier <= 0) return;
  q.is_bound = worst_case(q);
  if (q.is_bound > 2147483647)
    throw std::invalid_argument(w.name + ": integer scales could overflow int32 (worst case " + std::to_string(q.is_bound) + ")");
}

bool q4a8_same_act(const Weight& a, const Weight& b) { return as_q4a8(a).group == as_q4a8(b).group; }

// rows, or whole groups of columns: their codes and float or integer scales (the amplifier kept;
// the int32 bound checked again for the shard: shard_weight's check_import)
std::unique_ptr<Weight> q4a8_shard(const Weight& w, const WeightShard& s) {
  const Q4A8Weight& a = as_q4a8(w);
  const AlignedBuf& from = a.amplifier > 0 ? a.iscales : a.scales;
  return int4_shard(w, s, [&](Weight& t, int64_t j, int64_t g, int64_t fj, int64_t fg) {
    AlignedBuf& to = a.amplifier > 0 ? q4a8(t).iscales : q4a8(t).scales;  // float or int32: 4 bytes each
    to.as<uint32_t>()[q4a8_scale_index(j, g, as_q4a8(t).ngroups())] = from.as<uint32_t>()[q4a8_scale_index(fj, fg, a.ngroups())];
  });
}

namespace {
int64_t isum_at(const Weight& w, int64_t m) { return q8_scales_at(w, m) + pad_to(m * 4, 64); }
}  // namespace

const FormatOps kQ4A8Ops = {
    [](const Weight& w, int64_t m) -> size_t { return (size_t)(isum_at(w, m) + m * as_q4a8(w).ngroups() * 4); },
    [](const KernelTable& kt, const Weight& w, const float* A, int64_t lda, int64_t m, int64_t r0, int64_t r1,
       void* act) {
      q8_prepare_rows(kt, w, 0.0f, A, lda, m, r0, r1, act);  // int8 rows and scales exactly as w8a8 (per token)
      const Q4A8Weight& q = as_q4a8(w);
      const int8_t* a = static_cast<const int8_t*>(act);
      int32_t* isum = reinterpret_cast<int32_t*>(static_cast<int8_t*>(act) + isum_at(w, m));
      const int64_t ng = q.ngroups();
      for (int64_t r = r0; r < r1; r++)
        for (int64_t g = 0; g < ng; g++) {
          int32_t t = 0;
          for (int64_t p = g * q.group; p < (g + 1) * q.group; p++) t += a[r * w.kp + p];
          isum[r * ng + g] = t;
        }
    },
    [](const KernelTable& kt, const float*, int64_t, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      const Q4A8Weight& q = as_q4a8(W);
      const int8_t* a = static_cast<const int8_t*>(act);
      const float* sa = reinterpret_cast<const float*>(a + q8_scales_at(W, m));
      const int32_t* isum = reinterpret_cast<const int32_t*>(a + isum_at(W, m));
      if (q.amplifier > 0)
        kt.matmul_q4a8_is(a, W.kp, sa, isum, W.data.as<uint8_t>(), q.iscales.as<int32_t>(), (float)(1.0 / q.amplifier),
                          C, ldc, m, j0, j1, W.kp, q.group);
      else
        kt.matmul_q4a8(a, W.kp, sa, isum, W.data.as<uint8_t>(), q.scales.as<float>(), C, ldc, m, j0, j1, W.kp, q.group);
    }};

}  // namespace lowbit
