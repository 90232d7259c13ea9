// Q2_K's kernel on its packed storage (q2_k.h; packed.h: groups of 16 rows,
// one row per SIMD lane), shared by q2_k_avx2.cc / q2_k_avx512.cc (internal
// linkage, like kquant_x86.h). Per group, per tile of up to 4 tokens, per
// super-block: the rows' 4-bit scales and mins as int32 lanes; per reference
// lane l the mins' term M[l] (a vpmaddwd of the rows' (mn[2l], mn[2l + 1]) with
// the token's two 16-sums) and its FMA; then per 4-element group (j, c) of
// lane l (elements 128 j + 32 c + 4 l + i) its codes from the qs chunk of
// (j, l), the exact dot with the activations times the group's sub-block
// scale, summed into L[l]; acc[l] = fma(da * d, (float)L[l], acc[l]) lane-wise;
// C = the reference's sum of the eight acc[l] (each lane the scalar rounding).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "formats/kquant.h"
#include "formats/packed_x86.h"
#include "formats/q2_k.h"

namespace lowbit {
namespace {

struct Q2KLanesAvx2 : PackLanesAvx2 {
  static I codes(I q, int c) { return _mm256_and_si256(_mm256_srli_epi16(q, 2 * c), _mm256_set1_epi8(3)); }
};
#if defined(__AVX512F__)
struct Q2KLanesAvx512 : PackLanesAvx512 {
  static I codes(I q, int c) { return _mm512_and_si512(_mm512_srli_epi16(q, 2 * c), _mm512_set1_epi8(3)); }
};
#endif

// The tile (pk_sweep's): MT tokens (i0 ..) x the lanes [h, h + L::kLanes) of group gp.
template <class L>
struct Q2KTile {
  const KAct& a;
  int64_t nb;
  template <int MT>
  void run(int64_t i0, const uint8_t* gp, int h, float* c, int64_t ldc, int nr) const {
    using I = typename L::I;
    using F = typename L::F;
    F acc[MT][8];
    for (int t = 0; t < MT; t++)
      for (int l = 0; l < 8; l++) acc[t][l] = L::fzero();
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* x = gp + b * kQ2KGroupBlock;
      if (MT == 1 && h == 0) pk_prefetch<kQ2KGroupBlock, 2>(x);
      I sc[16], mnp[8];  // mnp[l]: (mn[2l], mn[2l + 1]) as int16 pairs
      for (int s = 0; s < 16; s += 2) {
        const I s0 = L::bytes(x + 64 + 16 * s + h), s1 = L::bytes(x + 64 + 16 * (s + 1) + h);
        sc[s] = L::and_(s0, 15);
        sc[s + 1] = L::and_(s1, 15);
        mnp[s / 2] = L::or_(L::srl(s0, 4), L::sll(L::srl(s1, 4), 16));
      }
      const F dw = L::halves(x + 2 * h), mw = L::halves(x + 32 + 2 * h);
      F dd[MT], dm[MT];
      for (int t = 0; t < MT; t++) {
        const F da = L::set1(a.d[(i0 + t) * nb + b]);
        dd[t] = L::mul(da, dw);
        dm[t] = L::mul(L::set1(-1.0f), L::mul(da, mw));  // -(da * dmin), exactly (a zero keeps its sign)
      }
      for (int l = 0; l < 8; l++) {
        for (int t = 0; t < MT; t++) {
          const I M = L::madd16(mnp[l], pk_load4(a.bsums + (i0 + t) * (a.k / 16) + b * 16 + 2 * l));
          acc[t][l] = L::fma(dm[t], L::cvt(M), acc[t][l]);
        }
        I lane[MT];
        for (int t = 0; t < MT; t++) lane[t] = L::zero();
        for (int j = 0; j < 2; j++) {
          const I qv = L::load(x + 320 + 64 * (8 * j + l) + 4 * h);
          for (int cc = 0; cc < 4; cc++) {
            const I u = L::codes(qv, cc);
            const I s = sc[8 * j + 2 * cc + l / 4];
            const int64_t e = b * kQK_K + 128 * j + 32 * cc + 4 * l;  // the group's first element
            // |dot| <= 4 * 3 * 128 and s <= 15: an exact 16-bit multiply (vpmaddwd)
            for (int t = 0; t < MT; t++) lane[t] = L::add(lane[t], L::mul_small(L::dot4(u, pk_load4(a.q + (i0 + t) * a.k + e)), s));
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
inline void q2k_packed_run(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                           int64_t j1) {
  pk_sweep<L>(Q2KTile<L>{a, a.k / kQK_K}, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace
}  // namespace lowbit
