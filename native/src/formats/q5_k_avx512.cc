// Q5_K x Q8_K, AVX-512 VNNI (semantics: q5_k.h; bit for bit equal to q5_k.cc).
// Compiled with -mavx512f/bw/vl/vnni ... -ffp-contract=off (lowbit_ggml_avx512).
// Sub-blocks 2g, 2g + 1 become one zmm of 64 u5 codes in element order,
// matching 64 contiguous activation bytes; vpdpbusd gives 16 exact int32
// lanes of 4 products (<= 15748, so each fits int16), vpmaddwd by (scale, 0)
// pairs scales them; folding the upper 8 lanes onto the lower 8 gives the
// reference's lanes (bytes [4l, 4l + 4) of every chunk); then one FMA per lane,
// the mins term by a scalar FMA and the reference's final sum.
#include <immintrin.h>

#include "formats/kquant_tiling.h"
#include "formats/kquant_x86.h"
#include "formats/q4_k.h"
#include "formats/q5_k.h"
#include "kernels/kernels.h"

namespace lowbit {
namespace {

struct Avx512Q5K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    float summs[MT];  // the mins' terms, added to the lanes' sum at the end
    for (int t = 0; t < MT; t++) summs[t] = 0.0f;
    kq_tile_lanes<BlockQ5K, MT>(w, nb, 3, c, ldc, [&](const BlockQ5K* x, int64_t b, __m256* acc) {
      __m256i scales;
      __m128i mn16;
      kq_q5_scales(x->scales, &scales, &mn16);
      const __m256i hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qh));
      __m512i sumz[MT];
      for (int t = 0; t < MT; t++) sumz[t] = _mm512_setzero_si512();
      for (int g = 0; g < 4; g++) {
        __m256i lo, hi;
        kq_q5_codes(x->qs, hbits, g, &lo, &hi);
        const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        // (sc, 0) int16 pairs per int32 lane: sc[2g] in lanes 0-7, sc[2g + 1] in lanes 8-15
        const __m512i s = _mm512_cvtepu16_epi32(_mm256_setr_m128i(_mm256_castsi256_si128(kq_bcast16(scales, 2 * g)),
                                                                  _mm256_castsi256_si128(kq_bcast16(scales, 2 * g + 1))));
        for (int t = 0; t < MT; t++) {
          const int8_t* qa = a.q + (i0 + t) * a.k + b * kQK_K + 64 * g;
          const __m512i dp = _mm512_dpbusd_epi32(_mm512_setzero_si512(), z, _mm512_loadu_si512(qa));
          sumz[t] = _mm512_add_epi32(sumz[t], _mm512_madd_epi16(dp, s));
        }
      }
      const float dw = _cvtsh_ss(x->d), mw = _cvtsh_ss(x->dmin);
      for (int t = 0; t < MT; t++) {
        const float da = a.d[(i0 + t) * nb + b];
        summs[t] = kq_q5_mins(a, i0 + t, b, mn16, da, mw, summs[t]);
        acc[t] = kq_fma_lanes(kq_fold512(sumz[t]), da * dw, acc[t]);
      }
    });
    for (int t = 0; t < MT; t++) c[t * ldc] += summs[t];  // = the lanes' sum + summs, one rounding as before
  }
};

}  // namespace

void matmul_q5_k_avx512(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                        int64_t j0, int64_t j1) {
  kquant_run<Avx512Q5K>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
