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

// ---- int4 (w4a16) kernels: the parts of q4_*.cc and q4_gemm_*.cc that do not
// depend on the instruction set (kernels.h, matmul_q4, for the layout) ----

// The 4 weight rows of the column group at j < j1: their packed codes, and each
// row's scales and offsets (rows past j1 repeat the last valid row: computed,
// never stored).
struct Q4Cols {
  int64_t ncols;  // valid rows, min(4, j1 - j)
  const uint8_t* w;
  const float* sr[4];
  const float* orow[4];
};
inline Q4Cols q4_cols(const uint8_t* W, const float* s, const float* o, int64_t j, int64_t j1, int64_t ng, int64_t nch) {
  Q4Cols q;
  q.ncols = std::min<int64_t>(4, j1 - j);
  q.w = W + (j / 4) * nch * 64;
  for (int r = 0; r < 4; r++) {
    const int64_t jr = j + std::min<int64_t>(r, q.ncols - 1);
    q.sr[r] = s + jr * ng;
    q.orow[r] = o + jr * ng;
  }
  return q;
}

// Prefill: the activation panel's extension rows kp .. kp + ng - 1, each group's
// activation sums for the panel's `rows` tokens (zeros past them), stride ldt.
inline void q4_panel_asum(const float* asum, int64_t ng, int64_t kp, int64_t rows, int64_t ldt, float* at) {
  for (int64_t g = 0; g < ng; g++)
    for (int64_t i = 0; i < ldt; i++) at[(kp + g) * ldt + i] = i < rows ? asum[i * ng + g] : 0.0f;
}

// Prefill: columns [k0, k1) of the extended weight rows (s*q for k < kp, o[j,
// k - kp] for kp <= k < kp + ng) of rows [jb, jb + nrows), row-major with
// stride k1 - k0; k0 is a multiple of 32. Rows >= j1 are zero (W is read only
// for rows < j1). chunk(d, wr, sv) writes the 32 values s * q of one chunk: wr
// its 16 code bytes, sv its group's scale.
template <class Chunk>
inline void q4_dequant_rows(const uint8_t* W, const float* s, const float* o, int64_t jb, int64_t j1, int64_t nrows,
                            int64_t kp, int64_t group, int64_t k0, int64_t k1, float* dst, Chunk chunk) {
  const int64_t ng = kp / group, cpg = group / 32, nch = kp / 32, ldw = k1 - k0;
  const int64_t c0 = k0 / 32, c1 = std::min(k1, kp) / 32;
  for (int64_t jl = 0; jl < nrows; jl++) {
    const int64_t j = jb + jl;
    float* d = dst + jl * ldw;
    if (j >= j1) {
      std::fill(d, d + ldw, 0.0f);
      continue;
    }
    const float* sr = s + j * ng;
    const uint8_t* wr = W + ((j / 4) * nch + c0) * 64 + (j % 4) * 16;
    for (int64_t c = c0; c < c1; c++, wr += 64, d += 32) chunk(d, wr, sr + c / cpg);
    for (int64_t k = std::max(k0, kp); k < k1; k++) *d++ = o[j * ng + (k - kp)];
  }
}

}  // namespace
}  // namespace lowbit
