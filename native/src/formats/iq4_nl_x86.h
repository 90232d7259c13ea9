// IQ4_NL's kernel on its packed storage (iq4_nl.h: groups of 16 rows, one row
// per SIMD lane), shared by iq4_nl_avx2.cc / iq4_nl_avx512.cc (internal
// linkage, like kquant_x86.h). Per group, per tile of up to 4 tokens, per
// block of 32: the 4 chunks of 4 codes x lanes through the table (vpshufb),
// their exact dot with the token's 32 activations per row, then the
// reference's one FMA per block lane-wise (each lane the scalar rounding).
// A class L supplies the lane width and the byte dot product:
//   L::kLanes (16: AVX-512, 8: AVX2; AVX2 runs a group as two passes of 8 rows)
//   L::dot(v, alo, ahi, slo, shi): v = kLanes rows x 4 indices' values; slo +=
//     the low nibbles' . alo (4 activation bytes), shi += the high ones' . ahi, possibly
//     offset: L::kOffset (AVX-512: the values + 128 as the u8 operand of
//     vpdpbusd) times the 32 activations' sum is then subtracted.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "formats/iq4_nl.h"
#include "formats/kquant.h"

namespace lowbit {
namespace {

inline int32_t iq4nl_load4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// AVX2: the signed values (vpshufb on the table), |v| x a with v's sign
// (vpsignb), vpmaddubsw (pairs <= 32258: no saturation), vpmaddwd by ones.
struct IQ4NLLanesAvx2 {
  static constexpr int kLanes = 8;
  static constexpr int kOffset = 0;
  using I = __m256i;
  using F = __m256;
  static I zero() { return _mm256_setzero_si256(); }
  static F fzero() { return _mm256_setzero_ps(); }
  static I sub_offset(I s, int32_t) { return s; }
  static F halves(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static F cvt(I x) { return _mm256_cvtepi32_ps(x); }
  static F set1(float x) { return _mm256_set1_ps(x); }
  static F mul(F x, F y) { return _mm256_mul_ps(x, y); }
  static F fma(F x, F y, F z) { return _mm256_fmadd_ps(x, y, z); }
  static void store(float* c, F v, int n) {
    alignas(32) float out[8];
    _mm256_store_ps(out, v);
    for (int r = 0; r < n; r++) c[r] = out[r];
  }
  struct Vals {
    I lo, hi;
  };
  static Vals vals(const uint8_t* x) {
    const I lut = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
    const I q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)), m4 = _mm256_set1_epi8(15);
    return {_mm256_shuffle_epi8(lut, _mm256_and_si256(q, m4)), _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4))};
  }
  static I dot1(I v, int32_t a4) {
    const I a = _mm256_sign_epi8(_mm256_set1_epi32(a4), v);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(v, v), a), _mm256_set1_epi16(1));
  }
  static void dot(const Vals& v, int32_t alo, int32_t ahi, I& slo, I& shi) {
    slo = _mm256_add_epi32(slo, dot1(v.lo, alo));
    shi = _mm256_add_epi32(shi, dot1(v.hi, ahi));
  }
  static I add(I x, I y) { return _mm256_add_epi32(x, y); }
};

#if defined(__AVX512F__)
// AVX-512 VNNI: the values + 128 (1..241) as vpdpbusd's u8 operand; 128 x the
// activations' sum subtracted per block (exact int32).
struct IQ4NLLanesAvx512 {
  static constexpr int kLanes = 16;
  static constexpr int kOffset = 128;
  using I = __m512i;
  using F = __m512;
  static I zero() { return _mm512_setzero_si512(); }
  static F fzero() { return _mm512_setzero_ps(); }
  static I sub_offset(I s, int32_t off) { return _mm512_sub_epi32(s, _mm512_set1_epi32(off)); }
  static F halves(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static F cvt(I x) { return _mm512_cvtepi32_ps(x); }
  static F set1(float x) { return _mm512_set1_ps(x); }
  static F mul(F x, F y) { return _mm512_mul_ps(x, y); }
  static F fma(F x, F y, F z) { return _mm512_fmadd_ps(x, y, z); }
  static void store(float* c, F v, int n) { _mm512_mask_storeu_ps(c, (__mmask16)((1u << n) - 1), v); }
  struct Vals {
    I lo, hi;
  };
  static Vals vals(const uint8_t* x) {
    alignas(16) uint8_t u[16];
    for (int i = 0; i < 16; i++) u[i] = (uint8_t)(kIq4nlValues[i] + 128);
    const I lut = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(u)));
    const I q = _mm512_loadu_si512(x), m4 = _mm512_set1_epi8(15);
    return {_mm512_shuffle_epi8(lut, _mm512_and_si512(q, m4)), _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4))};
  }
  static void dot(const Vals& v, int32_t alo, int32_t ahi, I& slo, I& shi) {
    slo = _mm512_dpbusd_epi32(slo, v.lo, _mm512_set1_epi32(alo));
    shi = _mm512_dpbusd_epi32(shi, v.hi, _mm512_set1_epi32(ahi));
  }
  static I add(I x, I y) { return _mm512_add_epi32(x, y); }
};
#endif

constexpr int64_t kIQ4NLPrefetch = 8 * kIQ4NLGroupBlock;

// MT tokens (i0 ..) x the lanes [h, h + L::kLanes) of group gp: c[t * ldc + r] for r < nr.
// asum: the tokens' block sums of activation codes (L::kOffset != 0), [m][nb].
template <class L, int MT>
inline void iq4nl_packed_tile(const KAct& a, int64_t i0, const uint8_t* gp, int h, int64_t nb, const int32_t* asum,
                              float* c, int64_t ldc, int nr) {
  using I = typename L::I;
  using F = typename L::F;
  F acc[MT];
  for (int t = 0; t < MT; t++) acc[t] = L::fzero();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* x = gp + b * kIQ4NLGroupBlock;
    if (MT == 1)  // decode streams each group once: kIQ4NLPrefetch ahead on its way
      for (int64_t o = 0; o < kIQ4NLGroupBlock; o += 64) _mm_prefetch(reinterpret_cast<const char*>(x) + kIQ4NLPrefetch + o, _MM_HINT_T0);
    I s[MT], sh[MT];  // the low and the high nibbles' sums apart: two dependency chains per token
    for (int t = 0; t < MT; t++) s[t] = sh[t] = L::zero();
    for (int ch = 0; ch < 4; ch++) {
      const typename L::Vals v = L::vals(x + 32 + 64 * ch + 4 * h);
      for (int t = 0; t < MT; t++) {
        const int8_t* qa = a.q + (i0 + t) * a.k + b * 32 + 4 * ch;
        L::dot(v, iq4nl_load4(qa), iq4nl_load4(qa + 16), s[t], sh[t]);
      }
    }
    const F dw = L::halves(x + 2 * h);
    for (int t = 0; t < MT; t++) {
      const I st = L::add(s[t], sh[t]);
      const I sumi = L::kOffset ? L::sub_offset(st, L::kOffset * asum[(i0 + t) * nb + b]) : st;
      acc[t] = L::fma(L::cvt(sumi), L::mul(dw, L::set1(a.d[(i0 + t) * nb + b])), acc[t]);
    }
  }
  for (int t = 0; t < MT; t++) L::store(c + t * ldc, acc[t], nr);
}

// The matmul (KMatmul) on the packed storage; j0 % 16 == 0. Groups outer,
// token tiles of 4 inner, the last m % 4 tokens in one tile of their size.
template <class L>
inline void iq4nl_packed_run(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                             int64_t j0, int64_t j1) {
  const int64_t nb = a.k / 32;
  std::vector<int32_t> asum(L::kOffset ? (size_t)(m * nb) : 0);
  if (L::kOffset)
    for (int64_t i = 0; i < m * nb; i++) {
      int32_t s = 0;
      for (int e = 0; e < 32; e++) s += a.q[i * 32 + e];
      asum[i] = s;
    }
  for (int64_t j = j0; j < j1; j += kIQ4NLRows) {
    const uint8_t* gp = W + (j / kIQ4NLRows) * kIQ4NLRows * row_bytes;
    for (int h = 0; h < kIQ4NLRows; h += L::kLanes) {
      const int nr = (int)std::min<int64_t>(L::kLanes, j1 - j - h);
      if (nr <= 0) break;
      float* c = C + j + h;
      int64_t i = 0;
      for (; i + 4 <= m; i += 4) iq4nl_packed_tile<L, 4>(a, i, gp, h, nb, asum.data(), c + i * ldc, ldc, nr);
      switch (m - i) {
        case 3: iq4nl_packed_tile<L, 3>(a, i, gp, h, nb, asum.data(), c + i * ldc, ldc, nr); break;
        case 2: iq4nl_packed_tile<L, 2>(a, i, gp, h, nb, asum.data(), c + i * ldc, ldc, nr); break;
        case 1: iq4nl_packed_tile<L, 1>(a, i, gp, h, nb, asum.data(), c + i * ldc, ldc, nr); break;
        default: break;
      }
    }
  }
}

}  // namespace
}  // namespace lowbit
