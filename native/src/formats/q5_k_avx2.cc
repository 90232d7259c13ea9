// Q5_K x Q8_K, AVX2 (semantics: q5_k.h; bit for bit equal to q5_k.cc).
// Compiled with -mavx2 -mfma -mf16c -ffp-contract=off (lowbit_ggml_avx2).
// As llama.cpp's AVX2 ggml_vec_dot_q5_K_q8_K: per pair g of sub-blocks one
// 32-byte load of low nibbles (sub-block 2g low, 2g + 1 high) plus the fifth
// bits from qh; vpmaddubsw (u5 x s8 pairs, <= 7874: no saturation) and
// vpmaddwd by the sub-block scale accumulate exact int32 lanes (bytes
// [4l, 4l + 4) of every 32-byte chunk); one FMA per lane per super-block; the
// mins term by a scalar FMA; the lanes summed in the reference's order.
#include <immintrin.h>

#include "formats/kquant_tiling.h"
#include "formats/kquant_x86.h"
#include "formats/q4_k.h"
#include "formats/q5_k.h"
#include "kernels/kernels.h"

namespace lowbit {
namespace {

struct Avx2Q5K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    float summs[MT];  // the mins' terms, added to the lanes' sum at the end
    for (int t = 0; t < MT; t++) summs[t] = 0.0f;
    kq_tile_lanes<BlockQ5K, MT>(w, nb, 3, c, ldc, [&](const BlockQ5K* x, int64_t b, __m256* acc) {
      __m256i scales;
      __m128i mn16;
      kq_q5_scales(x->scales, &scales, &mn16);
      const __m256i hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qh));
      __m256i sumi[MT];
      for (int t = 0; t < MT; t++) sumi[t] = _mm256_setzero_si256();
      for (int g = 0; g < 4; g++) {
        __m256i lo, hi;
        kq_q5_codes(x->qs, hbits, g, &lo, &hi);
        const __m256i sl = kq_bcast16(scales, 2 * g), sh = kq_bcast16(scales, 2 * g + 1);
        for (int t = 0; t < MT; t++) {
          const int8_t* qa = a.q + (i0 + t) * a.k + b * kQK_K + 64 * g;
          const __m256i al = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa));
          const __m256i ah = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa + 32));
          sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, al), sl),
                                                               _mm256_madd_epi16(_mm256_maddubs_epi16(hi, ah), sh)));
        }
      }
      const float dw = _cvtsh_ss(x->d), mw = _cvtsh_ss(x->dmin);
      for (int t = 0; t < MT; t++) {
        const float da = a.d[(i0 + t) * nb + b];
        summs[t] = kq_q5_mins(a, i0 + t, b, mn16, da, mw, summs[t]);
        acc[t] = kq_fma_lanes(sumi[t], da * dw, acc[t]);
      }
    });
    for (int t = 0; t < MT; t++) c[t * ldc] += summs[t];  // = the lanes' sum + summs, one rounding as before
  }
};

}  // namespace

void matmul_q5_k_avx2(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                      int64_t j1) {
  kquant_run<Avx2Q5K>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
