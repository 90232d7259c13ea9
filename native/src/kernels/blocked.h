// Blocked traversal shared by the SIMD matmul drivers. Header-only: each ISA
// file instantiates it with its own compiler flags and tiles.
//
// Rows of A in blocks of 64 (kept in L2), output columns in blocks of 16 (the
// weight rows of 4 packed groups, kept in L1/L2); inside a block, tiles of MR
// rows x one group of 4 columns, then single rows for the remainder. ncols
// (1..4) is how many of the group's columns are inside [j0, j1).
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace lowbit {

template <int MR, class TileMR, class Tile1>
inline void for_each_tile(int64_t m, int64_t j0, int64_t j1, TileMR&& tile_mr, Tile1&& tile_1) {
  constexpr int64_t MB = 64, NB = 16;
  for (int64_t ib = 0; ib < m; ib += MB) {
    const int64_t ie = std::min(ib + MB, m);
    for (int64_t jb = j0; jb < j1; jb += NB) {
      const int64_t je = std::min(jb + NB, j1);
      int64_t i = ib;
      for (; i + MR <= ie; i += MR)
        for (int64_t j = jb; j < je; j += 4) tile_mr(i, j, std::min<int64_t>(4, je - j));
      for (; i < ie; i++)
        for (int64_t j = jb; j < je; j += 4) tile_1(i, j, std::min<int64_t>(4, je - j));
    }
  }
}

// The packed matmuls' driver (f32, bf16, q8 on AVX2 and AVX-512): one
// activation row streams the packed matrix, a tile of 1 row (prefetching) per
// group of 4 columns; more rows go through for_each_tile, tiles of MR rows
// then single rows (no prefetch). tile(mr, pf, i, j, ncols) runs the ISA's
// tile of mr rows from row i at columns j .. j + ncols; mr and pf are
// std::integral_constant / std::bool_constant (template arguments of the tile).
template <int MR, class Tile>
inline void packed_matmul(int64_t m, int64_t j0, int64_t j1, Tile&& tile) {
  using One = std::integral_constant<int, 1>;
  if (m == 1) {
    for (int64_t j = j0; j < j1; j += 4) tile(One{}, std::true_type{}, int64_t{0}, j, std::min<int64_t>(4, j1 - j));
    return;
  }
  for_each_tile<MR>(
      m, j0, j1,
      [&](int64_t i, int64_t j, int64_t nc) { tile(std::integral_constant<int, MR>{}, std::false_type{}, i, j, nc); },
      [&](int64_t i, int64_t j, int64_t nc) { tile(One{}, std::false_type{}, i, j, nc); });
}

}  // namespace lowbit
