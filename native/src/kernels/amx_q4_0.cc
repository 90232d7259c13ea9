// ggml.h's matmul_q4_0 on AMX-INT8, bit for bit the reference: per block of
// 32, TDPBSSD gives the exact int32 sums of a 16 x 16 output tile; each output
// then takes acc = fma((float)sumi, f32(d_w) * d_a, acc) in block order, in
// 16 zmm accumulators (one per activation row of the tile).
//
// Tiles: 0-1 C (16 x 16 int32), 4-5 A (16 activation rows x the 32 code bytes
// of one block, read in place with stride lda), 6-7 B (8 rows x 64 bytes: the
// block's codes u - 8 as int8 for 16 columns in the VNNI layout, 4 consecutive
// k per column in a row). A panel of 16 columns (all blocks) is unpacked per
// thread and reused by every 16-row tile of activations; the tile products of
// two blocks are issued before the first block's epilogue, so the second runs
// beside it. Below 128 rows (amx.h; decode included) and past the last multiple
// of 16, avx512 runs the rows.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "amx.h"
#include "ggml.h"
#include "kernels.h"

namespace lowbit {

namespace {

constexpr int64_t kBTile = 512;  // 8 rows x 64 bytes

// Columns j .. j + 16 (those at or past j + nc: zero codes and scales): per
// block b the B tile at panel + b * 512 and the f32 weight scales at scales + b * 16.
void unpack_panel(const uint8_t* W, const uint16_t* wd, int64_t nb, int64_t j, int64_t nc, uint8_t* panel,
                  float* scales) {
  std::memset(panel, 0, (size_t)(nb * kBTile));
  for (int64_t n = 0; n < 16; n++) {
    if (n >= nc) {
      for (int64_t b = 0; b < nb; b++) scales[b * 16 + n] = 0.0f;
      continue;
    }
    const int64_t col = j + n;
    for (int64_t b = 0; b < nb; b++) {
      uint8_t bytes[16];
      std::memcpy(bytes, W + ggml_code_offset(col, b, 0, nb, 16), 8);
      std::memcpy(bytes + 8, W + ggml_code_offset(col, b, 8, nb, 16), 8);
      int8_t e[32];  // element t: low nibble of byte t (t < 16), high nibble of byte t - 16
      for (int t = 0; t < 16; t++) e[t] = (int8_t)((bytes[t] & 15) - 8), e[t + 16] = (int8_t)((bytes[t] >> 4) - 8);
      uint8_t* tile = panel + b * kBTile;
      for (int r = 0; r < 8; r++) std::memcpy(tile + r * 64 + n * 4, e + 4 * r, 4);
      scales[b * 16 + n] = f16_to_f32_scalar(wd[ggml_scale_index(col, b, nb)]);
    }
  }
}

// acc[r] += (float)o[r] * (dw * d_a[r, b]) for the 16 rows of a tile
inline void block_epilogue(const int32_t* o, const float* dw, const float* ad, int64_t nb, __m512* acc) {
  const __m512 w = _mm512_loadu_ps(dw);
  for (int r = 0; r < 16; r++) {
    const __m512 dd = _mm512_mul_ps(w, _mm512_set1_ps(ad[r * nb]));
    acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(o + r * 16)), dd, acc[r]);
  }
}

}  // namespace

void matmul_q4_0_amx(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, const uint8_t* W,
                     const uint16_t* wd, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t k) {
  const int64_t mt = amx_tile_rows(m, kAmxMinRowsQ4_0), nb = k / kQK;
  if (mt > 0 && j1 > j0 && nb > 0) {
    thread_local std::vector<uint8_t> panel_buf;
    thread_local std::vector<float> scale_buf;
    panel_buf.resize((size_t)(nb * kBTile));
    scale_buf.resize((size_t)(nb * 16));
    uint8_t* panel = panel_buf.data();
    float* scales = scale_buf.data();
    alignas(64) int32_t out0[256], out1[256];
    load_tile_config(16, 64, 16, 32, 8, 64);
    for (int64_t j = j0; j < j1; j += 16) {
      const int64_t nc = std::min<int64_t>(16, j1 - j);
      unpack_panel(W, wd, nb, j, nc, panel, scales);
      for (int64_t i = 0; i < mt; i += 16) {
        const int8_t* a = A + i * lda;
        const float* d = ad + i * nb;
        __m512 acc[16];
        for (int r = 0; r < 16; r++) acc[r] = _mm512_setzero_ps();
        int64_t b = 0;
        for (; b + 2 <= nb; b += 2) {
          _tile_zero(0);
          _tile_loadd(4, a + b * kQK, lda);
          _tile_loadd(6, panel + b * kBTile, 64);
          _tile_dpbssd(0, 4, 6);
          _tile_zero(1);
          _tile_loadd(5, a + (b + 1) * kQK, lda);
          _tile_loadd(7, panel + (b + 1) * kBTile, 64);
          _tile_dpbssd(1, 5, 7);
          _tile_stored(0, out0, 64);
          block_epilogue(out0, scales + b * 16, d + b, nb, acc);
          _tile_stored(1, out1, 64);
          block_epilogue(out1, scales + (b + 1) * 16, d + b + 1, nb, acc);
        }
        if (b < nb) {
          _tile_zero(0);
          _tile_loadd(4, a + b * kQK, lda);
          _tile_loadd(6, panel + b * kBTile, 64);
          _tile_dpbssd(0, 4, 6);
          _tile_stored(0, out0, 64);
          block_epilogue(out0, scales + b * 16, d + b, nb, acc);
        }
        for (int r = 0; r < 16; r++) _mm512_mask_storeu_ps(C + (i + r) * ldc + j, cols_mask(nc), acc[r]);
      }
    }
  }
  if (mt < m)
    kernels_avx512().matmul_q4_0(A + mt * lda, lda, ad + mt * nb, as + mt * nb, W, wd, C + mt * ldc, ldc, m - mt, j0,
                                 j1, k);
}

}  // namespace lowbit
