// Q4_K x Q8_K, AVX2 (semantics: q4_k.h; bit for bit equal to q4_k.cc).
// Compiled with -mavx2 -mfma -mf16c -ffp-contract=off (lowbit_ggml_avx2).
// Per super-block and token: each 32-byte code load holds sub-blocks 2g (low
// nibbles) and 2g + 1 (high nibbles); vpmaddubsw (u4 x s8 pairs, <= 3810: no
// saturation) then vpmaddwd by the sub-block scale gives exact int32 lanes,
// reduced (vphaddd) to the pair sums P[g]; M[g] from the activation 16-sums;
// then the reference's scalar FMAs (q4_k_accumulate).
#include <immintrin.h>

#include <cmath>

#include "formats/kquant_tiling.h"
#include "formats/kquant_x86.h"
#include "formats/q4_k.h"
#include "kernels/kernels.h"

namespace lowbit {
namespace {

struct Avx2Q4K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    constexpr bool kGemm = MT == kKMaxTokens;  // llama.cpp's 4-token GEMM: the pair sums P[p] are needed
    constexpr int kG = kGemm ? 4 : 1;
    const __m256i m4 = _mm256_set1_epi8(15);
    float acc[MT], accm[MT];
    for (int t = 0; t < MT; t++) acc[t] = accm[t] = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
      const BlockQ4K* x = reinterpret_cast<const BlockQ4K*>(w + b * sizeof(BlockQ4K));
      _mm_prefetch(reinterpret_cast<const char*>(x) + 4 * sizeof(BlockQ4K), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(x) + 4 * sizeof(BlockQ4K) + 64, _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(x) + 4 * sizeof(BlockQ4K) + 128, _MM_HINT_T0);
      const __m256i sm = kq_scales_mins16(x->scales);
      const __m128i sc128 = _mm256_castsi256_si128(sm), mn16 = _mm256_extracti128_si256(sm, 1);
      const __m256i scales = _mm256_setr_m128i(sc128, sc128);
      __m256i pv[kG][MT];  // GEMM: per pair g; GEMV: one accumulator
      for (int t = 0; t < MT; t++) pv[0][t] = _mm256_setzero_si256();
      for (int g = 0; g < 4; g++) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 32 * g));
        const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        const __m256i sl = kq_bcast16(scales, 2 * g), sh = kq_bcast16(scales, 2 * g + 1);
        for (int t = 0; t < MT; t++) {
          const int8_t* qa = a.q + (i0 + t) * a.k + b * kQK_K + 64 * g;
          const __m256i al = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa));
          const __m256i ah = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa + 32));
          const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, al), sl),
                                             _mm256_madd_epi16(_mm256_maddubs_epi16(hi, ah), sh));
          if (kGemm) pv[g % kG][t] = p;
          else pv[0][t] = _mm256_add_epi32(pv[0][t], p);
        }
      }
      const float dw = _cvtsh_ss(x->d), mw = _cvtsh_ss(x->dmin);
      for (int t = 0; t < MT; t++) {
        const __m128i M4 = kq_min_pairs(mn16, a.bsp + (i0 + t) * (a.k / 32) + b * 8);
        const float da = a.d[(i0 + t) * nb + b];
        if (kGemm) {
          alignas(16) int32_t P[4], M[4];
          _mm_store_si128(reinterpret_cast<__m128i*>(P), kq_hsum4_i32(pv[0][t], pv[1 % kG][t], pv[2 % kG][t], pv[3 % kG][t]));
          _mm_store_si128(reinterpret_cast<__m128i*>(M), M4);
          q4_k_accumulate<true>(P, M, dw * da, mw * da, acc[t], accm[t]);
        } else {
          acc[t] = __builtin_fmaf((float)kq_hsum_i32(pv[0][t]), dw * da, acc[t]);
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
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
      const int8_t* qa = a.q + i * a.k + b * kQK_K;
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
        const __m256i scales = _mm256_setr_m128i(sc128, sc128);
        mv[r] = _mm_madd_epi16(_mm256_extracti128_si256(sm, 1), bsp);
        __m256i sum = _mm256_setzero_si256();
        for (int g = 0; g < 4; g++) {
          const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 32 * g));
          const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
          const __m256i al = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa + 64 * g));
          const __m256i ah = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa + 64 * g + 32));
          sum = _mm256_add_epi32(sum, _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, al), kq_bcast16(scales, 2 * g)),
                                                       _mm256_madd_epi16(_mm256_maddubs_epi16(hi, ah), kq_bcast16(scales, 2 * g + 1))));
        }
        v[r] = sum;
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
    __m256 acc[4], accm[4];
    for (int t = 0; t < 4; t++) acc[t] = accm[t] = _mm256_setzero_ps();
    __m256i lo[4][8], hi[4][8], sl[4][8], sh[4][8];
    __m128i mn[8];
    for (int64_t b = 0; b < nb; b++) {
      alignas(16) uint16_t dh[8] = {0, 0, 0, 0, 0, 0, 0, 0}, mh[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int r = 0; r < 8; r++) {
        if (r >= nr) {
          for (int g = 0; g < 4; g++) lo[g][r] = hi[g][r] = sl[g][r] = sh[g][r] = _mm256_setzero_si256();
          mn[r] = _mm_setzero_si128();
          continue;
        }
        const BlockQ4K* x = reinterpret_cast<const BlockQ4K*>(w + r * row_bytes + b * sizeof(BlockQ4K));
        dh[r] = x->d;
        mh[r] = x->dmin;
        const __m256i sm = kq_scales_mins16(x->scales);
        const __m128i sc128 = _mm256_castsi256_si128(sm);
        const __m256i scales = _mm256_setr_m128i(sc128, sc128);
        mn[r] = _mm256_extracti128_si256(sm, 1);
        for (int g = 0; g < 4; g++) {
          const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 32 * g));
          lo[g][r] = _mm256_and_si256(q, m4);
          hi[g][r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
          sl[g][r] = kq_bcast16(scales, 2 * g);
          sh[g][r] = kq_bcast16(scales, 2 * g + 1);
        }
      }
      kq_q4k_rows8x4_step(a, i0, nb, b, dh, mh, mn, acc, accm, [&](const int8_t* qa, int g, __m256i v[8]) {
        const __m256i al = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa));
        const __m256i ah = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa + 32));
        for (int r = 0; r < 8; r++)
          v[r] = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo[g][r], al), sl[g][r]),
                                  _mm256_madd_epi16(_mm256_maddubs_epi16(hi[g][r], ah), sh[g][r]));
      });
    }
    kq_store_rows8x4(acc, accm, c, ldc, nr);
  }
};

}  // namespace

void matmul_q4_k_avx2(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                      int64_t j1) {
  kquant_run<Avx2Q4K>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
