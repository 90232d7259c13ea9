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
#include "formats/kquant_x86.h"
#include "formats/q4_k.h"
#include "kernels/kernels.h"

namespace lowbit {
namespace {

inline __m256i fold(__m512i z) { return _mm256_add_epi32(_mm512_castsi512_si256(z), _mm512_extracti64x4_epi64(z, 1)); }

struct Avx512Q4K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    constexpr bool kGemm = MT == kKMaxTokens;  // llama.cpp's 4-token GEMM: the pair sums P[p] are needed
    constexpr int kG = kGemm ? 4 : 1;
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m512i lo16 = _mm512_set1_epi32(0xFFFF);
    float acc[MT], accm[MT];
    for (int t = 0; t < MT; t++) acc[t] = accm[t] = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
      const BlockQ4K* x = reinterpret_cast<const BlockQ4K*>(w + b * sizeof(BlockQ4K));
      _mm_prefetch(reinterpret_cast<const char*>(x) + 4 * sizeof(BlockQ4K), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(x) + 4 * sizeof(BlockQ4K) + 64, _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(x) + 4 * sizeof(BlockQ4K) + 128, _MM_HINT_T0);
      const __m256i sm = kq_scales_mins16(x->scales);
      const __m128i sc128 = _mm256_castsi256_si128(sm), mn16 = _mm256_extracti128_si256(sm, 1);
      // (sc, 0) int16 pairs per int32 lane: sc[2g] in lanes 0-7, sc[2g + 1] in lanes 8-15
      const __m512i sc32 = _mm512_and_si512(_mm512_cvtepu16_epi32(_mm256_setr_m128i(sc128, sc128)), lo16);
      __m512i pv[kG][MT];
      for (int t = 0; t < MT; t++) pv[0][t] = _mm512_setzero_si512();
      for (int g = 0; g < 4; g++) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 32 * g));
        const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(q, m4)),
                                             _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), 1);
        const __m512i s = _mm512_permutexvar_epi32(
            _mm512_setr_epi32(2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g + 1, 2 * g + 1, 2 * g + 1,
                              2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1),
            sc32);
        for (int t = 0; t < MT; t++) {
          const int8_t* qa = a.q + (i0 + t) * a.k + b * kQK_K + 64 * g;
          const __m512i p = _mm512_madd_epi16(_mm512_dpbusd_epi32(_mm512_setzero_si512(), z, _mm512_loadu_si512(qa)), s);
          if (kGemm) pv[g % kG][t] = p;
          else pv[0][t] = _mm512_add_epi32(pv[0][t], p);
        }
      }
      const float dw = _cvtsh_ss(x->d), mw = _cvtsh_ss(x->dmin);
      for (int t = 0; t < MT; t++) {
        const __m128i M4 = kq_min_pairs(mn16, a.bsp + (i0 + t) * (a.k / 32) + b * 8);
        const float da = a.d[(i0 + t) * nb + b];
        if (kGemm) {
          alignas(16) int32_t P[4], M[4];
          _mm_store_si128(reinterpret_cast<__m128i*>(P),
                          kq_hsum4_i32(fold(pv[0][t]), fold(pv[1 % kG][t]), fold(pv[2 % kG][t]), fold(pv[3 % kG][t])));
          _mm_store_si128(reinterpret_cast<__m128i*>(M), M4);
          q4_k_accumulate<true>(P, M, dw * da, mw * da, acc[t], accm[t]);
        } else {
          acc[t] = __builtin_fmaf((float)_mm512_reduce_add_epi32(pv[0][t]), dw * da, acc[t]);
          accm[t] = __builtin_fmaf((float)kq_hsum4(M4), mw * da, accm[t]);
        }
      }
    }
    for (int t = 0; t < MT; t++) c[t * ldc] = acc[t] - accm[t];
  }

  // Decode: 8 weight rows per pass, their exact per-row block sums reduced
  // into one vector so the reference's two FMAs per row and block run as two
  // 8-lane FMAs (each lane the same single rounding).
  static constexpr bool kRows8 = true;
  static void rows8(const KAct& a, int64_t i, const uint8_t* w, int64_t row_bytes, int64_t nb, float* c, int nr) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m512i lo16 = _mm512_set1_epi32(0xFFFF);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
      const int8_t* qa = a.q + i * a.k + b * kQK_K;
      const __m512i a0 = _mm512_loadu_si512(qa), a1 = _mm512_loadu_si512(qa + 64), a2 = _mm512_loadu_si512(qa + 128),
                    a3 = _mm512_loadu_si512(qa + 192);
      const __m128i bsp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a.bsp + i * (a.k / 32) + b * 8));
      __m256i v[8];
      __m128i mv[8];
      alignas(16) uint16_t dh[8] = {0, 0, 0, 0, 0, 0, 0, 0}, mh[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int r = 0; r < 8; r++) {
        if (r >= nr) {
          v[r] = _mm256_setzero_si256();
          mv[r] = _mm_setzero_si128();
          continue;
        }
        const BlockQ4K* x = reinterpret_cast<const BlockQ4K*>(w + r * row_bytes + b * sizeof(BlockQ4K));
        _mm_prefetch(reinterpret_cast<const char*>(x) + 2 * sizeof(BlockQ4K), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(x) + 2 * sizeof(BlockQ4K) + 64, _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(x) + 2 * sizeof(BlockQ4K) + 128, _MM_HINT_T0);
        dh[r] = x->d;
        mh[r] = x->dmin;
        const __m256i sm = kq_scales_mins16(x->scales);
        const __m128i sc128 = _mm256_castsi256_si128(sm);
        const __m512i sc32 = _mm512_and_si512(_mm512_cvtepu16_epi32(_mm256_setr_m128i(sc128, sc128)), lo16);
        mv[r] = _mm_madd_epi16(_mm256_extracti128_si256(sm, 1), bsp);
        __m512i sum = _mm512_setzero_si512();
        const __m512i av[4] = {a0, a1, a2, a3};
        for (int g = 0; g < 4; g++) {
          const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 32 * g));
          const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(q, m4)),
                                               _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), 1);
          const __m512i s = _mm512_permutexvar_epi32(
              _mm512_setr_epi32(2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g + 1, 2 * g + 1, 2 * g + 1,
                                2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1),
              sc32);
          sum = _mm512_add_epi32(sum, _mm512_madd_epi16(_mm512_dpbusd_epi32(_mm512_setzero_si512(), z, av[g]), s));
        }
        v[r] = fold(sum);
      }
      const __m256 da = _mm256_set1_ps(a.d[i * nb + b]);
      const __m256 dd = _mm256_mul_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dh))), da);
      const __m256 dm = _mm256_mul_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(mh))), da);
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(kq_hsum8x8_i32(v)), dd, acc);
      accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(kq_hsum8x4_i32(mv)), dm, accm);
    }
    alignas(32) float out[8];
    _mm256_store_ps(out, _mm256_sub_ps(acc, accm));
    for (int r = 0; r < nr; r++) c[r] = out[r];
  }

  // Prefill (llama.cpp's 4-token GEMM order): 4 tokens x 8 rows per pass; per
  // token and pair g the 8 rows' exact sums P[g] (and M[g]) in one vector, so
  // the reference's per-pair FMAs run 8 rows wide (each lane the same rounding).
  static constexpr bool kRows8x4 = true;
  static void rows8x4(const KAct& a, int64_t i0, const uint8_t* w, int64_t row_bytes, int64_t nb, float* c, int64_t ldc,
                      int nr) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m512i lo16 = _mm512_set1_epi32(0xFFFF);
    __m256 acc[4], accm[4];
    for (int t = 0; t < 4; t++) acc[t] = accm[t] = _mm256_setzero_ps();
    __m512i z[4][8], s[4][8];
    __m128i mn[8];
    for (int64_t b = 0; b < nb; b++) {
      alignas(16) uint16_t dh[8] = {0, 0, 0, 0, 0, 0, 0, 0}, mh[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int r = 0; r < 8; r++) {
        if (r >= nr) {
          for (int g = 0; g < 4; g++) z[g][r] = s[g][r] = _mm512_setzero_si512();
          mn[r] = _mm_setzero_si128();
          continue;
        }
        const BlockQ4K* x = reinterpret_cast<const BlockQ4K*>(w + r * row_bytes + b * sizeof(BlockQ4K));
        dh[r] = x->d;
        mh[r] = x->dmin;
        const __m256i sm = kq_scales_mins16(x->scales);
        const __m128i sc128 = _mm256_castsi256_si128(sm);
        const __m512i sc32 = _mm512_and_si512(_mm512_cvtepu16_epi32(_mm256_setr_m128i(sc128, sc128)), lo16);
        mn[r] = _mm256_extracti128_si256(sm, 1);
        for (int g = 0; g < 4; g++) {
          const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 32 * g));
          z[g][r] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(q, m4)),
                                       _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), 1);
          s[g][r] = _mm512_permutexvar_epi32(
              _mm512_setr_epi32(2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g + 1, 2 * g + 1, 2 * g + 1,
                                2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1),
              sc32);
        }
      }
      kq_q4k_rows8x4_step(a, i0, nb, b, dh, mh, mn, acc, accm, [&](const int8_t* qa, int g, __m256i v[8]) {
        const __m512i av = _mm512_loadu_si512(qa);
        for (int r = 0; r < 8; r++)
          v[r] = fold(_mm512_madd_epi16(_mm512_dpbusd_epi32(_mm512_setzero_si512(), z[g][r], av), s[g][r]));
      });
    }
    kq_store_rows8x4(acc, accm, c, ldc, nr);
  }
};

}  // namespace

void matmul_q4_k_avx512(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                        int64_t j0, int64_t j1) {
  kquant_run<Avx512Q4K>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
