// IQ4_XS's kernel on its packed storage (iq4_xs.h: groups of 16 rows, one row
// per SIMD lane), shared by iq4_xs_avx2.cc / iq4_xs_avx512.cc (internal
// linkage, like kquant_x86.h), on IQ4_NL's lane classes (iq4_nl_x86.h: the
// table by vpshufb, the byte dots). Per group, per tile of up to 4 tokens, per
// super-block and sub-block s: the rows' scales ls[s] - 32 as int32 lanes; per
// 4-byte chunk i of the sub-block, the dots of its low nibbles (elements
// 32s + 4i ..) and high nibbles (32s + 16 + 4i ..) with the activations, exact
// int32 per row; then, as iq4_xs.h defines it for m tokens:
//   kPanel (m >= 8): P += (ls[s] - 32) * (the sub-block's dot); per super-block
//     acc = fma((float)P, d * da, acc);
//   else: L[l] += (ls[s] - 32) * (the dot of lane l's 4 elements), l = i for
//     the low nibbles, i + 4 for the high ones; acc[l] = fma(d * da, (float)L[l], acc[l]),
//     C = the reference's sum of the eight acc[l];
// each lane the scalar rounding.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "formats/iq4_nl_x86.h"
#include "formats/iq4_xs.h"

namespace lowbit {
namespace {

// IQ4_NL's lanes plus the int32 lane steps of the scales and one dot at a time.
struct IQ4XSLanesAvx2 : IQ4NLLanesAvx2 {
  static I dot1v(I v, int32_t a4) { return dot1(v, a4); }
  static I mullo(I x, I y) { return _mm256_mullo_epi32(x, y); }
  static I words(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static I halfwords(const uint8_t* p) { return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static I field(I x, int shift, int mask) { return _mm256_and_si256(_mm256_srli_epi32(x, shift), _mm256_set1_epi32(mask)); }
  static I ls(I sl, I sh, int s) {  // ls[s] - 32
    const I v = _mm256_or_si256(field(sl, 8 * (s / 2) + 4 * (s % 2), 15), _mm256_slli_epi32(field(sh, 2 * s, 3), 4));
    return _mm256_sub_epi32(v, _mm256_set1_epi32(32));
  }
  static F addf(F x, F y) { return _mm256_add_ps(x, y); }
};

#if defined(__AVX512F__)
struct IQ4XSLanesAvx512 : IQ4NLLanesAvx512 {
  static I dot1v(I v, int32_t a4) { return _mm512_dpbusd_epi32(_mm512_setzero_si512(), v, _mm512_set1_epi32(a4)); }
  static I mullo(I x, I y) { return _mm512_mullo_epi32(x, y); }
  static I words(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static I halfwords(const uint8_t* p) { return _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static I field(I x, int shift, int mask) { return _mm512_and_si512(_mm512_srli_epi32(x, shift), _mm512_set1_epi32(mask)); }
  static I ls(I sl, I sh, int s) {
    const I v = _mm512_or_si512(field(sl, 8 * (s / 2) + 4 * (s % 2), 15), _mm512_slli_epi32(field(sh, 2 * s, 3), 4));
    return _mm512_sub_epi32(v, _mm512_set1_epi32(32));
  }
  static F addf(F x, F y) { return _mm512_add_ps(x, y); }
};
#endif

constexpr int64_t kIQ4XSPrefetch = 2 * kIQ4XSGroupBlock;

// MT tokens (i0 ..) x the lanes [h, h + L::kLanes) of group gp: c[t * ldc + r] for r < nr.
// a4: the sums of every 4 consecutive activation codes, [m][k / 4]; a32: of every 32, [m][k / 32].
template <class L, int MT, bool kPanel>
inline void iq4xs_packed_tile(const KAct& a, int64_t i0, const uint8_t* gp, int h, int64_t nb, const int32_t* a4,
                              const int32_t* a32, float* c, int64_t ldc, int nr) {
  using I = typename L::I;
  using F = typename L::F;
  constexpr int kAcc = kPanel ? 1 : 8;
  F acc[MT][kAcc];
  for (int t = 0; t < MT; t++)
    for (int l = 0; l < kAcc; l++) acc[t][l] = L::fzero();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* x = gp + b * kIQ4XSGroupBlock;
    if (MT == 1)  // decode streams each group once: kIQ4XSPrefetch ahead on its way
      for (int64_t o = 0; o < kIQ4XSGroupBlock; o += 64) _mm_prefetch(reinterpret_cast<const char*>(x) + kIQ4XSPrefetch + o, _MM_HINT_T0);
    const I sl = L::words(x + 64 + 4 * h), sh = L::halfwords(x + 32 + 2 * h);
    const F dw = L::halves(x + 2 * h);
    I lane[MT][kAcc];
    for (int t = 0; t < MT; t++)
      for (int l = 0; l < kAcc; l++) lane[t][l] = L::zero();
    for (int s = 0; s < 8; s++) {
      const I ls = L::ls(sl, sh, s);
      I sub[MT], subh[MT];  // kPanel: the sub-block's dots (low and high nibbles apart)
      for (int t = 0; t < MT; t++) sub[t] = subh[t] = L::zero();
      for (int i = 0; i < 4; i++) {
        const typename L::Vals v = L::vals(x + 128 + 64 * (4 * s + i) + 4 * h);
        for (int t = 0; t < MT; t++) {
          const int8_t* qa = a.q + (i0 + t) * a.k + b * kQK_K + 32 * s + 4 * i;
          if (kPanel) {
            L::dot(v, iq4nl_load4(qa), iq4nl_load4(qa + 16), sub[t], subh[t]);
          } else {
            const int64_t g = ((i0 + t) * a.k + b * kQK_K + 32 * s + 4 * i) / 4;  // the 4-element group's index in a4
            const I lo = L::sub_offset(L::dot1v(v.lo, iq4nl_load4(qa)), L::kOffset ? L::kOffset * a4[g] : 0);
            const I hi = L::sub_offset(L::dot1v(v.hi, iq4nl_load4(qa + 16)), L::kOffset ? L::kOffset * a4[g + 4] : 0);
            lane[t][i % kAcc] = L::add(lane[t][i % kAcc], L::mullo(lo, ls));
            lane[t][(i + 4) % kAcc] = L::add(lane[t][(i + 4) % kAcc], L::mullo(hi, ls));
          }
        }
      }
      if (kPanel)
        for (int t = 0; t < MT; t++) {
          const I d = L::sub_offset(L::add(sub[t], subh[t]), L::kOffset ? L::kOffset * a32[((i0 + t) * a.k + b * kQK_K) / 32 + s] : 0);
          lane[t][0] = L::add(lane[t][0], L::mullo(d, ls));
        }
    }
    for (int t = 0; t < MT; t++) {
      const F dd = L::mul(dw, L::set1(a.d[(i0 + t) * nb + b]));
      for (int l = 0; l < kAcc; l++) acc[t][l] = kPanel ? L::fma(L::cvt(lane[t][l]), dd, acc[t][l]) : L::fma(dd, L::cvt(lane[t][l]), acc[t][l]);
    }
  }
  for (int t = 0; t < MT; t++) {
    const F* v = acc[t];
    if (kPanel) L::store(c + t * ldc, v[0], nr);
    else L::store(c + t * ldc, L::addf(L::addf(L::addf(v[0], v[4 % kAcc]), L::addf(v[2 % kAcc], v[6 % kAcc])),
                                       L::addf(L::addf(v[1 % kAcc], v[5 % kAcc]), L::addf(v[3 % kAcc], v[7 % kAcc]))), nr);
  }
}

template <class L, bool kPanel>
inline void iq4xs_packed_sweep(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                               int64_t j0, int64_t j1, const int32_t* a4, const int32_t* a32) {
  const int64_t nb = a.k / kQK_K;
  for (int64_t j = j0; j < j1; j += kIQ4XSRows) {
    const uint8_t* gp = W + (j / kIQ4XSRows) * kIQ4XSRows * row_bytes;
    for (int h = 0; h < kIQ4XSRows; h += L::kLanes) {
      const int nr = (int)std::min<int64_t>(L::kLanes, j1 - j - h);
      if (nr <= 0) break;
      float* c = C + j + h;
      int64_t i = 0;
      for (; i + 4 <= m; i += 4) iq4xs_packed_tile<L, 4, kPanel>(a, i, gp, h, nb, a4, a32, c + i * ldc, ldc, nr);
      switch (m - i) {
        case 3: iq4xs_packed_tile<L, 3, kPanel>(a, i, gp, h, nb, a4, a32, c + i * ldc, ldc, nr); break;
        case 2: iq4xs_packed_tile<L, 2, kPanel>(a, i, gp, h, nb, a4, a32, c + i * ldc, ldc, nr); break;
        case 1: iq4xs_packed_tile<L, 1, kPanel>(a, i, gp, h, nb, a4, a32, c + i * ldc, ldc, nr); break;
        default: break;
      }
    }
  }
}

// The matmul (KMatmul) on the packed storage; j0 % 16 == 0. Groups outer,
// token tiles of 4 inner; the panel arithmetic from kIq4xsPanelMinTokens tokens on.
template <class L>
inline void iq4xs_packed_run(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                             int64_t j0, int64_t j1) {
  std::vector<int32_t> a4(L::kOffset ? (size_t)(m * a.k / 4) : 0), a32(L::kOffset ? (size_t)(m * a.k / 32) : 0);
  if (L::kOffset) {
    for (int64_t g = 0; g < m * a.k / 4; g++) a4[g] = a.q[4 * g] + a.q[4 * g + 1] + a.q[4 * g + 2] + a.q[4 * g + 3];
    for (int64_t g = 0; g < m * a.k / 32; g++) {
      int32_t s = 0;
      for (int e = 0; e < 8; e++) s += a4[8 * g + e];
      a32[g] = s;
    }
  }
  if (m >= kIq4xsPanelMinTokens) iq4xs_packed_sweep<L, true>(a, m, W, row_bytes, C, ldc, j0, j1, a4.data(), a32.data());
  else iq4xs_packed_sweep<L, false>(a, m, W, row_bytes, C, ldc, j0, j1, a4.data(), a32.data());
}

}  // namespace
}  // namespace lowbit
