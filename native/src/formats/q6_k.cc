// Q6_K: the scalar reference matmul (the definition in q6_k.h) and row
// dequantization. Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/q6_k.h"

#include <cmath>

#include "formats/kquant_tiling.h"
#include "ggml_dequant.h"
#include "kernels/kernels.h"

namespace lowbit {

namespace {
// Code u[e] in [0, 63] of element e of a block.
inline int q6_code(const BlockQ6K* x, int e) {
  const int h = e / 128, c = (e % 128) / 32, t = e % 32;
  const uint8_t* L = x->ql + 64 * h;
  const uint8_t* H = x->qh + 32 * h;
  const int lo = c == 0 ? L[t] & 15 : c == 1 ? L[t + 32] & 15 : c == 2 ? L[t] >> 4 : L[t + 32] >> 4;
  return lo | (((H[t] >> (2 * c)) & 3) << 4);
}

struct RefQ6K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    for (int t = 0; t < MT; t++) {
      const int64_t i = i0 + t;
      const int8_t* q8 = a.q + i * a.k;
      const int16_t* bs = a.bsums + i * (a.k / 16);
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t b = 0; b < nb; b++) {
        const BlockQ6K* x = reinterpret_cast<const BlockQ6K*>(w + b * sizeof(BlockQ6K));
        const int8_t* qa = q8 + b * kQK_K;
        int32_t lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int e = 0; e < 256; e++) lane[(e % 32) / 4] += (int32_t)x->scales[e / 16] * q6_code(x, e) * qa[e];
        for (int l = 0; l < 8; l++)
          lane[l] -= 32 * ((int32_t)bs[b * 16 + 2 * l] * x->scales[2 * l] + (int32_t)bs[b * 16 + 2 * l + 1] * x->scales[2 * l + 1]);
        const float d = a.d[i * nb + b] * f16_to_f32_scalar(x->d);
        for (int l = 0; l < 8; l++) acc[l] = std::fma(d, (float)lane[l], acc[l]);
      }
      c[t * ldc] = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
  }
};
}  // namespace

void matmul_q6_k_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                     int64_t j1) {
  kquant_run<RefQ6K>(a, m, W, row_bytes, C, ldc, j0, j1);
}

void q6_k_dequantize_row(const uint8_t* row, int64_t cols, float* out) {
  ggml_dequantize(kGgmlQ6_K, row, (size_t)(cols / kQK_K) * sizeof(BlockQ6K), out, cols);
}

}  // namespace lowbit
