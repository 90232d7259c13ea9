#include "quantize.h"

#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"

namespace lowbit {

void quantize_row_q8(const float* w, int64_t k, int64_t kp, int8_t* q, float* scale, int32_t* sum) {
  kernels_ref().quantize_q8(w, k, kp, q, scale, 0.0f);
  int32_t t = 0;
  for (int64_t p = 0; p < kp; p++) t += q[p];
  *sum = t;
}

void quantize_row_q4(const float* w, int64_t k, int64_t kp, int64_t group, bool asym, uint8_t* q, float* s,
                     float* o) {
  for (int64_t g0 = 0, gi = 0; g0 < kp; g0 += group, gi++) {
    const int64_t end = std::min(g0 + group, k);  // real columns of this group
    float mn = 0, mx = 0, amax = 0;
    for (int64_t p = g0; p < end; p++) {
      mn = std::min(mn, w[p]);
      mx = std::max(mx, w[p]);
      amax = std::max(amax, std::fabs(w[p]));
    }
    float scale, off;
    if (asym) {
      scale = (mx - mn) / 15.0f;
      off = mn;
    } else {
      scale = amax / 7.0f;
      off = -8.0f * scale;
    }
    const float inv = scale > 0 ? 1.0f / scale : 0.0f;
    for (int64_t p = g0; p < g0 + group; p++) {
      const float x = p < end ? w[p] : 0.0f;
      float r = asym ? std::nearbyint((x - off) * inv) : std::nearbyint(x * inv) + 8.0f;
      if (scale == 0) r = asym ? 0.0f : 8.0f;
      q[p] = (uint8_t)std::min(15.0f, std::max(0.0f, r));
    }
    s[gi] = scale;
    o[gi] = scale == 0 && asym ? mn : off;
  }
}

}  // namespace lowbit
