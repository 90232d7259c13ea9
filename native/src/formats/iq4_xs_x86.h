// IQ4_XS's kernel on its packed storage (iq4_xs.h; packed.h: groups of 16
// rows, one row per SIMD lane), shared by iq4_xs_avx2.cc / iq4_xs_avx512.cc
// (internal linkage, like kquant_x86.h), on IQ4_NL's lane classes
// (iq4_nl_x86.h: the table by vpshufb, the byte dots). Per group, per tile of
// up to 4 tokens, per super-block and sub-block s: the rows' scales ls[s] - 32
// as int32 lanes; per 4-byte chunk i of the sub-block, the dots of its low
// nibbles (elements 32s + 4i ..) and high nibbles (32s + 16 + 4i ..) with the
// activations, exact int32 per row; then, as iq4_xs.h defines it for m tokens:
//   kPanel (m >= 8): P += (ls[s] - 32) * (the sub-block's dot); per super-block
//     acc = fma((float)P, d * da, acc);
//   else: L[l] += (ls[s] - 32) * (the dot of lane l's 4 elements), l = i for
//     the low nibbles, i + 4 for the high ones; acc[l] = fma(d * da, (float)L[l], acc[l]),
//     C = the reference's sum of the eight acc[l];
// each lane the scalar rounding.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "formats/iq4_nl_x86.h"
#include "formats/iq4_xs.h"

namespace lowbit {
namespace {

// ls[s] - 32 of the lanes' rows: sl their scales_l words, sh their scales_h
template <class L>
inline typename L::I iq4xs_ls(typename L::I sl, typename L::I sh, int s) {
  return L::sub1(L::or_(L::and_(L::srl(sl, 8 * (s / 2) + 4 * (s % 2)), 15), L::sll(L::and_(L::srl(sh, 2 * s), 3), 4)), 32);
}

// The tile (pk_sweep's): MT tokens (i0 ..) x the lanes [h, h + L::kLanes) of group gp.
// a4 / a32: the sums of every 4 / 32 consecutive activation codes (L::kOffset != 0).
template <class L, bool kPanel>
struct IQ4XSTile {
  const KAct& a;
  int64_t nb;
  const int32_t* a4;
  const int32_t* a32;
  template <int MT>
  void run(int64_t i0, const uint8_t* gp, int h, float* c, int64_t ldc, int nr) const {
    using I = typename L::I;
    using F = typename L::F;
    constexpr int kAcc = kPanel ? 1 : 8;
    F acc[MT][kAcc];
    for (int t = 0; t < MT; t++)
      for (int l = 0; l < kAcc; l++) acc[t][l] = L::fzero();
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* x = gp + b * kIQ4XSGroupBlock;
      if (MT == 1 && h == 0) pk_prefetch<kIQ4XSGroupBlock, 2>(x);
      const I sl = L::load(x + 64 + 4 * h), sh = L::halfwords(x + 32 + 2 * h);
      const F dw = L::halves(x + 2 * h);
      I lane[MT][kAcc];
      for (int t = 0; t < MT; t++)
        for (int l = 0; l < kAcc; l++) lane[t][l] = L::zero();
      for (int s = 0; s < 8; s++) {
        const I ls = iq4xs_ls<L>(sl, sh, s);
        I sub[MT], subh[MT];  // kPanel: the sub-block's dots (low and high nibbles apart)
        for (int t = 0; t < MT; t++) sub[t] = subh[t] = L::zero();
        for (int i = 0; i < 4; i++) {
          const typename L::Vals v = L::vals(x + 128 + 64 * (4 * s + i) + 4 * h);
          for (int t = 0; t < MT; t++) {
            const int64_t e = (i0 + t) * a.k + b * kQK_K + 32 * s + 4 * i;  // the chunk's first element of a.q
            const I lo = L::dot1(v.lo, pk_load4(a.q + e)), hi = L::dot1(v.hi, pk_load4(a.q + e + 16));
            if (kPanel) {
              sub[t] = L::add(sub[t], lo);
              subh[t] = L::add(subh[t], hi);
            } else {
              const I lo_s = L::kOffset ? L::sub_offset(lo, L::kOffset * a4[e / 4]) : lo;
              const I hi_s = L::kOffset ? L::sub_offset(hi, L::kOffset * a4[e / 4 + 4]) : hi;
              lane[t][i % kAcc] = L::add(lane[t][i % kAcc], L::mullo(lo_s, ls));
              lane[t][(i + 4) % kAcc] = L::add(lane[t][(i + 4) % kAcc], L::mullo(hi_s, ls));
            }
          }
        }
        if (kPanel)
          for (int t = 0; t < MT; t++) {
            const I d = L::add(sub[t], subh[t]);
            const I ds = L::kOffset ? L::sub_offset(d, L::kOffset * a32[((i0 + t) * a.k + b * kQK_K) / 32 + s]) : d;
            lane[t][0] = L::add(lane[t][0], L::mullo(ds, ls));
          }
      }
      for (int t = 0; t < MT; t++) {
        const F dd = L::mul(dw, L::set1(a.d[(i0 + t) * nb + b]));
        for (int l = 0; l < kAcc; l++) acc[t][l] = L::fma(L::cvt(lane[t][l]), dd, acc[t][l]);
      }
    }
    for (int t = 0; t < MT; t++) {
      if constexpr (kPanel) L::store(c + t * ldc, acc[t][0], nr);
      else L::store(c + t * ldc, pk_lanes8_sum<L>(acc[t]), nr);
    }
  }
};

// The matmul (KMatmul) on the packed storage; j0 % 16 == 0; the panel
// arithmetic from kIq4xsPanelMinTokens tokens on.
template <class L>
inline void iq4xs_packed_run(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                             int64_t j0, int64_t j1) {
  const std::vector<int32_t> a4 = L::kOffset ? pk_code_sums(a, m, 4) : std::vector<int32_t>();
  const std::vector<int32_t> a32 = L::kOffset ? pk_code_sums(a, m, 32) : std::vector<int32_t>();
  const int64_t nb = a.k / kQK_K;
  if (m >= kIq4xsPanelMinTokens) pk_sweep<L>(IQ4XSTile<L, true>{a, nb, a4.data(), a32.data()}, m, W, row_bytes, C, ldc, j0, j1);
  else pk_sweep<L>(IQ4XSTile<L, false>{a, nb, a4.data(), a32.data()}, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace
}  // namespace lowbit
