// Q5_0: the scalar reference matmul (formats/legacy.h) and row dequantization.
// Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/q5_0.h"

#include "formats/kquant_tiling.h"
#include "formats/packed.h"
#include "ggml_dequant.h"

namespace lowbit {

void matmul_q5_0_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                     int64_t j1) {
  kq_ref_on_packed<RefLegacy<Q5_0Spec>>(legacy_unpack_row<Q5_0Spec>, a, m, W, row_bytes, C, ldc, j0, j1);  // packed rows back as GGUF rows
}

void q5_0_dequantize_row(const uint8_t* row, int64_t cols, float* out) {
  ggml_dequantize(kGgmlQ5_0, row, (size_t)(cols / 32 * Q5_0Spec::kBytes), out, cols);
}

}  // namespace lowbit
