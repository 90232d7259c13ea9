// The loop of every K-quant matmul, shared by all instruction-set variants:
// weight rows in blocks of kKRowBlock (kept in cache) swept by tiles of up to
// kKMaxTokens tokens, the rest of the tokens in one smaller tile. A variant
// supplies only its tile: K::tile<MT>(a, i0, w, nb, c, ldc) computes
// c[t * ldc] = C[i0 + t, j] for t < MT, with w the weight row j (nb blocks).
// A format with blocks of other than 256 weights (the block-32 types)
// declares K::kBlockElems; nb is then k / kBlockElems. (The packed types run
// their own sweep, packed_x86.h's pk_sweep; their references run this loop on
// unpacked rows, packed.h's kq_ref_on_packed.)
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "formats/kquant.h"

namespace lowbit {

// The scalar references' tile (Q2_K, Q3_K, Q6_K): per token, eight f32 lanes
// over the super-blocks; block(x, qa, bs, da, acc) adds super-block x's terms
// (qa: the token's 256 activation codes of it, bs: their 16 16-sums, da: their
// scale); the result is kq_lanes8_sum(acc).
template <class Block, int MT, class F>
inline void kq_ref_lanes(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc, F&& block) {
  for (int t = 0; t < MT; t++) {
    const int64_t i = i0 + t;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t b = 0; b < nb; b++)
      block(*reinterpret_cast<const Block*>(w + b * sizeof(Block)), a.q + i * a.k + b * kQK_K, a.bsums + i * (a.k / 16) + b * 16,
            a.d[i * nb + b], acc);
    c[t * ldc] = kq_lanes8_sum(acc);
  }
}

constexpr int64_t kKRowBlock = 16;
constexpr int kKMaxTokens = 4;

template <class K, class = void>
struct BlockElems : std::integral_constant<int64_t, kQK_K> {};
template <class K>
struct BlockElems<K, std::void_t<decltype(K::kBlockElems)>> : std::integral_constant<int64_t, K::kBlockElems> {};

template <class K>
void kquant_run(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                int64_t j1) {
  const int64_t nb = a.k / BlockElems<K>::value;
  for (int64_t jb = j0; jb < j1; jb += kKRowBlock) {
    const int64_t jb1 = std::min(j1, jb + kKRowBlock);
    for (int64_t i = 0; i < m;) {
      const int64_t mt = std::min<int64_t>(kKMaxTokens, m - i);
      for (int64_t j = jb; j < jb1; j++) {
        const uint8_t* w = W + j * row_bytes;
        float* c = C + i * ldc + j;
        switch (mt) {
          case 4: K::template tile<4>(a, i, w, nb, c, ldc); break;
          case 3: K::template tile<3>(a, i, w, nb, c, ldc); break;
          case 2: K::template tile<2>(a, i, w, nb, c, ldc); break;
          default: K::template tile<1>(a, i, w, nb, c, ldc); break;
        }
      }
      i += mt;
    }
  }
}

}  // namespace lowbit
