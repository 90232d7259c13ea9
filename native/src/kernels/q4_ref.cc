// Scalar reference of the int4 weight-only matmul and of its activation
// quantizer (semantics in kernels.h: w4a16). It is the definition the SIMD
// variants are tested against.
#include <algorithm>
#include <cmath>

#include "kernels.h"

namespace lowbit {

void matmul_q4_ref(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W,
                   const float* s, const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                   int64_t kp, int64_t group) {
  const int64_t ng = kp / group;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = j0; j < j1; j++) {
      float acc = 0;
      for (int64_t g = 0; g < ng; g++) {
        int64_t d = 0;  // exact
        for (int64_t p = g * group; p < (g + 1) * group; p++) d += (int64_t)q4_code_at(W, j, p, kp) * A[i * lda + p];
        acc += (s[j * ng + g] * sx[i * ng + g]) * (float)d + o[j * ng + g] * asum[i * ng + g];
      }
      C[i * ldc + j] = acc;
    }
}

void quantize_a16_ref(const float* x, int64_t k, int64_t kp, int64_t group, int16_t* q, float* sx, float* asum) {
  for (int64_t g = 0; g < kp / group; g++) {
    const int64_t p0 = g * group, p1 = std::min(k, p0 + group);
    float amax = 0;
    for (int64_t p = p0; p < p1; p++) amax = std::fmax(amax, std::fabs(x[p]));
    float scale = amax / (float)kA16Max, inv = scale > 0 ? 1.0f / scale : 0.0f;
    if (!std::isfinite(inv)) scale = inv = 0;  // max below ~1e-34: the group reads as zeros
    int64_t isum = 0;
    for (int64_t p = p0; p < p1; p++) {
      const float r = std::nearbyint(x[p] * inv);  // round half to even (default rounding mode)
      q[p] = (int16_t)std::fmax(-(float)kA16Max, std::fmin((float)kA16Max, r));
      isum += q[p];
    }
    for (int64_t p = std::max(p0, p1); p < p0 + group; p++) q[p] = 0;
    sx[g] = scale;
    asum[g] = scale * (float)isum;
  }
}

}  // namespace lowbit
