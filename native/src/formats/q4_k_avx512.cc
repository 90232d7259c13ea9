// Q4_K x Q8_K, AVX-512 VNNI (semantics: q4_k.h; bit for bit equal to q4_k.cc).
// Compiled with -mavx512f/bw/vl/vnni ... -ffp-contract=off (lowbit_ggml_avx512).
// The 32 code bytes of sub-blocks 2g, 2g + 1 become one zmm of 64 u8 codes in
// element order (low nibbles, then high nibbles), matching 64 contiguous
// activation bytes: vpdpbusd gives 16 exact int32 lanes of 4 products (<= 7620,
// so each fits int16), vpmaddwd by (scale, 0) pairs scales them; the lanes are
// reduced to the pair sums P[g]; then the reference's scalar FMAs
// (q4_k_accumulate).
#include <immintrin.h>

#include <cmath>

#include "formats/kquant_tiling.h"
#include "formats/q4_k.h"
#include "kernels/kernels.h"

namespace lowbit {
namespace {

// [sum of v0, ..., sum of v3] (exact int32)
inline __m128i hsum4_i32(__m512i z0, __m512i z1, __m512i z2, __m512i z3) {
  auto fold = [](__m512i z) { return _mm256_add_epi32(_mm512_castsi512_si256(z), _mm512_extracti64x4_epi64(z, 1)); };
  const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(fold(z0), fold(z1)), _mm256_hadd_epi32(fold(z2), fold(z3)));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

struct Avx512Q4K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    const __m256i m4 = _mm256_set1_epi8(15);
    float acc[MT], accm[MT];
    for (int t = 0; t < MT; t++) acc[t] = accm[t] = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
      const BlockQ4K* x = reinterpret_cast<const BlockQ4K*>(w + b * sizeof(BlockQ4K));
      _mm_prefetch(reinterpret_cast<const char*>(x) + 2 * sizeof(BlockQ4K), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(x) + 2 * sizeof(BlockQ4K) + 64, _MM_HINT_T0);
      uint8_t sc[8], mn[8];
      q4_k_scales(x->scales, sc, mn);
      __m512i pv[4][MT];  // pair g, token t: int32 lanes summing to P[g]
      for (int g = 0; g < 4; g++) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 32 * g));
        const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(q, m4)),
                                             _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), 1);
        const __m512i s = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(sc[2 * g])),
                                             _mm256_set1_epi32(sc[2 * g + 1]), 1);
        for (int t = 0; t < MT; t++) {
          const int8_t* qa = a.q + (i0 + t) * a.k + b * kQK_K + 64 * g;
          const __m512i dp = _mm512_dpbusd_epi32(_mm512_setzero_si512(), z, _mm512_loadu_si512(qa));
          pv[g][t] = _mm512_madd_epi16(dp, s);
        }
      }
      const float dw = f16_to_f32_scalar(x->d), mw = f16_to_f32_scalar(x->dmin);
      for (int t = 0; t < MT; t++) {
        alignas(16) int32_t P[4], M[4];
        _mm_store_si128(reinterpret_cast<__m128i*>(P), hsum4_i32(pv[0][t], pv[1][t], pv[2][t], pv[3][t]));
        q4_k_min_pairs(mn, a.bsums + (i0 + t) * (a.k / 16) + b * 16, M);
        const float da = a.d[(i0 + t) * nb + b];
        q4_k_accumulate<MT == kKMaxTokens>(P, M, dw * da, mw * da, acc[t], accm[t]);
      }
    }
    for (int t = 0; t < MT; t++) c[t * ldc] = acc[t] - accm[t];
  }
};

}  // namespace

void matmul_q4_k_avx512(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                        int64_t j0, int64_t j1) {
  kquant_run<Avx512Q4K>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
