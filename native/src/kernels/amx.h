// Shared by the AMX kernels (amx.cc, amx_q4_0.cc; compiled with -mamx-*).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "ggml.h"

namespace lowbit {

// Palette 1 tile shapes (rows, bytes per row) of tiles 0-3 (C), 4-5 (A) and
// 6-7 (B). The configuration is per thread: every kernel call loads its own.
inline void load_tile_config(int c_rows, int c_bytes, int a_rows, int a_bytes, int b_rows, int b_bytes) {
  struct alignas(64) {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
  } cfg = {};
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) {
    const int r = t < 4 ? c_rows : t < 6 ? a_rows : b_rows, b = t < 4 ? c_bytes : t < 6 ? a_bytes : b_bytes;
    cfg.rows[t] = (uint8_t)r, cfg.colsb[t] = (uint16_t)b;
  }
  _tile_loadconfig(&cfg);
}

// From this many activation rows a matmul runs on the tiles; below, the avx512 kernel runs it all.
// Each thread first unpacks its columns into a panel (a cost per call, not per row), so small m
// loses: on the device machine's Xeon (16 cores, docs/PERFORMANCE.md "AMX kernels") a TinyLlama-1.1B
// layer at m = 32 took 0.3-0.5x of avx512's speed in Q4_0, 0.5-0.7x in w8a8, 0.9-1.0x in bf16, and
// 2-10x at m >= 512. Timed at 32-256 rows (16 and 4 threads): amx over avx512 was 0.96-1.04x at
// 128 rows and 1.40x at 192 in Q4_0; 0.81-1.06x at 64 and 1.25x at 96 in w8a8; 1.29x at 48 in bf16.
constexpr int64_t kAmxMinRowsQ4_0 = 128, kAmxMinRowsQ8 = 96, kAmxMinRowsBf16 = 48;

// The rows of m that run on the tiles: none below min_rows, else the whole tiles of 16.
inline int64_t amx_tile_rows(int64_t m, int64_t min_rows) { return m < min_rows ? 0 : m / 16 * 16; }

// The first min(n, 16) lanes of a zmm (a tile row's partial store).
inline __mmask16 cols_mask(int64_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

// ggml.h's matmul_q4_0 on AMX-INT8 (amx_q4_0.cc)
void matmul_q4_0_amx(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, const uint8_t* W,
                     const uint16_t* wd, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t k);

}  // namespace lowbit
