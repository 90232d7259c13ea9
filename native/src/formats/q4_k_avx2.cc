// Q4_K x Q8_K, AVX2 (semantics: q4_k.h; bit for bit equal to q4_k.cc), on the
// packed storage (q4_k.h) as two passes of 8 rows per group (q4_k_x86.h).
// Compiled with -mavx2 -mfma -mf16c -ffp-contract=off (lowbit_ggml_avx2).
#include "formats/q4_k_x86.h"
#include "kernels/kernels.h"

namespace lowbit {

void matmul_q4_k_avx2(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                      int64_t j1) {
  q4k_packed_run<Q4KLanesAvx2>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
