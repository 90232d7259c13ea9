// IQ4_XS: the scalar reference matmul (the definition in iq4_xs.h) and row
// dequantization. Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/iq4_xs.h"

#include "formats/iq4_nl.h"
#include "formats/kquant_tiling.h"
#include "ggml_dequant.h"
#include "kernels/kernels.h"

namespace lowbit {

namespace {
// kPanel: the IQ panel GEMM's one FMA per super-block (m >= 8), else the 8 lanes
template <bool kPanel>
struct RefIQ4XS {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    for (int t = 0; t < MT; t++) {
      const int64_t i = i0 + t;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, accp = 0.0f;
      for (int64_t b = 0; b < nb; b++) {
        const BlockIQ4XS* x = reinterpret_cast<const BlockIQ4XS*>(w + b * sizeof(BlockIQ4XS));
        const int8_t* qa = a.q + i * a.k + b * kQK_K;
        int32_t L[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int s = 0; s < 8; s++) {
          const int ls = iq4_xs_scale(x, s);
          for (int e = 0; e < 32; e++) {
            const uint8_t byte = x->qs[16 * s + e % 16];
            L[e / 4] += ls * kIq4nlValues[e < 16 ? byte & 15 : byte >> 4] * qa[32 * s + e];
          }
        }
        const float dd = f16_to_f32_scalar(x->d) * a.d[i * nb + b];
        if (kPanel) accp = __builtin_fmaf((float)(L[0] + L[1] + L[2] + L[3] + L[4] + L[5] + L[6] + L[7]), dd, accp);
        else
          for (int l = 0; l < 8; l++) acc[l] = __builtin_fmaf(dd, (float)L[l], acc[l]);
      }
      c[t * ldc] = kPanel ? accp : ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
  }
};
}  // namespace

void matmul_iq4_xs_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                       int64_t j0, int64_t j1) {
  if (m >= kIq4xsPanelMinTokens) kquant_run<RefIQ4XS<true>>(a, m, W, row_bytes, C, ldc, j0, j1);
  else kquant_run<RefIQ4XS<false>>(a, m, W, row_bytes, C, ldc, j0, j1);
}

void iq4_xs_dequantize_row(const uint8_t* row, int64_t cols, float* out) {
  ggml_dequantize(kGgmlIQ4_XS, row, (size_t)(cols / kQK_K) * sizeof(BlockIQ4XS), out, cols);
}

}  // namespace lowbit
