// Q4_K's kernel on its packed storage (q4_k.h; packed.h: groups of 16 rows,
// one row per SIMD lane), shared by q4_k_avx2.cc / q4_k_avx512.cc (internal
// linkage, like kquant_x86.h). Per group, per tile of up to 4 tokens (llama.cpp's
// GEMM order for whole tiles of 4, its GEMV order for the rest: q4_k.h), per
// super-block:
//   the rows' 6-bit scales and mins widened to int32 lanes (ggml's
//   get_scale_min_k4, lane-wise), d and dmin to f32 lanes;
//   per pair p, the 8 chunks of 4 codes x lanes: lo += (low nibbles) . a,
//   hi += (high nibbles) . a, exact int32 per row; then per row
//     P = sc[2p] lo + sc[2p + 1] hi,  M = mn[2p] bsp[2p] + mn[2p + 1] bsp[2p + 1]
//   and the reference's FMAs lane-wise (each lane the scalar rounding).
// The lane class L (packed_x86.h's, plus):
//   L::dot2(x, alo, ahi, lo, hi): x = kLanes rows x 4 code bytes; lo += low
//     nibbles . alo (4 activation bytes), hi += high nibbles . ahi, where hi
//     may be kept as 16 x the sum (AVX-512: the nibbles not shifted down) and
//     L::hi_sum(hi) gives the sum.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "formats/kquant.h"
#include "formats/packed_x86.h"
#include "formats/q4_k.h"

namespace lowbit {
namespace {

struct Q4KLanesAvx2 : PackLanesAvx2 {
  // vpmaddubsw (u4 x s8 pairs <= 3810: no saturation) then vpmaddwd by ones
  static void dot2(const uint8_t* x, int32_t alo, int32_t ahi, I& lo, I& hi) {
    const I q = load(x), m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi16(1);
    const I l = _mm256_and_si256(q, m4), h = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_maddubs_epi16(l, _mm256_set1_epi32(alo)), one));
    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_maddubs_epi16(h, _mm256_set1_epi32(ahi)), one));
  }
  static I hi_sum(I hi) { return hi; }
};

#if defined(__AVX512F__)
struct Q4KLanesAvx512 : PackLanesAvx512 {
  // vpdpbusd: u8 codes x s8 activations, 4 products per row lane; the high
  // nibbles kept in place (16 u, <= 240): hi = 16 x the sum, exact (<= 2^20)
  static void dot2(const uint8_t* x, int32_t alo, int32_t ahi, I& lo, I& hi) {
    const I q = load(x);
    lo = _mm512_dpbusd_epi32(lo, _mm512_and_si512(q, _mm512_set1_epi8(15)), _mm512_set1_epi32(alo));
    hi = _mm512_dpbusd_epi32(hi, _mm512_and_si512(q, _mm512_set1_epi8((char)0xF0)), _mm512_set1_epi32(ahi));
  }
  static I hi_sum(I hi) { return _mm512_srai_epi32(hi, 4); }
};
#endif

// The tile (pk_sweep's): MT tokens (i0 ..) x the lanes [h, h + L::kLanes) of group gp.
template <class L>
struct Q4KTile {
  const KAct& a;
  int64_t nb;
  template <int MT>
  void run(int64_t i0, const uint8_t* gp, int h, float* c, int64_t ldc, int nr) const {
    using I = typename L::I;
    using F = typename L::F;
    constexpr bool kGemm = MT == 4;  // llama.cpp's 4-token GEMM: one FMA per pair
    F acc[MT], accm[MT];
    for (int t = 0; t < MT; t++) acc[t] = accm[t] = L::fzero();
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* x = gp + b * kQ4KGroupBlock;
      if (MT == 1 && h == 0) pk_prefetch<kQ4KGroupBlock, 2>(x);
      // get_scale_min_k4 lane-wise: q[j] = byte j of the lanes' rows
      I q[12];
      for (int j = 0; j < 12; j++) q[j] = L::bytes(x + 64 + 16 * j + h);
      I sc[8], mn[8], mnp[4];  // mnp[p]: (mn[2p], mn[2p + 1]) as int16 pairs
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
      F dd[MT], dm[MT];
      for (int t = 0; t < MT; t++) {
        Ps[t] = Ms[t] = L::zero();
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
            L::dot2(chunk, pk_load4(qa), pk_load4(qa + 32), lo[t], hi[t]);
          }
        }
        for (int t = 0; t < MT; t++) {
          const I P = L::add(L::mullo(lo[t], sc[2 * p]), L::mullo(L::hi_sum(hi[t]), sc[2 * p + 1]));
          const I M = L::madd16(mnp[p], pk_load4(a.bsp + (i0 + t) * (a.k / 32) + b * 8 + 2 * p));
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
    for (int t = 0; t < MT; t++) L::store(c + t * ldc, L::subf(acc[t], accm[t]), nr);
  }
};

// The matmul (KMatmul) on the packed storage; j0 % 16 == 0.
template <class L>
inline void q4k_packed_run(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                           int64_t j1) {
  pk_sweep<L>(Q4KTile<L>{a, a.k / kQK_K}, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace
}  // namespace lowbit
