// IQ4_NL: the scalar reference matmul (the definition in iq4_nl.h) and row
// dequantization. Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/iq4_nl.h"

#include "formats/kquant_tiling.h"
#include "ggml_dequant.h"
#include "kernels/kernels.h"

namespace lowbit {

namespace {
struct RefIQ4NL {
  static constexpr int64_t kBlockElems = 32;
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    for (int t = 0; t < MT; t++) {
      const int64_t i = i0 + t;
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; b++) {
        const BlockIQ4NL* x = reinterpret_cast<const BlockIQ4NL*>(w + b * sizeof(BlockIQ4NL));
        const int8_t* qa = a.q + i * a.k + b * 32;
        int32_t sumi = 0;
        for (int e = 0; e < 16; e++)
          sumi += kIq4nlValues[x->qs[e] & 15] * qa[e] + kIq4nlValues[x->qs[e] >> 4] * qa[e + 16];
        acc = __builtin_fmaf((float)sumi, f16_to_f32_scalar(x->d) * a.d[i * nb + b], acc);
      }
      c[t * ldc] = acc;
    }
  }
};
}  // namespace

void matmul_iq4_nl_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                       int64_t j0, int64_t j1) {
  kquant_run<RefIQ4NL>(a, m, W, row_bytes, C, ldc, j0, j1);
}

void iq4_nl_dequantize_row(const uint8_t* row, int64_t cols, float* out) {
  ggml_dequantize(kGgmlIQ4_NL, row, (size_t)(cols / 32) * sizeof(BlockIQ4NL), out, cols);
}

}  // namespace lowbit
