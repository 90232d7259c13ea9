// The Q4_K and Q5_K tiles, shared by q4_k_avx2.cc / q4_k_avx512.cc and
// q5_k_avx2.cc / q5_k_avx512.cc (internal linkage, like kquant_x86.h). Both
// types hold a super-block as 4 pairs of 32-element sub-blocks with 6-bit
// scales and mins, so one micro-kernel per instruction set serves both: a class
// K (KqPairsAvx2, KqPairsAvx512) with
//   K::V, K::zero, K::add   int32 lanes of a pair's scaled products (exact)
//   K::lanes8, K::hsum      those lanes folded to 8, summed
//   K::Acts, K::acts(qa)    one token's 64 activations of a pair
//   K::BlockActs, K::block_acts(qa), K::acts_of(ba, g)   a super-block's 256 (decode)
//   K::Pair, K::dot(p, a)   a pair's 64 codes with its two sub-blocks' scales; its dot
//   K::Scales, K::scales(sc128), K::pair(qs, scales, g)  Q4_K's pair g from the block
//   K::pair5(lo, hi, scales, g)   Q5_K's pair g from kq_q5_codes' codes
//   K::zero_pair()          a pair of zeros (rows past the matrix)
// The loops around them (KqQ4KTiles, KqQ5KTiles: super-blocks, pairs, tokens,
// 8-row passes, the reference's FMAs) do not depend on the instruction set.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "formats/kquant_tiling.h"
#include "formats/kquant_x86.h"
#include "formats/q4_k.h"
#include "formats/q5_k.h"

namespace lowbit {
namespace {

// The micro-kernels, one per instruction set.
//
// AVX2: a pair is one 32-byte load of codes (sub-block 2g in the low nibbles,
// 2g + 1 in the high ones); vpmaddubsw (u4 / u5 x s8 pairs, <= 7874: no
// saturation) against the activations 0..31 / 32..63, then vpmaddwd by the
// sub-block's scale broadcast to every int16: exact int32 lanes.
struct KqPairsAvx2 {
  using V = __m256i;
  struct Pair {
    __m256i lo, hi, sl, sh;  // codes of sub-blocks 2g, 2g + 1; their scales in every int16
  };
  struct Acts {
    __m256i al, ah;
  };
  using BlockActs = const int8_t*;  // loaded per pair, row by row
  using Scales = __m256i;           // int16 sc0..sc7 in both 128-bit halves

  static V zero() { return _mm256_setzero_si256(); }
  static V add(V x, V y) { return _mm256_add_epi32(x, y); }
  static __m256i lanes8(V v) { return v; }
  static int32_t hsum(V v) { return kq_hsum_i32(v); }
  static Acts acts(const int8_t* qa) {
    return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa)), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa + 32))};
  }
  static BlockActs block_acts(const int8_t* qa) { return qa; }
  static Acts acts_of(BlockActs qa, int g) { return acts(qa + 64 * g); }
  static V dot(const Pair& p, const Acts& a) {
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(p.lo, a.al), p.sl),
                            _mm256_madd_epi16(_mm256_maddubs_epi16(p.hi, a.ah), p.sh));
  }
  static Scales scales(__m128i sc128) { return _mm256_setr_m128i(sc128, sc128); }
  static Pair pair5(__m256i lo, __m256i hi, Scales scales, int g) {
    return {lo, hi, kq_bcast16(scales, 2 * g), kq_bcast16(scales, 2 * g + 1)};
  }
  static Pair pair(const uint8_t* qs, Scales scales, int g) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * g));
    return pair5(_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), scales, g);
  }
  static Pair zero_pair() { return {zero(), zero(), zero(), zero()}; }
};

#if defined(__AVX512F__)
// AVX-512 VNNI: a pair's 64 codes as one zmm in element order (sub-block 2g,
// then 2g + 1), matching 64 contiguous activation bytes; vpdpbusd gives 16
// exact int32 lanes of 4 products (<= 7620 for Q4_K, fits int16), vpmaddwd by
// (scale, 0) int16 pairs (sc[2g] in lanes 0-7, sc[2g + 1] in lanes 8-15)
// scales them.
struct KqPairsAvx512 {
  using V = __m512i;
  struct Pair {
    __m512i z, s;  // codes; (scale, 0) pairs
  };
  using Acts = __m512i;
  struct BlockActs {
    __m512i v[4];  // the 4 pairs' activations, loaded once for the 8 rows
  };
  using Scales = __m512i;  // (sc, 0) int16 pairs: sc0..sc7 in lanes 0-7 and again in 8-15

  static V zero() { return _mm512_setzero_si512(); }
  static V add(V x, V y) { return _mm512_add_epi32(x, y); }
  static __m256i lanes8(V v) { return kq_fold512(v); }
  static int32_t hsum(V v) { return _mm512_reduce_add_epi32(v); }
  static Acts acts(const int8_t* qa) { return _mm512_loadu_si512(qa); }
  static BlockActs block_acts(const int8_t* qa) {
    return {{_mm512_loadu_si512(qa), _mm512_loadu_si512(qa + 64), _mm512_loadu_si512(qa + 128), _mm512_loadu_si512(qa + 192)}};
  }
  static Acts acts_of(const BlockActs& ba, int g) { return ba.v[g]; }
  static V dot(const Pair& p, Acts a) { return _mm512_madd_epi16(_mm512_dpbusd_epi32(_mm512_setzero_si512(), p.z, a), p.s); }
  static Scales scales(__m128i sc128) {
    return _mm512_and_si512(_mm512_cvtepu16_epi32(_mm256_setr_m128i(sc128, sc128)), _mm512_set1_epi32(0xFFFF));
  }
  static Pair pair(const uint8_t* qs, Scales sc32, int g) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * g));
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(q, m4)),
                                         _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), 1);
    const __m512i s = _mm512_permutexvar_epi32(
        _mm512_setr_epi32(2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g + 1, 2 * g + 1, 2 * g + 1,
                          2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1),
        sc32);
    return {z, s};
  }
  // Q5_K: kq_q5_codes' codes, the scales (int16 sc0..sc7 in both halves) widened from their broadcasts
  static Pair pair5(__m256i lo, __m256i hi, __m256i scales, int g) {
    return {_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1),
            _mm512_cvtepu16_epi32(_mm256_setr_m128i(_mm256_castsi256_si128(kq_bcast16(scales, 2 * g)),
                                                    _mm256_castsi256_si128(kq_bcast16(scales, 2 * g + 1))))};
  }
  static Pair zero_pair() { return {zero(), zero()}; }
};
#endif

// Q4_K, MT tokens x one weight row: per super-block (prefetching 3 cache lines 4
// blocks ahead) the pair sums; GEMM tiles (4 tokens, llama.cpp's order) keep the
// 4 pair sums P[g] apart for q4_k_accumulate, GEMV tiles add them up.
template <class K, int MT>
inline void kq_q4k_tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
  using V = typename K::V;
  constexpr bool kGemm = MT == kKMaxTokens;  // llama.cpp's 4-token GEMM: the pair sums P[p] are needed
  constexpr int kG = kGemm ? 4 : 1;
  float acc[MT], accm[MT];
  for (int t = 0; t < MT; t++) acc[t] = accm[t] = 0.0f;
  for (int64_t b = 0; b < nb; b++) {
    const BlockQ4K* x = reinterpret_cast<const BlockQ4K*>(w + b * sizeof(BlockQ4K));
    kq_prefetch_ahead(x, 3, 4);
    const __m256i sm = kq_scales_mins16(x->scales);
    const __m128i sc128 = _mm256_castsi256_si128(sm), mn16 = _mm256_extracti128_si256(sm, 1);
    const typename K::Scales scales = K::scales(sc128);
    V pv[kG][MT];  // GEMM: per pair g; GEMV: one accumulator
    for (int t = 0; t < MT; t++) pv[0][t] = K::zero();
    for (int g = 0; g < 4; g++) {
      const typename K::Pair pair = K::pair(x->qs, scales, g);
      for (int t = 0; t < MT; t++) {
        const V p = K::dot(pair, K::acts(a.q + (i0 + t) * a.k + b * kQK_K + 64 * g));
        if (kGemm) pv[g % kG][t] = p;
        else pv[0][t] = K::add(pv[0][t], p);
      }
    }
    const float dw = _cvtsh_ss(x->d), mw = _cvtsh_ss(x->dmin);
    for (int t = 0; t < MT; t++) {
      const __m128i M4 = kq_min_pairs(mn16, a.bsp + (i0 + t) * (a.k / 32) + b * 8);
      const float da = a.d[(i0 + t) * nb + b];
      if (kGemm) {
        alignas(16) int32_t P[4], M[4];
        _mm_store_si128(reinterpret_cast<__m128i*>(P), kq_hsum4_i32(K::lanes8(pv[0][t]), K::lanes8(pv[1 % kG][t]),
                                                                    K::lanes8(pv[2 % kG][t]), K::lanes8(pv[3 % kG][t])));
        _mm_store_si128(reinterpret_cast<__m128i*>(M), M4);
        q4_k_accumulate<true>(P, M, dw * da, mw * da, acc[t], accm[t]);
      } else {
        acc[t] = __builtin_fmaf((float)K::hsum(pv[0][t]), dw * da, acc[t]);
        accm[t] = __builtin_fmaf((float)kq_hsum4(M4), mw * da, accm[t]);
      }
    }
  }
  for (int t = 0; t < MT; t++) c[t * ldc] = acc[t] - accm[t];
}

// Q4_K decode (K::rows8): one token x 8 weight rows per pass, their exact
// per-row block sums reduced into one vector so the reference's two FMAs per
// row and block run as two 8-lane FMAs (each lane the same single rounding).
template <class K>
inline void kq_q4k_rows8(const KAct& a, int64_t i, const uint8_t* w, int64_t row_bytes, int64_t nb, float* c, int nr) {
  __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const typename K::BlockActs ba = K::block_acts(a.q + i * a.k + b * kQK_K);
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
      kq_prefetch_ahead(x, 3);
      dh[r] = x->d;
      mh[r] = x->dmin;
      const __m256i sm = kq_scales_mins16(x->scales);
      const typename K::Scales scales = K::scales(_mm256_castsi256_si128(sm));
      mv[r] = _mm_madd_epi16(_mm256_extracti128_si256(sm, 1), bsp);
      typename K::V sum = K::zero();
      for (int g = 0; g < 4; g++) sum = K::add(sum, K::dot(K::pair(x->qs, scales, g), K::acts_of(ba, g)));
      v[r] = K::lanes8(sum);
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

// Q4_K's 4-token x 8-row tile (rows8x4), the step of super-block b once the
// rows' blocks are loaded: dh / mh the rows' f16 d / dmin, mn their mins;
// dot(qa, g, v) sets v[r] to row r's eight int32 lanes of sub-block pair g for
// the token's 64 activations qa. Per token: acc += (d * da) * (sum of the
// pair's lanes), accm += (dmin * da) * M[g], for the 8 rows at once.
template <class Dot>
inline void kq_q4k_rows8x4_step(const KAct& a, int64_t i0, int64_t nb, int64_t b, const uint16_t* dh, const uint16_t* mh,
                                const __m128i mn[8], __m256 acc[4], __m256 accm[4], Dot&& dot) {
  const __m256 dw = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dh)));
  const __m256 mw = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(mh)));
  for (int t = 0; t < 4; t++) {
    const int64_t i = i0 + t;
    const int8_t* qa = a.q + i * a.k + b * kQK_K;
    const __m256 da = _mm256_set1_ps(a.d[i * nb + b]);
    const __m256 dd = _mm256_mul_ps(dw, da), dm = _mm256_mul_ps(mw, da);
    // M[g] of the 8 rows: per row 4 lanes (g), transposed to 4 vectors of 8 rows
    const __m128i bsp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a.bsp + i * (a.k / 32) + b * 8));
    __m128i mv[8];
    for (int r = 0; r < 8; r++) mv[r] = _mm_madd_epi16(mn[r], bsp);
    __m256i M[4];
    for (int h = 0; h < 2; h++) {  // rows 4h .. 4h + 3
      const __m128i t0 = _mm_unpacklo_epi32(mv[4 * h], mv[4 * h + 1]), t1 = _mm_unpackhi_epi32(mv[4 * h], mv[4 * h + 1]);
      const __m128i t2 = _mm_unpacklo_epi32(mv[4 * h + 2], mv[4 * h + 3]), t3 = _mm_unpackhi_epi32(mv[4 * h + 2], mv[4 * h + 3]);
      const __m128i g0 = _mm_unpacklo_epi64(t0, t2), g1 = _mm_unpackhi_epi64(t0, t2);
      const __m128i g2 = _mm_unpacklo_epi64(t1, t3), g3 = _mm_unpackhi_epi64(t1, t3);
      if (h == 0) {
        M[0] = _mm256_castsi128_si256(g0), M[1] = _mm256_castsi128_si256(g1);
        M[2] = _mm256_castsi128_si256(g2), M[3] = _mm256_castsi128_si256(g3);
      } else {
        M[0] = _mm256_inserti128_si256(M[0], g0, 1), M[1] = _mm256_inserti128_si256(M[1], g1, 1);
        M[2] = _mm256_inserti128_si256(M[2], g2, 1), M[3] = _mm256_inserti128_si256(M[3], g3, 1);
      }
    }
    for (int g = 0; g < 4; g++) {
      __m256i v[8];
      dot(qa + 64 * g, g, v);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(kq_hsum8x8_i32(v)), dd, acc[t]);
      accm[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(M[g]), dm, accm[t]);
    }
  }
}

// Q4_K prefill (K::rows8x4, llama.cpp's 4-token GEMM order): 4 tokens x 8 rows
// per pass; per token and pair g the 8 rows' exact sums P[g] (and M[g]) in one
// vector, so the reference's per-pair FMAs run 8 rows wide (each lane the same
// rounding). The rows' pairs are loaded once per super-block for the 4 tokens.
template <class K>
inline void kq_q4k_rows8x4(const KAct& a, int64_t i0, const uint8_t* w, int64_t row_bytes, int64_t nb, float* c,
                           int64_t ldc, int nr) {
  __m256 acc[4], accm[4];
  for (int t = 0; t < 4; t++) acc[t] = accm[t] = _mm256_setzero_ps();
  typename K::Pair pairs[4][8];
  __m128i mn[8];
  for (int64_t b = 0; b < nb; b++) {
    alignas(16) uint16_t dh[8] = {0, 0, 0, 0, 0, 0, 0, 0}, mh[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int r = 0; r < 8; r++) {
      if (r >= nr) {
        for (int g = 0; g < 4; g++) pairs[g][r] = K::zero_pair();
        mn[r] = _mm_setzero_si128();
        continue;
      }
      const BlockQ4K* x = reinterpret_cast<const BlockQ4K*>(w + r * row_bytes + b * sizeof(BlockQ4K));
      dh[r] = x->d;
      mh[r] = x->dmin;
      const __m256i sm = kq_scales_mins16(x->scales);
      const typename K::Scales scales = K::scales(_mm256_castsi256_si128(sm));
      mn[r] = _mm256_extracti128_si256(sm, 1);
      for (int g = 0; g < 4; g++) pairs[g][r] = K::pair(x->qs, scales, g);
    }
    kq_q4k_rows8x4_step(a, i0, nb, b, dh, mh, mn, acc, accm, [&](const int8_t* qa, int g, __m256i v[8]) {
      const typename K::Acts av = K::acts(qa);
      for (int r = 0; r < 8; r++) v[r] = K::lanes8(K::dot(pairs[g][r], av));
    });
  }
  for (int t = 0; t < 4; t++) {
    alignas(32) float out[8];
    _mm256_store_ps(out, _mm256_sub_ps(acc[t], accm[t]));
    for (int r = 0; r < nr; r++) c[t * ldc + r] = out[r];
  }
}

// Q4_K's tiles on K's micro-kernel (kquant_run's tile, rows8 and rows8x4).
template <class K>
struct KqQ4KTiles {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    kq_q4k_tile<K, MT>(a, i0, w, nb, c, ldc);
  }
  static constexpr bool kRows8 = true;
  static void rows8(const KAct& a, int64_t i, const uint8_t* w, int64_t row_bytes, int64_t nb, float* c, int nr) {
    kq_q4k_rows8<K>(a, i, w, row_bytes, nb, c, nr);
  }
  static constexpr bool kRows8x4 = true;
  static void rows8x4(const KAct& a, int64_t i0, const uint8_t* w, int64_t row_bytes, int64_t nb, float* c, int64_t ldc,
                      int nr) {
    kq_q4k_rows8x4<K>(a, i0, w, row_bytes, nb, c, ldc, nr);
  }
};

// Q5_K's tile (kquant_run's tile), as llama.cpp's ggml_vec_dot_q5_K_q8_K: per
// super-block (3 cache lines prefetched two ahead) its scales, mins and fifth
// bits, per pair the 5-bit codes; the pair products accumulate exactly, one FMA
// per lane per super-block; the mins term by a scalar FMA, added after the
// lanes' sum (one rounding).
template <class K>
struct KqQ5KTiles {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    float summs[MT];  // the mins' terms, added to the lanes' sum at the end
    for (int t = 0; t < MT; t++) summs[t] = 0.0f;
    kq_tile_lanes<BlockQ5K, MT>(w, nb, 3, c, ldc, [&](const BlockQ5K* x, int64_t b, __m256* acc) {
      __m256i scales;
      __m128i mn16;
      kq_q5_scales(x->scales, &scales, &mn16);
      const __m256i hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qh));
      typename K::V sumi[MT];
      for (int t = 0; t < MT; t++) sumi[t] = K::zero();
      for (int g = 0; g < 4; g++) {
        __m256i lo, hi;
        kq_q5_codes(x->qs, hbits, g, &lo, &hi);
        const typename K::Pair pair = K::pair5(lo, hi, scales, g);
        for (int t = 0; t < MT; t++)
          sumi[t] = K::add(sumi[t], K::dot(pair, K::acts(a.q + (i0 + t) * a.k + b * kQK_K + 64 * g)));
      }
      const float dw = _cvtsh_ss(x->d), mw = _cvtsh_ss(x->dmin);
      for (int t = 0; t < MT; t++) {
        const float da = a.d[(i0 + t) * nb + b];
        summs[t] = kq_q5_mins(a, i0 + t, b, mn16, da, mw, summs[t]);
        acc[t] = kq_fma_lanes(K::lanes8(sumi[t]), da * dw, acc[t]);
      }
    });
    for (int t = 0; t < MT; t++) c[t * ldc] += summs[t];  // = the lanes' sum + summs, one rounding as before
  }
};

}  // namespace
}  // namespace lowbit
