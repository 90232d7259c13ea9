// The Q4_0 / Q8_0 matmul's tiling, shared by ggml_avx2.cc and ggml_avx512.cc
// (internal linkage: see tiling.h). Column blocks of kBlockGroups row groups;
// token tiles of MT rows sweep each block, the remaining rows in a tile of
// their size (t1, t2, t3: tiles of 1-3 rows; tmt: of MT rows).
#pragma once
#include <cstdint>

#include "ggml.h"
#include "tiling.h"

namespace lowbit {
namespace {

constexpr int64_t kBlockGroups = 8;  // row groups kept hot while token tiles sweep them

// gbytes: code bytes of one row group (all blocks)
template <int MT, class T, class Tile1, class Tile2, class Tile3, class TileMT>
void run(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, const T* W, const uint16_t* wd, float* C,
         int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t k, int64_t gbytes, Tile1 t1, Tile2 t2, Tile3 t3,
         TileMT tmt) {
  const int64_t nb = k / kQK;
  sweep_tiles<MT>(m, j0, j1, kBlockGroups * kGgmlRows, kGgmlRows, [&](int64_t i, int64_t mt, int64_t j, int64_t nc) {
    const T* w = W + (j / kGgmlRows) * gbytes;
    const uint16_t* sc = wd + (j / kGgmlRows) * nb * kGgmlRows;
    const int8_t* a = A + i * lda;
    const float* d = ad + i * nb;
    const int32_t* s = as + i * nb;
    float* c = C + i * ldc + j;
    if (mt == MT) tmt(a, lda, d, s, nb, w, sc, c, ldc, nc);
    else if (mt == 3) t3(a, lda, d, s, nb, w, sc, c, ldc, nc);
    else if (mt == 2) t2(a, lda, d, s, nb, w, sc, c, ldc, nc);
    else t1(a, lda, d, s, nb, w, sc, c, ldc, nc);
  });
}

}  // namespace
}  // namespace lowbit

// Defines ggml.h's matmul_q4_0_<isa> and matmul_q8_0_<isa> (at namespace
// lowbit scope) on the ISA's tiles Q4<MT> / Q8<MT> (function templates on the
// token count), full tiles of MT4 / MT8 tokens. A row group's code bytes per
// block: 8 rows x 16 (Q4_0) or 32 (Q8_0).
#define LOWBIT_GGML_MATMULS(isa, Q4, MT4, Q8, MT8)                                                                 \
  void matmul_q4_0_##isa(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, const uint8_t* W,       \
                         const uint16_t* wd, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t k) { \
    run<MT4>(A, lda, ad, as, W, wd, C, ldc, m, j0, j1, k, (k / kQK) * kGgmlRows * 16, Q4<1>, Q4<2>, Q4<3>, Q4<MT4>);  \
  }                                                                                                                \
  void matmul_q8_0_##isa(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, const int8_t* W,        \
                         const uint16_t* wd, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t k) { \
    run<MT8>(A, lda, ad, as, W, wd, C, ldc, m, j0, j1, k, (k / kQK) * kGgmlRows * 32, Q8<1>, Q8<2>, Q8<3>, Q8<MT8>);  \
  }
