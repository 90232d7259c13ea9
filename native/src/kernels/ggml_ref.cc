// Scalar reference of the Q4_0 / Q8_0 kernels: activation quantization to
// Q8_0 blocks and the block-wise integer matmuls. Semantics in ggml.h.
// Compiled with -ffp-contract=off (binding.gyp): every f32 operation below is
// rounded on its own, as written.
#include <cmath>
#include <cstring>

#include "ggml.h"
#include "kernels.h"

namespace lowbit {

uint16_t f32_to_f16_scalar(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
  x &= 0x7fffffffu;
  if (x > 0x7f800000u) return sign | 0x7e00;   // NaN
  if (x >= 0x477ff000u) return sign | 0x7c00;  // >= 65520 (halfway past 65504) and inf
  if (x >= 0x38800000u) {                      // normal f16: |f| >= 2^-14
    uint32_t h = ((((x >> 23) - 112) << 10) | ((x & 0x7fffff) >> 13));
    const uint32_t rem = x & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;  // a carry into the exponent is still correct
    return (uint16_t)(sign | h);
  }
  // subnormal f16: round |f| / 2^-24 to an integer, half to even
  const uint32_t e = x >> 23;
  if (e < 102) return sign;  // |f| < 2^-25: rounds to zero
  const uint32_t m = (x & 0x7fffff) | 0x800000, shift = 126 - e;  // |f| = m * 2^(e - 150), shift in [14, 24]
  uint32_t h = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (h & 1))) h++;
  return (uint16_t)(sign | h);
}

void quantize_q8_0_act_ref(const float* x, int64_t k, int8_t* q, float* d, int32_t* s) {
  for (int64_t b = 0; b < k / kQK; b++) {
    const float* xb = x + b * kQK;
    float amax = 0.0f;
    for (int t = 0; t < kQK; t++) amax = std::fmax(amax, std::fabs(xb[t]));
    const uint16_t dh = f32_to_f16_scalar(amax / 127.0f);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
    for (int t = 0; t < kQK; t++) {
      const float r = std::nearbyint(xb[t] * id);  // half to even (default rounding mode)
      // saturate like cvtps2dq + packs (NaN -> INT_MIN -> -128)
      const int v = !(r >= -128.0f) ? -128 : r > 127.0f ? 127 : (int)r;
      q[b * kQK + t] = (int8_t)v;
      sum += v;
    }
    d[b] = f16_to_f32_scalar(dh);
    s[b] = sum;
  }
}

void matmul_q4_0_ref(const int8_t* A, int64_t lda, const float* ad, const int32_t* /*as*/, const uint8_t* W,
                     const uint16_t* wd, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t k) {
  const int64_t nb = k / kQK;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = j0; j < j1; j++) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; b++) {
        const int8_t* a = A + i * lda + b * kQK;
        int32_t sumi = 0;
        for (int t = 0; t < 16; t++) {
          const uint8_t byte = W[ggml_code_offset(j, b, t, nb, 16)];
          sumi += ((byte & 15) - 8) * (int32_t)a[t] + ((byte >> 4) - 8) * (int32_t)a[t + 16];
        }
        const float dd = f16_to_f32_scalar(wd[ggml_scale_index(j, b, nb)]) * ad[i * nb + b];
        acc = std::fma((float)sumi, dd, acc);
      }
      C[i * ldc + j] = acc;
    }
}

void matmul_q8_0_ref(const int8_t* A, int64_t lda, const float* ad, const int32_t* /*as*/, const int8_t* W,
                     const uint16_t* wd, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t k) {
  const int64_t nb = k / kQK;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = j0; j < j1; j++) {
      float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // partial l: bytes [4l, 4l + 4) of every block
      for (int64_t b = 0; b < nb; b++) {
        const int8_t* a = A + i * lda + b * kQK;
        const float dd = f16_to_f32_scalar(wd[ggml_scale_index(j, b, nb)]) * ad[i * nb + b];
        for (int l = 0; l < 8; l++) {
          int32_t p = 0;
          for (int t = 4 * l; t < 4 * l + 4; t++) p += (int32_t)W[ggml_code_offset(j, b, t, nb, 32)] * (int32_t)a[t];
          s[l] = std::fma((float)p, dd, s[l]);
        }
      }
      C[i * ldc + j] = ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
    }
}

}  // namespace lowbit
