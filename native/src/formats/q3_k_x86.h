// Q3_K's kernel on its packed storage (q3_k.h; packed.h: groups of 16 rows,
// one row per SIMD lane), shared by q3_k_avx2.cc / q3_k_avx512.cc (internal
// linkage, like kquant_x86.h). Per group, per tile of up to 4 tokens, per
// super-block:
//   the rows' 16 scales - 32 as int32 lanes (the word formula of q3_k.h, lane-wise);
//   per reference lane l (elements 128 j + 32 c + 4 l + i), per 4-element group
//   (j, c): its codes u from the qs and hmask chunks of l, the exact dot
//   (u - 4) . a = u . a - 4 (sum of the 4 activations) per row, times the
//   group's sub-block scale, summed into L[l] (exact int32);
//   acc[l] = fma(da * d, (float)L[l], acc[l]) lane-wise;
// then C = the reference's sum of the eight acc[l] (each lane the scalar rounding).
// The lane class L (packed_x86.h's, plus):
//   L::codes(q, h, c, hb): the bytes ((q >> 2c) & 3) | (((h >> hb) & 1) << 2)
// and packed_x86.h's dot4 for the codes' dots.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "formats/kquant.h"
#include "formats/packed_x86.h"
#include "formats/q3_k.h"

namespace lowbit {
namespace {

struct Q3KLanesAvx2 : PackLanesAvx2 {
  static I codes(I q, I h, int c, int hb) {
    const I lo = _mm256_and_si256(_mm256_srli_epi16(q, 2 * c), _mm256_set1_epi8(3));
    const I hi = hb >= 2 ? _mm256_srli_epi16(h, hb - 2) : _mm256_slli_epi16(h, 2 - hb);
    return _mm256_or_si256(lo, _mm256_and_si256(hi, _mm256_set1_epi8(4)));
  }
};

#if defined(__AVX512F__)
struct Q3KLanesAvx512 : PackLanesAvx512 {
  // (bits 0-1 from q >> 2c, bit 2 from h shifted into place, the rest 0): one vpternlogd, one vpandd
  static I codes(I q, I h, int c, int hb) {
    const I lo = _mm512_srli_epi16(q, 2 * c);
    const I hi = hb >= 2 ? _mm512_srli_epi16(h, hb - 2) : _mm512_slli_epi16(h, 2 - hb);
    // M ? lo : hi with M = 0x03 per byte, then & 7
    return _mm512_and_si512(_mm512_ternarylogic_epi32(_mm512_set1_epi8(3), lo, hi, 0xCA), _mm512_set1_epi8(7));
  }
};
#endif

// The tile (pk_sweep's): MT tokens (i0 ..) x the lanes [h, h + L::kLanes) of group gp.
// a4x4: 4 times the sums of every 4 consecutive activation codes, [m][k / 4] (the offset's part of
// each group dot, (u - 4) . a = u . a - 4 sum(a), read straight into a broadcast).
template <class L>
struct Q3KTile {
  const KAct& a;
  int64_t nb;
  const int32_t* a4x4;
  template <int MT>
  void run(int64_t i0, const uint8_t* gp, int h, float* c, int64_t ldc, int nr) const {
    using I = typename L::I;
    using F = typename L::F;
    F acc[MT][8];
    for (int t = 0; t < MT; t++)
      for (int l = 0; l < 8; l++) acc[t][l] = L::fzero();
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* x = gp + b * kQ3KGroupBlock;
      if (MT == 1 && h == 0) pk_prefetch<kQ3KGroupBlock, 2>(x);
      I q[12];
      for (int j = 0; j < 12; j++) q[j] = L::bytes(x + 32 + 16 * j + h);
      I sc[16];  // scale - 32 of each 16-element sub-block (q3_k.h's words, lane-wise)
      for (int i = 0; i < 4; i++) {
        sc[i] = L::or_(L::and_(q[i], 15), L::sll(L::and_(q[8 + i], 3), 4));
        sc[4 + i] = L::or_(L::and_(q[4 + i], 15), L::sll(L::and_(L::srl(q[8 + i], 2), 3), 4));
        sc[8 + i] = L::or_(L::srl(q[i], 4), L::sll(L::and_(L::srl(q[8 + i], 4), 3), 4));
        sc[12 + i] = L::or_(L::srl(q[4 + i], 4), L::sll(L::srl(q[8 + i], 6), 4));
      }
      // scale - 32 in [-32, 31], kept as an int16 in each lane's low half (high half zero) for
      // vpmaddwd: the group dots below are within +-4 * 4 * 128, so lo16(d) * s is the exact product
      for (int s = 0; s < 16; s++) sc[s] = L::and_(L::sub1(sc[s], 32), 0xFFFF);
      const F dw = L::halves(x + 2 * h);
      F dd[MT];
      for (int t = 0; t < MT; t++) dd[t] = L::mul(L::set1(a.d[(i0 + t) * nb + b]), dw);
      // per token its activation codes and 4-sums (times 4) of this super-block, at lane class 0
      const int8_t* aq[MT];
      const int32_t* a4b[MT];
      for (int t = 0; t < MT; t++) aq[t] = a.q + (i0 + t) * a.k + b * kQK_K, a4b[t] = a4x4 + (i0 + t) * (a.k / 4) + b * (kQK_K / 4);
      for (int l = 0; l < 8; l++) {
        const I hv = L::load(x + 224 + 64 * l + 4 * h);
        const I* scl = sc + l / 4;  // the sub-block of group (j, cc) is 8 j + 2 cc + l / 4
        I lane[MT];
        for (int t = 0; t < MT; t++) lane[t] = L::zero();
        for (int j = 0; j < 2; j++) {
          const I qv = L::load(x + 736 + 64 * (8 * j + l) + 4 * h);
          for (int cc = 0; cc < 4; cc++) {
            const I u = L::codes(qv, hv, cc, 4 * j + cc);
            const I s = scl[8 * j + 2 * cc];
            const int64_t e = 128 * j + 32 * cc + 4 * l;  // the group's first element in the super-block
            for (int t = 0; t < MT; t++) {
              const I d = L::sub1(L::dot4(u, pk_load4(aq[t] + e)), a4b[t][e / 4]);
              lane[t] = L::add(lane[t], L::mul_small(d, s));
            }
          }
        }
        for (int t = 0; t < MT; t++) acc[t][l] = L::fma(dd[t], L::cvt(lane[t]), acc[t][l]);
      }
    }
    for (int t = 0; t < MT; t++) L::store(c + t * ldc, pk_lanes8_sum<L>(acc[t]), nr);
  }
};

// The matmul (KMatmul) on the packed storage; j0 % 16 == 0.
template <class L>
inline void q3k_packed_run(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                           int64_t j1) {
  const std::vector<int32_t> a4x4 = pk_code_sums(a, m, 4, 4);
  pk_sweep<L>(Q3KTile<L>{a, a.k / kQK_K, a4x4.data()}, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace
}  // namespace lowbit
