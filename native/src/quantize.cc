#include "quantize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/kernels.h"

namespace lowbit {

void quantize_row_q8(const float* w, int64_t k, int64_t kp, int8_t* q, float* scale, int32_t* sum, float amax) {
  kernels_ref().quantize_q8(w, k, kp, q, scale, amax > 0 ? amax / 127.0f : 0.0f);
  int32_t t = 0;
  for (int64_t p = 0; p < kp; p++) t += q[p];
  *sum = t;
}

void q4_group_grid(const float* w, int64_t n, bool asym, float* scale, float* off) {
  float mn = 0, mx = 0, amax = 0;
  for (int64_t p = 0; p < n; p++) {
    mn = std::min(mn, w[p]);
    mx = std::max(mx, w[p]);
    amax = std::max(amax, std::fabs(w[p]));
  }
  if (asym) {
    *scale = (mx - mn) / 15.0f;
    *off = mn;
  } else {
    *scale = amax / 7.0f;
    *off = -8.0f * *scale;
  }
  if (*scale == 0 && asym) *off = mn;
}

uint8_t q4_code(float x, float scale, float off, bool asym) {
  const float inv = scale > 0 ? 1.0f / scale : 0.0f;
  float r = asym ? std::nearbyint((x - off) * inv) : std::nearbyint(x * inv) + 8.0f;
  if (scale == 0) r = asym ? 0.0f : 8.0f;
  return (uint8_t)std::min(15.0f, std::max(0.0f, r));
}

void quantize_row_q4(const float* w, int64_t k, int64_t kp, int64_t group, bool asym, uint8_t* q, float* s,
                     float* o) {
  for (int64_t g0 = 0, gi = 0; g0 < kp; g0 += group, gi++)  // real columns of the group: [g0, min(g0 + group, k))
    q4_group_grid(w + g0, std::max<int64_t>(0, std::min(g0 + group, k) - g0), asym, &s[gi], &o[gi]);
  quantize_row_q4_grid(w, k, kp, group, asym, s, o, q);
}

void quantize_row_q4_grid(const float* w, int64_t k, int64_t kp, int64_t group, bool asym, const float* s, const float* o,
                          uint8_t* q) {
  for (int64_t p = 0; p < kp; p++) q[p] = q4_code(p < k ? w[p] : 0.0f, s[p / group], o[p / group], asym);
}

}  // namespace lowbit

namespace lowbit {

int64_t amplifier_bound(const float* s, const int32_t* l1, int64_t rows, int64_t ng, double alpha) {
  // In double, saturating: huge or non-finite scales (hostile weights) give
  // INT64_MAX instead of an out-of-range float -> int conversion.
  double worst = 0;
  for (int64_t j = 0; j < rows; j++) {
    double t = 0;
    for (int64_t g = 0; g < ng; g++) t += std::nearbyint((double)s[j * ng + g] * alpha) * l1[j * ng + g];
    if (!(127 * t < 9.2e18)) return INT64_MAX;
    worst = std::max(worst, 127 * t);
  }
  return (int64_t)worst;
}

double choose_amplifier(const float* s, const int32_t* l1, int64_t rows, int64_t ng, double request, int64_t* bound) {
  const int64_t kMax = 2147483647;
  // Largest safe power of two (bound is monotone in alpha). 2^0 is safe for
  // any real checkpoint; 2^-n would only be needed for absurd scales.
  int n_safe = -30;
  for (int n = 40; n >= -30; n--)
    if (amplifier_bound(s, l1, rows, ng, std::ldexp(1.0, n)) <= kMax) {
      n_safe = n;
      break;
    }
  double alpha = std::ldexp(1.0, n_safe);
  if (request == kAmpHeuristic) {
    float mn = 0;
    for (int64_t i = 0; i < rows * ng; i++)
      if (s[i] > 0 && std::isfinite(s[i]) && (mn == 0 || s[i] < mn)) mn = s[i];  // inf: log2(1 / inf) = -inf
    int n = 0;
    if (mn > 0) n = std::max(0, (int)std::ceil(std::log2(1.0 / mn)));
    while (mn > 0 && n > 0 && std::ldexp((double)mn, n - 1) >= 1.0) n--;  // guard log2 rounding
    while (mn > 0 && std::ldexp((double)mn, n) < 1.0) n++;
    alpha = std::min(alpha, std::ldexp(1.0, n));
  } else if (request > 0) {
    alpha = std::min(alpha, request);
  }
  *bound = amplifier_bound(s, l1, rows, ng, alpha);
  return alpha;
}

}  // namespace lowbit
