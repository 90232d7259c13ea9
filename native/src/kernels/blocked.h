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

}  // namespace lowbit
