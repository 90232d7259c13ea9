// The K-quant quantizers' searches (kquant_quantize.h). Compiled with
// -ffp-contract=off: every product and sum is rounded to f32 where ggml's C
// rounds it.
#include "formats/kquant_quantize.h"

#include <algorithm>
#include <cmath>

#include "formats/q4_k.h"
#include "kernels/ggml.h"
#include "kernels/kernels.h"

namespace lowbit {

float kq_make_qkx2(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min, uint8_t* laux,
                   float rmin, float rdelta, int nstep) {
  float lo = x[0], hi = x[0], sum_w = w[0], sum_x = sum_w * x[0];
  for (int i = 1; i < n; i++) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (lo > 0) lo = 0;
  if (hi == lo) {
    std::fill(L, L + n, 0);
    *neg_min = -lo;
    return 0.0f;
  }
  float iscale = (float)nmax / (hi - lo);
  float scale = 1.0f / iscale;
  float best = 0.0f;
  for (int i = 0; i < n; i++) {
    L[i] = (uint8_t)std::clamp(kq_nearest_int(iscale * (x[i] - lo)), 0, nmax);
    const float diff = scale * (float)L[i] + lo - x[i];
    const float d2 = diff * diff;
    best += w[i] * d2;
  }
  for (int is = 0; is <= nstep; is++) {
    iscale = (rmin + rdelta * (float)is + (float)nmax) / (hi - lo);
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int i = 0; i < n; i++) {
      const int l = std::clamp(kq_nearest_int(iscale * (x[i] - lo)), 0, nmax);
      laux[i] = (uint8_t)l;
      const float wl = w[i] * (float)l;
      sum_l += wl;
      sum_l2 += wl * (float)l;
      sum_xl += wl * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0.0f;
        this_scale = sum_xl / sum_l2;
      }
      float cur = 0.0f;
      for (int i = 0; i < n; i++) {
        const float diff = this_scale * (float)laux[i] + this_min - x[i];
        const float d2 = diff * diff;
        cur += w[i] * d2;
      }
      if (cur < best) {
        std::copy(laux, laux + n, L);
        best = cur;
        scale = this_scale;
        lo = this_min;
      }
    }
  }
  *neg_min = -lo;
  return scale;
}

namespace {
// codes of x for one trial iscale, with the sums of the rmse_type 1 fit
void qx_codes(int n, int nmax, const float* x, float iscale, float* sumlx, float* suml2, int8_t* L) {
  float slx = 0.0f, sl2 = 0.0f;
  for (int i = 0; i < n; i++) {
    const int l = std::clamp(kq_nearest_int(iscale * x[i]), -nmax, nmax - 1);
    if (L) L[i] = (int8_t)(l + nmax);
    const float w = x[i] * x[i];
    slx += w * x[i] * (float)l;
    sl2 += w * (float)l * (float)l;
  }
  *sumlx = slx;
  *suml2 = sl2;
}
}  // namespace

float kq_make_qx(int n, int nmax, const float* x, int8_t* L) {
  float max = 0.0f, amax = 0.0f;
  for (int i = 0; i < n; i++) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < 1e-15f) {  // GROUP_MAX_EPS
    std::fill(L, L + n, 0);
    return 0.0f;
  }
  float sumlx, suml2;
  qx_codes(n, nmax, x, (float)-nmax / max, &sumlx, &suml2, L);
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; is++) {
    if (is == 0) continue;
    const float iscale = -((float)nmax + 0.1f * (float)is) / max;
    qx_codes(n, nmax, x, iscale, &sumlx, &suml2, nullptr);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      qx_codes(n, nmax, x, iscale, &sumlx, &suml2, L);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

void kq_quantize_scaled_mins(const float* x, int nmax, float rmin, int nstep, uint8_t scales[12], uint16_t* d,
                             uint16_t* dmin, uint8_t L[256]) {
  float sc[8], mn[8], w[32];
  uint8_t laux[32];
  float max_scale = 0.0f, max_min = 0.0f;
  for (int j = 0; j < 8; j++) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0.0f;
    for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32.0f);
    for (int l = 0; l < 32; l++) w[l] = av_x + std::fabs(xs[l]);
    sc[j] = kq_make_qkx2(32, nmax, xs, w, L + 32 * j, &mn[j], laux, rmin, 0.1f, nstep);
    if (sc[j] > max_scale) max_scale = sc[j];
    if (mn[j] > max_min) max_min = mn[j];
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  std::memset(scales, 0, 12);
  for (int j = 0; j < 8; j++) {
    const uint8_t ls = std::min<uint8_t>(63, (uint8_t)kq_nearest_int(inv_scale * sc[j]));
    const uint8_t lm = std::min<uint8_t>(63, (uint8_t)kq_nearest_int(inv_min * mn[j]));
    if (j < 4) {
      scales[j] = ls;
      scales[j + 4] = lm;
    } else {
      scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
      scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
      scales[j] |= (uint8_t)((lm >> 4) << 6);
    }
  }
  *d = f32_to_f16_scalar(max_scale / 63.0f);
  *dmin = f32_to_f16_scalar(max_min / 63.0f);
  uint8_t s6[8], m6[8];
  q4_k_scales(scales, s6, m6);
  for (int j = 0; j < 8; j++) {
    const float dj = f16_to_f32_scalar(*d) * (float)s6[j];
    if (dj == 0.0f) continue;  // the search's codes stay
    const float dm = f16_to_f32_scalar(*dmin) * (float)m6[j];
    for (int i = 0; i < 32; i++) L[32 * j + i] = (uint8_t)std::clamp(kq_nearest_int((x[32 * j + i] + dm) / dj), 0, nmax);
  }
}

}  // namespace lowbit
