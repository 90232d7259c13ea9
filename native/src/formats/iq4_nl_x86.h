// IQ4_NL's kernel on its packed storage (iq4_nl.h; packed.h: groups of 16
// rows, one row per SIMD lane), shared by iq4_nl_avx2.cc / iq4_nl_avx512.cc
// (internal linkage, like kquant_x86.h); its lane classes also serve IQ4_XS
// (iq4_xs_x86.h). Per group, per tile of up to 4 tokens, per block of 32: the
// 4 chunks of 4 indices x lanes through the table (vpshufb), their exact dot
// with the token's 32 activations per row, then the reference's one FMA per
// block lane-wise (each lane the scalar rounding).
// The lane class L (packed_x86.h's, plus):
//   L::vals(x): the values of kLanes rows x 4 index bytes, low and high nibbles,
//     possibly offset: L::kOffset (AVX-512: the values + 128 as the u8 operand
//     of vpdpbusd; 0 on AVX2, which takes |v| and a's sign by vpsignb);
//   L::dot1(v, a4): per lane the dot of its 4 values with the 4 activation bytes a4;
//   L::sub_offset(s, sum): s minus kOffset x the activations' sum.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "formats/iq4_nl.h"
#include "formats/kquant.h"
#include "formats/packed_x86.h"

namespace lowbit {
namespace {

struct IQ4NLLanesAvx2 : PackLanesAvx2 {
  static constexpr int kOffset = 0;
  static I sub_offset(I s, int32_t) { return s; }
  struct Vals {
    I lo, hi;
  };
  static Vals vals(const uint8_t* x) {
    const I lut = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
    const I q = load(x), m4 = _mm256_set1_epi8(15);
    return {_mm256_shuffle_epi8(lut, _mm256_and_si256(q, m4)), _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4))};
  }
  // |v| x a with v's sign (vpsignb), vpmaddubsw (pairs <= 32258: no saturation), vpmaddwd by ones
  static I dot1(I v, int32_t a4) {
    const I a = _mm256_sign_epi8(_mm256_set1_epi32(a4), v);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(v, v), a), _mm256_set1_epi16(1));
  }
};

#if defined(__AVX512F__)
// AVX-512 VNNI: the values + 128 (1..241) as vpdpbusd's u8 operand; 128 x the
// activations' sum subtracted (exact int32).
struct IQ4NLLanesAvx512 : PackLanesAvx512 {
  static constexpr int kOffset = 128;
  static I sub_offset(I s, int32_t off) { return _mm512_sub_epi32(s, _mm512_set1_epi32(off)); }
  struct Vals {
    I lo, hi;
  };
  static Vals vals(const uint8_t* x) {
    alignas(16) uint8_t u[16];
    for (int i = 0; i < 16; i++) u[i] = (uint8_t)(kIq4nlValues[i] + 128);
    const I lut = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(u)));
    const I q = load(x), m4 = _mm512_set1_epi8(15);
    return {_mm512_shuffle_epi8(lut, _mm512_and_si512(q, m4)), _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4))};
  }
  static I dot1(I v, int32_t a4) { return _mm512_dpbusd_epi32(_mm512_setzero_si512(), v, _mm512_set1_epi32(a4)); }
};
#endif

// The tile (pk_sweep's): MT tokens (i0 ..) x the lanes [h, h + L::kLanes) of group gp.
// asum: the tokens' block sums of activation codes (L::kOffset != 0), [m][nb].
template <class L>
struct IQ4NLTile {
  const KAct& a;
  int64_t nb;
  const int32_t* asum;
  template <int MT>
  void run(int64_t i0, const uint8_t* gp, int h, float* c, int64_t ldc, int nr) const {
    using I = typename L::I;
    using F = typename L::F;
    F acc[MT];
    for (int t = 0; t < MT; t++) acc[t] = L::fzero();
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* x = gp + b * kIQ4NLGroupBlock;
      if (MT == 1 && h == 0) pk_prefetch<kIQ4NLGroupBlock, 8>(x);
      I s[MT], sh[MT];  // the low and the high nibbles' sums apart: two dependency chains per token
      for (int t = 0; t < MT; t++) s[t] = sh[t] = L::zero();
      for (int ch = 0; ch < 4; ch++) {
        const typename L::Vals v = L::vals(x + 32 + 64 * ch + 4 * h);
        for (int t = 0; t < MT; t++) {
          const int8_t* qa = a.q + (i0 + t) * a.k + b * 32 + 4 * ch;
          s[t] = L::add(s[t], L::dot1(v.lo, pk_load4(qa)));
          sh[t] = L::add(sh[t], L::dot1(v.hi, pk_load4(qa + 16)));
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
};

// The matmul (KMatmul) on the packed storage; j0 % 16 == 0.
template <class L>
inline void iq4nl_packed_run(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                             int64_t j0, int64_t j1) {
  const std::vector<int32_t> asum = L::kOffset ? pk_code_sums(a, m, 32) : std::vector<int32_t>();
  pk_sweep<L>(IQ4NLTile<L>{a, a.k / 32, asum.data()}, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace
}  // namespace lowbit
