// Q6_K: the scalar reference matmul (the definition in q6_k.h) and row
// dequantization. Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/q6_k.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "formats/kquant_quantize.h"
#include "formats/kquant_tiling.h"
#include "ggml_dequant.h"
#include "kernels/ggml.h"
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
    kq_ref_lanes<BlockQ6K, MT>(a, i0, w, nb, c, ldc, [](const BlockQ6K& x, const int8_t* qa, const int16_t* bs, float da, float acc[8]) {
      int32_t lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int e = 0; e < 256; e++) lane[(e % 32) / 4] += (int32_t)x.scales[e / 16] * q6_code(&x, e) * qa[e];
      for (int l = 0; l < 8; l++)
        lane[l] -= 32 * ((int32_t)bs[2 * l] * x.scales[2 * l] + (int32_t)bs[2 * l + 1] * x.scales[2 * l + 1]);
      const float d = da * f16_to_f32_scalar(x.d);
      for (int l = 0; l < 8; l++) acc[l] = std::fma(d, (float)lane[l], acc[l]);
    });
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

void q6_k_quantize_row(const float* x, int64_t k, uint8_t* out) {
  int8_t L[256];
  float sc[16];
  for (int64_t b = 0; b < k / kQK_K; b++, x += kQK_K) {
    BlockQ6K* y = reinterpret_cast<BlockQ6K*>(out + b * sizeof(BlockQ6K));
    float max_scale = 0.0f, max_abs = 0.0f;
    for (int s = 0; s < 16; s++) {
      sc[s] = kq_make_qx(16, 32, x + 16 * s, L + 16 * s);
      if (std::fabs(sc[s]) > max_abs) {
        max_abs = std::fabs(sc[s]);
        max_scale = sc[s];
      }
    }
    if (max_abs < 1e-15f) {  // GROUP_MAX_EPS: an all-zero block
      std::memset(y, 0, sizeof(BlockQ6K));
      continue;
    }
    const float iscale = -128.0f / max_scale;
    y->d = f32_to_f16_scalar(1.0f / iscale);
    for (int s = 0; s < 16; s++) y->scales[s] = (int8_t)std::min(127, kq_nearest_int(iscale * sc[s]));
    for (int s = 0; s < 16; s++) {
      const float d = f16_to_f32_scalar(y->d) * (float)y->scales[s];
      if (d == 0.0f) continue;  // the search's codes stay
      for (int i = 0; i < 16; i++) L[16 * s + i] = (int8_t)(std::clamp(kq_nearest_int(x[16 * s + i] / d), -32, 31) + 32);
    }
    for (int h = 0; h < 2; h++)  // the layout of q6_k.h
      for (int t = 0; t < 32; t++) {
        const int8_t* l = L + 128 * h + t;
        y->ql[64 * h + t] = (uint8_t)((l[0] & 15) | ((l[64] & 15) << 4));
        y->ql[64 * h + 32 + t] = (uint8_t)((l[32] & 15) | ((l[96] & 15) << 4));
        y->qh[32 * h + t] = (uint8_t)((l[0] >> 4) | ((l[32] >> 4) << 2) | ((l[64] >> 4) << 4) | ((l[96] >> 4) << 6));
      }
  }
}

}  // namespace lowbit
