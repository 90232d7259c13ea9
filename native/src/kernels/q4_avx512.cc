// PLACEHOLDER while the avx512 int4 kernel is written: forwards to the reference.
#include "kernels.h"

namespace lowbit {

void matmul_q4_avx512(const float* A, int64_t lda, const float* asum, const uint8_t* W, const float* s, const float* o,
                  float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp, int64_t group) {
  matmul_q4_ref(A, lda, asum, W, s, o, C, ldc, m, j0, j1, kp, group);
}

}  // namespace lowbit
