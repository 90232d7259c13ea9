// x86 kernel of the legacy formats (legacy.h: Q4_1, Q5_0, Q5_1) on their packed
// storage (packed.h: groups of 16 rows, one row per SIMD lane), shared by their
// AVX2 and AVX-512 files (internal linkage, like kquant_x86.h), on
// packed_x86.h's lane classes. Per group, per tile of up to 4 tokens, per block
// of 32: per chunk c < 4 of 4 code bytes x lanes, the low nibbles (elements
// 4c + e: lane c of the definition) and the high ones (16 + 4c + e: lane
// c + 4), the fifth bits of the Q5 types or'ed in from the rows' qh words; per
// lane l the exact dot with the token's activations (minus 16 x their sum for
// Q5_0's u - 16), then acc[l] = fma((float)L[l], d * da, acc[l]) and the mins'
// summs = fma(m, s, summs) lane-wise (each lane the scalar rounding); C = the
// reference's sum of the eight acc[l] (+ summs).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "formats/legacy.h"
#include "formats/packed_x86.h"

namespace lowbit {
namespace {

// The fifth bits of a lane's 4 codes (bits `shift` .. + 3 of its qh word) at bit 4 of each byte:
// the 4 bits times 2^4 + 2^11 + 2^18 + 2^25 land on bits 4, 12, 20, 28 without carries.
template <class L>
inline typename L::I legacy_bit5(typename L::I qh, int shift) {
  return L::and_(L::mullo(L::and_(L::srl(qh, shift), 15), L::set1i(0x02040810)), 0x10101010);
}

// Chunk ch's codes of a block (x: the group's block, h: the pass's first lane): lo = elements
// 4 ch + e (lane class ch), hi = 16 + 4 ch + e (class ch + 4), the fifth bits or'ed in from qh.
template <class L, class T>
inline void legacy_codes(const uint8_t* x, int h, typename L::I qh, int ch, typename L::I& lo, typename L::I& hi) {
  const typename L::I q = L::load(x + LegacyPacked<T>::kQs + 64 * ch + 4 * h);
  lo = L::and_(q, 0x0F0F0F0F), hi = L::and_(L::srl(q, 4), 0x0F0F0F0F);
  if (T::kQh >= 0) {
    lo = L::or_(lo, legacy_bit5<L>(qh, 4 * ch));
    hi = L::or_(hi, legacy_bit5<L>(qh, 16 + 4 * ch));
  }
}

// The arithmetic of MT tokens (i0 ..) against one pass of lanes, blocks in order (the
// reference's): src.at(b) moves to block b, src.d() / src.m() give its lanes' d / m as f32,
// src.codes(ch, lo, hi) chunk ch's codes (legacy_codes). a4: the sums of every 4
// consecutive activation codes times T::kOffset, [m][k / 4] (Q5_0). c[t * ldc + r] = C[i0 + t, lane r], r < nr.
template <class L, class T, int MT, class Src>
inline void legacy_tokens(Src& src, const KAct& a, const int32_t* a4, int64_t nb, int64_t i0, float* c, int64_t ldc,
                          int nr) {
  using I = typename L::I;
  using F = typename L::F;
  F acc[MT][8], summs[MT];
  for (int t = 0; t < MT; t++) {
    summs[t] = L::fzero();
    for (int l = 0; l < 8; l++) acc[t][l] = L::fzero();
  }
  const int8_t* q[MT];
  const int32_t* s4[MT];
  for (int t = 0; t < MT; t++) q[t] = a.q + (i0 + t) * a.k, s4[t] = T::kOffset ? a4 + (i0 + t) * (a.k / 4) : nullptr;
  for (int64_t b = 0; b < nb; b++) {
    src.at(b);
    F dd[MT];
    for (int t = 0; t < MT; t++) dd[t] = L::mul(src.d(), L::set1(a.d[(i0 + t) * nb + b]));
    for (int ch = 0; ch < 4; ch++) {
      I lo, hi;
      src.codes(ch, lo, hi);
      for (int t = 0; t < MT; t++) {
        const int64_t e = b * 32 + 4 * ch;  // the chunk's first element in the token's row
        I dl = L::dot4(lo, pk_load4(q[t] + e)), dh = L::dot4(hi, pk_load4(q[t] + e + 16));
        if (T::kOffset) {
          dl = L::sub1(dl, s4[t][b * 8 + ch]);  // (e / 4: the chunk's 4-sum, times the offset)
          dh = L::sub1(dh, s4[t][b * 8 + ch + 4]);
        }
        acc[t][ch] = L::fma(L::cvt(dl), dd[t], acc[t][ch]);
        acc[t][ch + 4] = L::fma(L::cvt(dh), dd[t], acc[t][ch + 4]);
      }
    }
    if (T::kMin)
      for (int t = 0; t < MT; t++) summs[t] = L::fma(src.m(), L::set1(a.s[(i0 + t) * nb + b]), summs[t]);
  }
  // no "+ 0" without a min: it would turn a -0 sum into +0
  for (int t = 0; t < MT; t++)
    L::store(c + t * ldc, T::kMin ? L::addf(pk_lanes8_sum<L>(acc[t]), summs[t]) : pk_lanes8_sum<L>(acc[t]), nr);
}

// The tile (pk_sweep's): MT tokens (i0 ..) x the lanes [h, h + L::kLanes) of group gp,
// each block's codes decoded where it is read.
template <class L, class T>
struct LegacyTile {
  const KAct& a;
  int64_t nb;
  const int32_t* a4;
  struct Src {
    using P = LegacyPacked<T>;
    const uint8_t* gp;
    int h;
    bool prefetch;
    const uint8_t* x = nullptr;
    typename L::I qh = L::zero();
    void at(int64_t b) {
      x = gp + b * P::kBlock;
      if (prefetch) pk_prefetch<P::kBlock, 8>(x);
      qh = T::kQh >= 0 ? L::load(x + P::kQh + 4 * h) : L::zero();
    }
    typename L::F d() const { return L::halves(x + 2 * h); }
    typename L::F m() const { return L::halves(x + P::kM + 2 * h); }
    void codes(int ch, typename L::I& lo, typename L::I& hi) const { legacy_codes<L, T>(x, h, qh, ch, lo, hi); }
  };
  template <int MT>
  void run(int64_t i0, const uint8_t* gp, int h, float* c, int64_t ldc, int nr) const {
    Src src{gp, h, MT == 1 && h == 0};  // (decode: the first pass prefetches the group's blocks)
    legacy_tokens<L, T, MT>(src, a, a4, nb, i0, c, ldc, nr);
  }
};

// Prefill (many tokens): a pass's codes decoded once (the tile's lo / hi code
// vectors of every block and chunk, its scales) into a panel that every token
// then reads from L1 / L2, in tiles of MT tokens small enough that the 8 x MT
// accumulators stay in registers (a tile of 4 spills them on AVX2). Per token
// the tile's operations in the tile's order (legacy_tokens): the same bits.
template <class L, class T>
struct LegacyPanel {
  using I = typename L::I;
  using F = typename L::F;
  // (vectors wrapped in structs: a std::vector of __m256i would drop its type's attributes)
  struct Codes { I lo[4], hi[4]; };  // a block: chunk ch's low codes (class ch) and high (class ch + 4)
  struct Scales { F d, m; };         // a block: the lanes' d (and m) as f32
  std::vector<Codes> blocks;         // [nb]
  std::vector<Scales> scales;        // [nb]

  void decode(const uint8_t* gp, int h, int64_t nb) {
    typename LegacyTile<L, T>::Src src{gp, h, false};
    blocks.resize((size_t)nb);
    scales.resize((size_t)nb);
    for (int64_t b = 0; b < nb; b++) {
      src.at(b);
      scales[b].d = src.d();
      if (T::kMin) scales[b].m = src.m();
      for (int ch = 0; ch < 4; ch++) src.codes(ch, blocks[b].lo[ch], blocks[b].hi[ch]);
    }
  }
  // legacy_tokens' source: a local view (plain pointers into the thread's panel), block b's entries
  struct View {
    const Codes* c;
    const Scales* s;
    int64_t b = 0;
    void at(int64_t blk) { b = blk; }
    F d() const { return s[b].d; }
    F m() const { return s[b].m; }
    void codes(int ch, I& lo, I& hi) const { lo = c[b].lo[ch], hi = c[b].hi[ch]; }
  };
  View view() const { return View{blocks.data(), scales.data()}; }
};

// From this many tokens the panel path runs (below, the tile's sweep decodes per tile of 4).
constexpr int64_t kLegacyPanelRows = 8;

// The matmul (KMatmul) of type T on the packed storage; j0 % 16 == 0.
template <class L, class T>
inline void legacy_packed_run(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                              int64_t j0, int64_t j1) {
  const std::vector<int32_t> a4 = T::kOffset ? pk_code_sums(a, m, 4, T::kOffset) : std::vector<int32_t>();
  const int64_t nb = a.k / 32;
  if (m < kLegacyPanelRows) {
    pk_sweep<L>(LegacyTile<L, T>{a, nb, a4.data()}, m, W, row_bytes, C, ldc, j0, j1);
    return;
  }
  constexpr int MT = L::kLanes == 16 ? 2 : 1;  // 16 / 8 accumulators: of 32 zmm / 16 ymm
  thread_local LegacyPanel<L, T> panel;
  for (int64_t j = j0; j < j1; j += kPackRows) {
    const uint8_t* gp = W + (j / kPackRows) * kPackRows * row_bytes;
    for (int h = 0; h < kPackRows; h += L::kLanes) {
      const int nr = (int)std::min<int64_t>(L::kLanes, j1 - j - h);
      if (nr <= 0) break;
      panel.decode(gp, h, nb);
      float* c = C + j + h;
      int64_t i = 0;
      for (; i + MT <= m; i += MT) {
        auto v = panel.view();
        legacy_tokens<L, T, MT>(v, a, a4.data(), nb, i, c + i * ldc, ldc, nr);
      }
      for (; i < m; i++) {
        auto v = panel.view();
        legacy_tokens<L, T, 1>(v, a, a4.data(), nb, i, c + i * ldc, ldc, nr);
      }
    }
  }
}

}  // namespace
}  // namespace lowbit
