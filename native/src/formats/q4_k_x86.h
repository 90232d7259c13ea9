// Q4_K's kernel on its packed storage (q4_k.h: groups of 16 rows, one row per
// SIMD lane), shared by q4_k_avx2.cc / q4_k_avx512.cc (internal linkage, like
// kquant_x86.h). Per group, per tile of up to 4 tokens (llama.cpp's GEMM order
// for whole tiles of 4, its GEMV order for the rest: q4_k.h), per super-block:
//   the rows' 6-bit scales and mins widened to int32 lanes (ggml's
//   get_scale_min_k4, lane-wise), d and dmin to f32 lanes;
//   per pair p, the 8 chunks of 4 codes x lanes: lo += (low nibbles) . a,
//   hi += (high nibbles) . a, exact int32 per row; then per row
//     P = sc[2p] lo + sc[2p + 1] hi,  M = mn[2p] bsp[2p] + mn[2p + 1] bsp[2p + 1]
//   and the reference's FMAs lane-wise (each lane the scalar rounding).
// A class L supplies the lane width and the byte dot products:
//   L::kLanes (16: AVX-512, 8: AVX2; AVX2 runs a group as two passes of 8 rows)
//   L::I / L::F  int32 / f32 vectors of kLanes; zero, add, mullo, cvt, fma, ...
//   L::dot2(x, alo, ahi, lo, hi): x = kLanes rows x 4 code bytes; lo += low
//     nibbles . alo (4 activation bytes), hi += high nibbles . ahi, where hi
//     may be kept as 16 x the sum (AVX-512: the nibbles not shifted down) and
//     L::hi_sum(hi) gives the sum.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "formats/kquant.h"
#include "formats/q4_k.h"

namespace lowbit {
namespace {

inline int32_t q4k_load4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

struct Q4KLanesAvx2 {
  static constexpr int kLanes = 8;
  using I = __m256i;
  using F = __m256;
  static I zero() { return _mm256_setzero_si256(); }
  static F fzero() { return _mm256_setzero_ps(); }
  static I add(I x, I y) { return _mm256_add_epi32(x, y); }
  static I mullo(I x, I y) { return _mm256_mullo_epi32(x, y); }
  static I bytes(const uint8_t* p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
  static I and_(I x, int m) { return _mm256_and_si256(x, _mm256_set1_epi32(m)); }
  static I or_(I x, I y) { return _mm256_or_si256(x, y); }
  static I srl(I x, int n) { return _mm256_srli_epi32(x, n); }
  static I sll(I x, int n) { return _mm256_slli_epi32(x, n); }
  static I madd16(I x, int32_t pair) { return _mm256_madd_epi16(x, _mm256_set1_epi32(pair)); }
  static F halves(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static F cvt(I x) { return _mm256_cvtepi32_ps(x); }
  static F set1(float x) { return _mm256_set1_ps(x); }
  static F mul(F x, F y) { return _mm256_mul_ps(x, y); }
  static F fma(F x, F y, F z) { return _mm256_fmadd_ps(x, y, z); }
  static F sub(F x, F y) { return _mm256_sub_ps(x, y); }
  static void store(float* c, F v, int n) {
    alignas(32) float out[8];
    _mm256_store_ps(out, v);
    for (int r = 0; r < n; r++) c[r] = out[r];
  }
  // vpmaddubsw (u4 x s8 pairs <= 3810: no saturation) then vpmaddwd by ones
  static void dot2(const uint8_t* x, int32_t alo, int32_t ahi, I& lo, I& hi) {
    const I q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)), m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi16(1);
    const I l = _mm256_and_si256(q, m4), h = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_maddubs_epi16(l, _mm256_set1_epi32(alo)), one));
    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_maddubs_epi16(h, _mm256_set1_epi32(ahi)), one));
  }
  static I hi_sum(I hi) { return hi; }
};

#if defined(__AVX512F__)
struct Q4KLanesAvx512 {
  static constexpr int kLanes = 16;
  using I = __m512i;
  using F = __m512;
  static I zero() { return _mm512_setzero_si512(); }
  static F fzero() { return _mm512_setzero_ps(); }
  static I add(I x, I y) { return _mm512_add_epi32(x, y); }
  static I mullo(I x, I y) { return _mm512_mullo_epi32(x, y); }
  static I bytes(const uint8_t* p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static I and_(I x, int m) { return _mm512_and_si512(x, _mm512_set1_epi32(m)); }
  static I or_(I x, I y) { return _mm512_or_si512(x, y); }
  static I srl(I x, int n) { return _mm512_srli_epi32(x, n); }
  static I sll(I x, int n) { return _mm512_slli_epi32(x, n); }
  static I madd16(I x, int32_t pair) { return _mm512_madd_epi16(x, _mm512_set1_epi32(pair)); }
  static F halves(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static F cvt(I x) { return _mm512_cvtepi32_ps(x); }
  static F set1(float x) { return _mm512_set1_ps(x); }
  static F mul(F x, F y) { return _mm512_mul_ps(x, y); }
  static F fma(F x, F y, F z) { return _mm512_fmadd_ps(x, y, z); }
  static F sub(F x, F y) { return _mm512_sub_ps(x, y); }
  static void store(float* c, F v, int n) { _mm512_mask_storeu_ps(c, (__mmask16)((1u << n) - 1), v); }
  // vpdpbusd: u8 codes x s8 activations, 4 products per row lane; the high
  // nibbles kept in place (16 u, <= 240): hi = 16 x the sum, exact (<= 2^20)
  static void dot2(const uint8_t* x, int32_t alo, int32_t ahi, I& lo, I& hi) {
    const I q = _mm512_loadu_si512(x);
    lo = _mm512_dpbusd_epi32(lo, _mm512_and_si512(q, _mm512_set1_epi8(15)), _mm512_set1_epi32(alo));
    hi = _mm512_dpbusd_epi32(hi, _mm512_and_si512(q, _mm512_set1_epi8((char)0xF0)), _mm512_set1_epi32(ahi));
  }
  static I hi_sum(I hi) { return _mm512_srai_epi32(hi, 4); }
};
#endif

constexpr int64_t kQ4KPrefetch = 2 * kQ4KGroupBlock;

// MT tokens (i0 ..) x the lanes [h, h + L::kLanes) of group gp (16 rows): c[t * ldc + r] for r < nr.
template <class L, int MT>
inline void q4k_packed_tile(const KAct& a, int64_t i0, const uint8_t* gp, int h, int64_t nb, float* c, int64_t ldc, int nr) {
  using I = typename L::I;
  using F = typename L::F;
  constexpr bool kGemm = MT == 4;  // llama.cpp's 4-token GEMM: one FMA per pair
  F acc[MT], accm[MT];
  for (int t = 0; t < MT; t++) acc[t] = accm[t] = L::fzero();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* x = gp + b * kQ4KGroupBlock;
    if (MT == 1)  // decode streams each group once: the super-block kQ4KPrefetch ahead on its way
      for (int64_t o = 0; o < kQ4KGroupBlock; o += 64) _mm_prefetch(reinterpret_cast<const char*>(x) + kQ4KPrefetch + o, _MM_HINT_T0);
    // get_scale_min_k4 lane-wise: q[j] = byte j of the lanes' rows
    I q[12];
    for (int j = 0; j < 12; j++) q[j] = L::bytes(x + 64 + 16 * j + h);
    I sc[8], mnp[4];  // mnp[p]: (mn[2p], mn[2p + 1]) as int16 pairs
    I mn[8];
    for (int j = 0; j < 4; j++) {
      sc[j] = L::and_(q[j], 63);
      mn[j] = L::and_(q[j + 4], 63);
    }
    for (int j = 4; j < 8; j++) {
      sc[j] = L::or_(L::and_(q[j + 4], 15), L::sll(L::srl(q[j - 4], 6), 4));
      mn[j] = L::or_(L::srl(q[j + 4], 4), L::sll(L::srl(q[j], 6), 4));
    }
    for (int p = 0; p < 4; p++) mnp[p] = L::or_(mn[2 * p], L::sll(mn[2 * p + 1], 16));
    const F dw = L::halves(x + 2 * h), mw = L::halves(x + 32 + 2 * h);
    I lo[MT], hi[MT], Ps[MT], Ms[MT];
    for (int t = 0; t < MT; t++) Ps[t] = Ms[t] = L::zero();
    F dd[MT], dm[MT];
    for (int t = 0; t < MT; t++) {
      const F da = L::set1(a.d[(i0 + t) * nb + b]);
      dd[t] = L::mul(dw, da);
      dm[t] = L::mul(mw, da);
    }
    for (int p = 0; p < 4; p++) {
      for (int t = 0; t < MT; t++) lo[t] = hi[t] = L::zero();
      for (int g = 0; g < 8; g++) {
        const uint8_t* chunk = x + 256 + 64 * (8 * p + g) + 4 * h;
        for (int t = 0; t < MT; t++) {
          const int8_t* qa = a.q + (i0 + t) * a.k + b * kQK_K + 64 * p + 4 * g;
          L::dot2(chunk, q4k_load4(qa), q4k_load4(qa + 32), lo[t], hi[t]);
        }
      }
      for (int t = 0; t < MT; t++) {
        const I P = L::add(L::mullo(lo[t], sc[2 * p]), L::mullo(L::hi_sum(hi[t]), sc[2 * p + 1]));
        const I M = L::madd16(mnp[p], q4k_load4(a.bsp + (i0 + t) * (a.k / 32) + b * 8 + 2 * p));
        if (kGemm) {
          acc[t] = L::fma(L::cvt(P), dd[t], acc[t]);
          accm[t] = L::fma(L::cvt(M), dm[t], accm[t]);
        } else {
          Ps[t] = L::add(Ps[t], P);
          Ms[t] = L::add(Ms[t], M);
        }
      }
    }
    if (!kGemm)
      for (int t = 0; t < MT; t++) {
        acc[t] = L::fma(L::cvt(Ps[t]), dd[t], acc[t]);
        accm[t] = L::fma(L::cvt(Ms[t]), dm[t], accm[t]);
      }
  }
  for (int t = 0; t < MT; t++) L::store(c + t * ldc, L::sub(acc[t], accm[t]), nr);
}

// The matmul (KMatmul) on the packed storage; j0 % 16 == 0. Groups outer (a
// group's 16 rows stay in cache), token tiles of 4 inner, the last m % 4
// tokens in one tile of their size.
template <class L>
inline void q4k_packed_run(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                           int64_t j1) {
  const int64_t nb = a.k / kQK_K;
  for (int64_t j = j0; j < j1; j += kQ4KRows) {
    const uint8_t* gp = W + (j / kQ4KRows) * kQ4KRows * row_bytes;
    for (int h = 0; h < kQ4KRows; h += L::kLanes) {
      const int nr = (int)std::min<int64_t>(L::kLanes, j1 - j - h);
      if (nr <= 0) break;
      float* c = C + j + h;
      int64_t i = 0;
      for (; i + 4 <= m; i += 4) q4k_packed_tile<L, 4>(a, i, gp, h, nb, c + i * ldc, ldc, nr);
      switch (m - i) {
        case 3: q4k_packed_tile<L, 3>(a, i, gp, h, nb, c + i * ldc, ldc, nr); break;
        case 2: q4k_packed_tile<L, 2>(a, i, gp, h, nb, c + i * ldc, ldc, nr); break;
        case 1: q4k_packed_tile<L, 1>(a, i, gp, h, nb, c + i * ldc, ldc, nr); break;
        default: break;
      }
    }
  }
}

}  // namespace
}  // namespace lowbit
