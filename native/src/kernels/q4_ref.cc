// Scalar reference of the int4 weight-only matmul (semantics in kernels.h).
#include "kernels.h"

namespace lowbit {

void matmul_q4_ref(const float* A, int64_t lda, const float* asum, const uint8_t* W, const float* s, const float* o,
                   float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp, int64_t group) {
  const int64_t ng = kp / group;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = j0; j < j1; j++) {
      float acc = 0;
      for (int64_t g = 0; g < ng; g++) {
        float d = 0;
        for (int64_t p = g * group; p < (g + 1) * group; p++) d += (float)q4_code_at(W, j, p, kp) * A[i * lda + p];
        acc += s[j * ng + g] * d + o[j * ng + g] * asum[i * ng + g];
      }
      C[i * ldc + j] = acc;
    }
}

}  // namespace lowbit
