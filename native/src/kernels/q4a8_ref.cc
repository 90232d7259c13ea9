// Scalar reference of the int4-weight x int8-activation matmuls (w4a8, float
// and integer group scales). Semantics in kernels.h.
#include <cstdint>

#include "kernels.h"

namespace lowbit {

namespace {

// d[i, j, g] = sum_{p in g} (q[j, p] - 8) * A[i, p]: |d| <= 8 * 127 * group.
inline int32_t group_dot(const int8_t* a, const uint8_t* W, int64_t j, int64_t g, int64_t kp, int64_t group) {
  int32_t d = 0;
  for (int64_t p = g * group; p < (g + 1) * group; p++) d += (q4_code_at(W, j, p, kp) - 8) * (int32_t)a[p];
  return d;
}

}  // namespace

void matmul_q4a8_ref(const int8_t* A, int64_t lda, const float* sa, const int32_t* /*isum*/, const uint8_t* W,
                     const float* s, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp,
                     int64_t group) {
  const int64_t ng = kp / group;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = j0; j < j1; j++) {
      float acc = 0;
      for (int64_t g = 0; g < ng; g++)
        acc += s[q4a8_scale_index(j, g, ng)] * (float)group_dot(A + i * lda, W, j, g, kp, group);
      C[i * ldc + j] = sa[i] * acc;
    }
}

void matmul_q4a8_is_ref(const int8_t* A, int64_t lda, const float* sa, const int32_t* /*isum*/, const uint8_t* W,
                        const int32_t* si, float inv_alpha, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                        int64_t kp, int64_t group) {
  const int64_t ng = kp / group;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = j0; j < j1; j++) {
      // Wrapping int32 arithmetic (as the SIMD kernels do), through uint32 to
      // stay defined behaviour in C++.
      uint32_t acc = 0;
      for (int64_t g = 0; g < ng; g++)
        acc += (uint32_t)si[q4a8_scale_index(j, g, ng)] * (uint32_t)group_dot(A + i * lda, W, j, g, kp, group);
      C[i * ldc + j] = (float)(int32_t)acc * (sa[i] * inv_alpha);
    }
}

}  // namespace lowbit
