// Q2_K x Q8_K, AVX-512 VNNI (semantics: q2_k.h; bit for bit equal to q2_k.cc), on the
// packed storage (q2_k.h): 16 rows per zmm lane set, vpdpbusd (q2_k_x86.h).
// Compiled with -mavx512f/bw/vl/vnni ... -ffp-contract=off (lowbit_ggml_avx512).
#include "formats/q2_k_x86.h"
#include "kernels/kernels.h"

namespace lowbit {

void matmul_q2_k_avx512(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                      int64_t j1) {
  q2k_packed_run<Q2KLanesAvx512>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
