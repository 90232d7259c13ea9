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
#include <vector>

#include "kernels.h"

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

constexpr int64_t kQ4IntMaxRows = 15;  // m up to which the integer (decode) path runs

// matmul_q4 (kernels.h) on an ISA's two paths: gemv up to kQ4IntMaxRows
// activation rows, the prefill GEMM (q4_gemm_*.cc) beyond; both take
// matmul_q4's arguments.
template <class Gemv, class Gemm>
inline void q4_matmul(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W,
                      const float* s, const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                      int64_t kp, int64_t group, Gemv gemv, Gemm gemm) {
  if (j0 >= j1 || m <= 0) return;
  if (m <= kQ4IntMaxRows) gemv(A, lda, sx, asum, W, s, o, C, ldc, m, j0, j1, kp, group);
  else gemm(A, lda, sx, asum, W, s, o, C, ldc, m, j0, j1, kp, group);
}

// Prefill scratch: a reusable buffer of n floats with a 64-byte aligned start
// (no cache-line-split loads).
inline float* q4_scratch(std::vector<float>& v, int64_t n) {
  if ((int64_t)v.size() < n + 16) v.resize(n + 16);
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(v.data()) + 63) & ~uintptr_t(63));
}

// The prefill GEMM's blocking (matmul_q4's arguments): blocks of kQ4GemmMB
// activation rows, widened and transposed once by panel (the ISA's
// transpose_block, x86.h) into at, stride ldt = rows padded to 16; per block of
// kQ4GemmNB weight rows [jb, jb + cols) and kQ4GemmKB extended columns [kb, ke)
// (len = ke - kb), those rows dequantized by dequant (the ISA's q4_dequant_rows,
// cols padded to `colpad` rows) into wb, len per row, and
// tiles(at + kb * ldt, ldt, wb, len, ib, rows, jb, cols, kb) run on them; after
// the k blocks of a (row, column) block, done(ib, rows, jb, cols, ldt).
constexpr int64_t kQ4GemmMB = 64, kQ4GemmNB = 96, kQ4GemmKB = 512;  // KB a multiple of 32
template <class Panel, class Dequant, class Tiles, class Done>
inline void q4_gemm_blocks(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W,
                           const float* s, const float* o, int64_t m, int64_t j0, int64_t j1, int64_t kp,
                           int64_t group, int64_t colpad, Panel panel, Dequant dequant, Tiles tiles, Done done) {
  const int64_t ng = kp / group, kq = kp + ng;
  thread_local std::vector<float> wbuf, abuf;
  float* wb = q4_scratch(wbuf, kQ4GemmNB * kQ4GemmKB);
  float* at = q4_scratch(abuf, kQ4GemmMB * kq);
  for (int64_t ib = 0; ib < m; ib += kQ4GemmMB) {
    const int64_t rows = std::min(kQ4GemmMB, m - ib), ldt = pad_to(rows, 16);
    panel(A + ib * lda, lda, sx + ib * ng, asum + ib * ng, ng, group, rows, kp, ldt, at);
    for (int64_t jb = j0; jb < j1; jb += kQ4GemmNB) {
      const int64_t cols = std::min(kQ4GemmNB, j1 - jb);
      for (int64_t kb = 0; kb < kq; kb += kQ4GemmKB) {
        const int64_t ke = std::min(kb + kQ4GemmKB, kq), len = ke - kb;
        dequant(W, s, o, jb, j1, pad_to(cols, colpad), kp, group, kb, ke, wb);
        tiles(at + kb * ldt, ldt, wb, len, ib, rows, jb, cols, kb);
      }
      done(ib, rows, jb, cols, ldt);
    }
  }
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
