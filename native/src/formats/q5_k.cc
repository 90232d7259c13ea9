// Q5_K: the scalar reference matmul (the definition in q5_k.h) and row
// dequantization. Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/q5_k.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "formats/kquant_quantize.h"
#include "formats/kquant_tiling.h"
#include "formats/q4_k.h"
#include "ggml_dequant.h"
#include "kernels/ggml.h"
#include "kernels/kernels.h"

namespace lowbit {

namespace {
struct RefQ5K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    for (int t = 0; t < MT; t++) {
      const int64_t i = i0 + t;
      const int8_t* q8 = a.q + i * a.k;
      const int16_t* bs = a.bsums + i * (a.k / 16);
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, summs = 0.0f;
      for (int64_t b = 0; b < nb; b++) {
        const BlockQ5K* x = reinterpret_cast<const BlockQ5K*>(w + b * sizeof(BlockQ5K));
        uint8_t sc[8], mn[8];
        q4_k_scales(x->scales, sc, mn);
        const int8_t* qa = q8 + b * kQK_K;
        int32_t lane[8] = {0, 0, 0, 0, 0, 0, 0, 0}, imin = 0;
        for (int e = 0; e < 256; e++) {
          const int g = e / 64, r = e % 64, tt = r % 32, hi = r / 32;
          const uint8_t byte = x->qs[32 * g + tt];
          const int u = (hi ? byte >> 4 : byte & 15) + 16 * ((x->qh[tt] >> (2 * g + hi)) & 1);
          lane[(e % 32) / 4] += (int32_t)sc[e / 32] * u * qa[e];
        }
        for (int s = 0; s < 8; s++) imin += (int32_t)mn[s] * ((int32_t)bs[b * 16 + 2 * s] + bs[b * 16 + 2 * s + 1]);
        const float da = a.d[i * nb + b];
        const float d = da * f16_to_f32_scalar(x->d), dmin = -(da * f16_to_f32_scalar(x->dmin));
        summs = std::fma(dmin, (float)imin, summs);
        for (int l = 0; l < 8; l++) acc[l] = std::fma(d, (float)lane[l], acc[l]);
      }
      c[t * ldc] = kq_lanes8_sum(acc) + summs;
    }
  }
};
}  // namespace

void matmul_q5_k_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                     int64_t j1) {
  kquant_run<RefQ5K>(a, m, W, row_bytes, C, ldc, j0, j1);
}

void q5_k_dequantize_row(const uint8_t* row, int64_t cols, float* out) {
  ggml_dequantize(kGgmlQ5_K, row, (size_t)(cols / kQK_K) * sizeof(BlockQ5K), out, cols);
}

void q5_k_quantize_row(const float* x, int64_t k, uint8_t* out) {
  uint8_t L[256];
  for (int64_t b = 0; b < k / kQK_K; b++, x += kQK_K) {
    BlockQ5K* y = reinterpret_cast<BlockQ5K*>(out + b * sizeof(BlockQ5K));
    kq_quantize_scaled_mins(x, 31, -0.5f, 15, y->scales, &y->d, &y->dmin, L);
    std::memset(y->qh, 0, sizeof(y->qh));
    for (int g = 0; g < 4; g++)  // element 64g + t (+ 32): nibble of byte 32g + t, fifth bit 2g (2g + 1) of qh[t]
      for (int t = 0; t < 32; t++) {
        const int l1 = L[64 * g + t], l2 = L[64 * g + 32 + t];
        y->qs[32 * g + t] = (uint8_t)((l1 & 15) | ((l2 & 15) << 4));
        y->qh[t] |= (uint8_t)(((l1 >> 4) << (2 * g)) | ((l2 >> 4) << (2 * g + 1)));
      }
  }
}

}  // namespace lowbit
