// Q4_1, AVX2 (semantics: formats/legacy.h; bit for bit equal to the reference).
// Compiled with -mavx2 -mfma -mf16c -ffp-contract=off (lowbit_ggml_avx2).
// On the packed storage (legacy.h); the kernel is shared with the other ISA (formats/legacy_x86.h).
#include "formats/q4_1.h"

#include "formats/legacy_x86.h"

namespace lowbit {

void matmul_q4_1_avx2(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                     int64_t j1) {
  legacy_packed_run<PackLanesAvx2, Q4_1Spec>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
