// ISA-independent tiling of the SIMD matmul kernels: each instruction-set file
// supplies its register tiles; the loops here decide which tile runs where.
//
// Include only from the per-ISA translation units. Everything here has
// internal linkage (an anonymous namespace): each file gets its own copy,
// compiled with that file's -m flags. (An inline function or template of
// external linkage instantiated in both avx2 and avx512 files could be merged
// by the linker into the AVX-512 copy and then run on an AVX2-only CPU.)
#pragma once
#include <algorithm>
#include <cstdint>

namespace lowbit {
namespace {

// Output columns [j0, j1) in blocks of `block` (kept hot in cache) while tiles
// of up to MT activation rows sweep each block; a tile covers `step` columns
// (fewer at the block's end). Calls tile(i, mt, j, ncols) with mt in [1, MT]
// (MT except for the rows left at the end).
template <int MT, class Tile>
inline void sweep_tiles(int64_t m, int64_t j0, int64_t j1, int64_t block, int64_t step, Tile tile) {
  for (int64_t jb = j0; jb < j1; jb += block) {
    const int64_t jb1 = std::min(j1, jb + block);
    for (int64_t i = 0; i < m;) {
      const int64_t mt = std::min<int64_t>(MT, m - i);
      for (int64_t j = jb; j < jb1; j += step) tile(i, mt, j, std::min<int64_t>(step, jb1 - j));
      i += mt;
    }
  }
}

}  // namespace
}  // namespace lowbit
