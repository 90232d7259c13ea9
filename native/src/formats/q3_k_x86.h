// Q3_K's kernel on its packed storage (q3_k.h: groups of 16 rows, one row per
// SIMD lane), shared by q3_k_avx2.cc / q3_k_avx512.cc (internal linkage, like
// kquant_x86.h). Per group, per tile of up to 4 tokens, per super-block:
//   the rows' 16 scales - 32 as int32 lanes (the word formula of q3_k.h, lane-wise);
//   per reference lane l (elements 128 j + 32 c + 4 l + i), per 4-element group
//   (j, c): its codes u from the qs and hmask chunks of l, the exact dot
//   (u - 4) . a = u . a - 4 (sum of the 4 activations) per row, times the
//   group's sub-block scale, summed into L[l] (exact int32);
//   acc[l] = fma(da * d, (float)L[l], acc[l]) lane-wise;
// then C = the reference's sum of the eight acc[l] (each lane the scalar rounding).
// A class L supplies the lane width and the byte dot product:
//   L::kLanes (16: AVX-512, 8: AVX2; AVX2 runs a group as two passes of 8 rows)
//   L::codes(q, h, c, hb): the bytes ((q >> 2c) & 3) | (((h >> hb) & 1) << 2)
//   L::dot4(u, a4): per lane the dot of its 4 code bytes with the 4 activation bytes a4
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "formats/kquant.h"
#include "formats/q3_k.h"

namespace lowbit {
namespace {

inline int32_t q3k_load4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

struct Q3KLanesAvx2 {
  static constexpr int kLanes = 8;
  using I = __m256i;
  using F = __m256;
  static I zero() { return _mm256_setzero_si256(); }
  static F fzero() { return _mm256_setzero_ps(); }
  static I add(I x, I y) { return _mm256_add_epi32(x, y); }
  static I sub1(I x, int32_t y) { return _mm256_sub_epi32(x, _mm256_set1_epi32(y)); }
  static I mullo(I x, I y) { return _mm256_mullo_epi32(x, y); }
  static I bytes(const uint8_t* p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
  static I and_(I x, int m) { return _mm256_and_si256(x, _mm256_set1_epi32(m)); }
  static I or_(I x, I y) { return _mm256_or_si256(x, y); }
  static I srl(I x, int n) { return _mm256_srli_epi32(x, n); }
  static I sll(I x, int n) { return _mm256_slli_epi32(x, n); }
  static I load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static F halves(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static F cvt(I x) { return _mm256_cvtepi32_ps(x); }
  static F set1(float x) { return _mm256_set1_ps(x); }
  static F mul(F x, F y) { return _mm256_mul_ps(x, y); }
  static F fma(F x, F y, F z) { return _mm256_fmadd_ps(x, y, z); }
  static F addf(F x, F y) { return _mm256_add_ps(x, y); }
  static void store(float* c, F v, int n) {
    alignas(32) float out[8];
    _mm256_store_ps(out, v);
    for (int r = 0; r < n; r++) c[r] = out[r];
  }
  static I codes(I q, I h, int c, int hb) {
    const I lo = _mm256_and_si256(_mm256_srli_epi16(q, 2 * c), _mm256_set1_epi8(3));
    const I hi = hb >= 2 ? _mm256_srli_epi16(h, hb - 2) : _mm256_slli_epi16(h, 2 - hb);
    return _mm256_or_si256(lo, _mm256_and_si256(hi, _mm256_set1_epi8(4)));
  }
  // vpmaddubsw (u <= 7 x s8 pairs: no saturation), vpmaddwd by ones
  static I dot4(I u, int32_t a4) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_set1_epi32(a4)), _mm256_set1_epi16(1));
  }
};

#if defined(__AVX512F__)
struct Q3KLanesAvx512 {
  static constexpr int kLanes = 16;
  using I = __m512i;
  using F = __m512;
  static I zero() { return _mm512_setzero_si512(); }
  static F fzero() { return _mm512_setzero_ps(); }
  static I add(I x, I y) { return _mm512_add_epi32(x, y); }
  static I sub1(I x, int32_t y) { return _mm512_sub_epi32(x, _mm512_set1_epi32(y)); }
  static I mullo(I x, I y) { return _mm512_mullo_epi32(x, y); }
  static I bytes(const uint8_t* p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static I and_(I x, int m) { return _mm512_and_si512(x, _mm512_set1_epi32(m)); }
  static I or_(I x, I y) { return _mm512_or_si512(x, y); }
  static I srl(I x, int n) { return _mm512_srli_epi32(x, n); }
  static I sll(I x, int n) { return _mm512_slli_epi32(x, n); }
  static I load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static F halves(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static F cvt(I x) { return _mm512_cvtepi32_ps(x); }
  static F set1(float x) { return _mm512_set1_ps(x); }
  static F mul(F x, F y) { return _mm512_mul_ps(x, y); }
  static F fma(F x, F y, F z) { return _mm512_fmadd_ps(x, y, z); }
  static F addf(F x, F y) { return _mm512_add_ps(x, y); }
  static void store(float* c, F v, int n) { _mm512_mask_storeu_ps(c, (__mmask16)((1u << n) - 1), v); }
  // (bits 0-1 from q >> 2c, bit 2 from h shifted into place, the rest 0): one vpternlogd, one vpandd
  static I codes(I q, I h, int c, int hb) {
    const I lo = _mm512_srli_epi16(q, 2 * c);
    const I hi = hb >= 2 ? _mm512_srli_epi16(h, hb - 2) : _mm512_slli_epi16(h, 2 - hb);
    // M ? lo : hi with M = 0x03 per byte, then & 7
    return _mm512_and_si512(_mm512_ternarylogic_epi32(_mm512_set1_epi8(3), lo, hi, 0xCA), _mm512_set1_epi8(7));
  }
  static I dot4(I u, int32_t a4) { return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, _mm512_set1_epi32(a4)); }
};
#endif

constexpr int64_t kQ3KPrefetch = 2 * kQ3KGroupBlock;

// MT tokens (i0 ..) x the lanes [h, h + L::kLanes) of group gp: c[t * ldc + r] for r < nr.
// a4: 4 x the sum of every 4 consecutive activation codes, [m][k / 4].
template <class L, int MT>
inline void q3k_packed_tile(const KAct& a, int64_t i0, const uint8_t* gp, int h, int64_t nb, const int32_t* a4,
                            float* c, int64_t ldc, int nr) {
  using I = typename L::I;
  using F = typename L::F;
  F acc[MT][8];
  for (int t = 0; t < MT; t++)
    for (int l = 0; l < 8; l++) acc[t][l] = L::fzero();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* x = gp + b * kQ3KGroupBlock;
    if (MT == 1)  // decode streams each group once: kQ3KPrefetch ahead on its way
      for (int64_t o = 0; o < kQ3KGroupBlock; o += 64) _mm_prefetch(reinterpret_cast<const char*>(x) + kQ3KPrefetch + o, _MM_HINT_T0);
    I q[12];
    for (int j = 0; j < 12; j++) q[j] = L::bytes(x + 32 + 16 * j + h);
    I sc[16];  // scale - 32 of each 16-element sub-block (q3_k.h's words, lane-wise)
    for (int i = 0; i < 4; i++) {
      sc[i] = L::or_(L::and_(q[i], 15), L::sll(L::and_(q[8 + i], 3), 4));
      sc[4 + i] = L::or_(L::and_(q[4 + i], 15), L::sll(L::and_(L::srl(q[8 + i], 2), 3), 4));
      sc[8 + i] = L::or_(L::srl(q[i], 4), L::sll(L::and_(L::srl(q[8 + i], 4), 3), 4));
      sc[12 + i] = L::or_(L::srl(q[4 + i], 4), L::sll(L::srl(q[8 + i], 6), 4));
    }
    for (int s = 0; s < 16; s++) sc[s] = L::sub1(sc[s], 32);
    const F dw = L::halves(x + 2 * h);
    F dd[MT];
    for (int t = 0; t < MT; t++) dd[t] = L::mul(L::set1(a.d[(i0 + t) * nb + b]), dw);
    for (int l = 0; l < 8; l++) {
      const I hv = L::load(x + 224 + 64 * l + 4 * h);
      I lane[MT];
      for (int t = 0; t < MT; t++) lane[t] = L::zero();
      for (int j = 0; j < 2; j++) {
        const I qv = L::load(x + 736 + 64 * (8 * j + l) + 4 * h);
        for (int cc = 0; cc < 4; cc++) {
          const I u = L::codes(qv, hv, cc, 4 * j + cc);
          const I s = sc[8 * j + 2 * cc + l / 4];
          const int64_t e = b * kQK_K + 128 * j + 32 * cc + 4 * l;  // the group's first element
          for (int t = 0; t < MT; t++) {
            const I d = L::sub1(L::dot4(u, q3k_load4(a.q + (i0 + t) * a.k + e)), a4[(i0 + t) * (a.k / 4) + e / 4]);
            lane[t] = L::add(lane[t], L::mullo(d, s));
          }
        }
      }
      for (int t = 0; t < MT; t++) acc[t][l] = L::fma(dd[t], L::cvt(lane[t]), acc[t][l]);
    }
  }
  for (int t = 0; t < MT; t++) {
    const F* v = acc[t];
    L::store(c + t * ldc, L::addf(L::addf(L::addf(v[0], v[4]), L::addf(v[2], v[6])), L::addf(L::addf(v[1], v[5]), L::addf(v[3], v[7]))), nr);
  }
}

// The matmul (KMatmul) on the packed storage; j0 % 16 == 0. Groups outer,
// token tiles of 4 inner, the last m % 4 tokens in one tile of their size.
template <class L>
inline void q3k_packed_run(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                           int64_t j1) {
  const int64_t nb = a.k / kQK_K;
  std::vector<int32_t> a4((size_t)(m * a.k / 4));
  for (int64_t i = 0; i < m * a.k / 4; i++) a4[i] = 4 * (a.q[4 * i] + a.q[4 * i + 1] + a.q[4 * i + 2] + a.q[4 * i + 3]);
  for (int64_t j = j0; j < j1; j += kQ3KRows) {
    const uint8_t* gp = W + (j / kQ3KRows) * kQ3KRows * row_bytes;
    for (int h = 0; h < kQ3KRows; h += L::kLanes) {
      const int nr = (int)std::min<int64_t>(L::kLanes, j1 - j - h);
      if (nr <= 0) break;
      float* c = C + j + h;
      int64_t i = 0;
      for (; i + 4 <= m; i += 4) q3k_packed_tile<L, 4>(a, i, gp, h, nb, a4.data(), c + i * ldc, ldc, nr);
      switch (m - i) {
        case 3: q3k_packed_tile<L, 3>(a, i, gp, h, nb, a4.data(), c + i * ldc, ldc, nr); break;
        case 2: q3k_packed_tile<L, 2>(a, i, gp, h, nb, a4.data(), c + i * ldc, ldc, nr); break;
        case 1: q3k_packed_tile<L, 1>(a, i, gp, h, nb, a4.data(), c + i * ldc, ldc, nr); break;
        default: break;
      }
    }
  }
}

}  // namespace
}  // namespace lowbit
