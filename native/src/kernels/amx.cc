// AMX prefill matmuls (Sapphire Rapids and later): the avx512 table with the
// w8a8 and bf16 matmuls replaced from amx.h's row counts on (96 and 48 rows);
// fewer rows (decode) and the row remainder below a multiple of 16 run the
// avx512 kernels.
//
// Tiles (palette 1, every tile 16 rows x 64 bytes):
//   tmm0..3  C, a 2 x 2 block of 16 x 16 outputs (int32 or f32)
//   tmm4, 5  A, 16 activation rows x 64 bytes each (read in place, stride lda)
//   tmm6, 7  B, 16 output columns in the "VNNI" layout the tile dot products
//            want: B[r][n] = the 4 bytes (4 int8 / 2 bf16) of column n at k
//            positions 4r .. 4r + 3 of the 64-byte chunk
// The packed weights (kernels.h: groups of 4 rows, 64-byte chunks) are turned
// into that layout per thread, a panel of columns at a time, into a buffer
// reused by every row block: a 16 x 16 transpose of 4-byte words per chunk.
//
// w8a8: TDPBSSD sums int8 x int8 products exactly in int32, so the outputs are
// bit-identical to the reference (sa[i] * sw[j] * (float)d, in that order).
// bf16: TDPBF16PS accumulates in f32 in its own order (within the bf16
// kernels' tolerance of the reference, like the avx512 variant).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "amx.h"
#include "kernels.h"

namespace lowbit {

namespace {

constexpr int64_t kTileBytes = 1024;  // one 16 x 64-byte tile
constexpr int64_t kPanelBytes = 512 << 10;  // the B panel kept in L2 while row blocks pass
constexpr int kStepTiles = 2;               // column tiles of one step (32 columns)

// One step's 32 columns from column j (kp bytes a row): for each 64-byte chunk c
// and each 16-column tile t, the VNNI tile at out + (c * kStepTiles + t) * 1 KiB.
// Columns at or past j1 are zeros (the packed matrix holds rows up to j1 only).
void pack_step(const uint8_t* W, int64_t kp, int64_t j, int64_t j1, uint8_t* out) {
  const int64_t nchunks = kp / 64;
  for (int t = 0; t < kStepTiles; t++)
    for (int n = 0; n < 16; n++) {
      const int64_t col = j + t * 16 + n;
      if (col >= j1) {
        for (int64_t c = 0; c < nchunks; c++) {
          uint32_t* dst = reinterpret_cast<uint32_t*>(out + (c * kStepTiles + t) * kTileBytes);
          for (int r = 0; r < 16; r++) dst[r * 16 + n] = 0;
        }
        continue;
      }
      const uint8_t* row = W + (col / 4) * 4 * kp + (col % 4) * 64;  // chunk 0 of this column's row
      for (int64_t c = 0; c < nchunks; c++) {
        uint32_t src[16];
        std::memcpy(src, row + c * 256, 64);
        uint32_t* dst = reinterpret_cast<uint32_t*>(out + (c * kStepTiles + t) * kTileBytes);
        for (int r = 0; r < 16; r++) dst[r * 16 + n] = src[r];
      }
    }
}

// The blocked AMX driver: columns [j0, j1) in panels that fit kPanelBytes, rows
// [0, mt) (a multiple of 16) in blocks of 32 then 16, 2 column tiles a step.
// BF16 picks the tile dot product (TDPBF16PS, else TDPBSSD: the intrinsics take
// literal tile numbers); epi(i, rows, j, ncols, buf) receives a block's 32 x 32
// results (row stride 32 elements of 4 bytes).
template <bool BF16, class Epi>
void amx_blocks(const uint8_t* A, int64_t lda_bytes, int64_t mt, const uint8_t* W, int64_t kp_bytes, int64_t j0,
                int64_t j1, Epi epi) {
  const int64_t nchunks = kp_bytes / 64;
  int64_t panel_cols = std::max<int64_t>(32, kPanelBytes / kp_bytes / 32 * 32);
  thread_local std::vector<uint8_t> buf;
  buf.resize((size_t)(std::min<int64_t>(panel_cols, pad_to(j1 - j0, 32)) * kp_bytes));
  alignas(64) int32_t out[32 * 32];
  load_tile_config(16, 64, 16, 64, 16, 64);
  for (int64_t jp = j0; jp < j1; jp += panel_cols) {
    const int64_t jpe = std::min(jp + panel_cols, j1);
    const int64_t nsteps = (jpe - jp + 31) / 32;
    for (int64_t s = 0; s < nsteps; s++) pack_step(W, kp_bytes, jp + s * 32, jpe, buf.data() + s * 32 * kp_bytes);
    for (int64_t i = 0; i < mt; i += 32) {
      const bool two = i + 32 <= mt;
      for (int64_t s = 0; s < nsteps; s++) {
        const uint8_t* b = buf.data() + s * 32 * kp_bytes;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        const uint8_t* a0 = A + i * lda_bytes;
        const uint8_t* a1 = a0 + 16 * lda_bytes;
        for (int64_t c = 0; c < nchunks; c++, b += kStepTiles * kTileBytes) {
          _tile_loadd(4, a0 + c * 64, lda_bytes);
          _tile_loadd(6, b, 64);
          _tile_loadd(7, b + kTileBytes, 64);
// the tile dot product of the kernel's type (the intrinsics take literal tile numbers)
#define LOWBIT_AMX_DP(c, a, b)   \
  if constexpr (BF16)            \
    _tile_dpbf16ps(c, a, b);     \
  else                           \
    _tile_dpbssd(c, a, b)
          LOWBIT_AMX_DP(0, 4, 6);
          LOWBIT_AMX_DP(1, 4, 7);
          if (two) {
            _tile_loadd(5, a1 + c * 64, lda_bytes);
            LOWBIT_AMX_DP(2, 5, 6);
            LOWBIT_AMX_DP(3, 5, 7);
          }
#undef LOWBIT_AMX_DP
        }
        _tile_stored(0, out, 128);
        _tile_stored(1, out + 16, 128);
        if (two) {
          _tile_stored(2, out + 16 * 32, 128);
          _tile_stored(3, out + 16 * 32 + 16, 128);
        }
        const int64_t j = jp + s * 32;
        epi(i, two ? 32 : 16, j, std::min<int64_t>(32, jpe - j), out);
      }
    }
  }
}

void matmul_q8_amx(const int8_t* A, int64_t lda, const float* sa, const int8_t* W, const float* sw,
                   const int32_t* wsum, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp,
                   int32_t* D) {
  const int64_t mt = amx_tile_rows(m, kAmxMinRowsQ8);
  if (mt > 0 && j1 > j0)
    amx_blocks<false>(reinterpret_cast<const uint8_t*>(A), lda, mt, reinterpret_cast<const uint8_t*>(W), kp, j0, j1,
                      [&](int64_t i, int64_t rows, int64_t j, int64_t ncols, const int32_t* out) {
                 for (int64_t r = 0; r < rows; r++)
                   for (int64_t h = 0; h < ncols; h += 16) {
                     const __mmask16 k = cols_mask(ncols - h);
                     const __m512i d = _mm512_load_si512(out + r * 32 + h);
                     if (D) {
                       _mm512_mask_storeu_epi32(D + (i + r) * ldc + j + h, k, d);
                     } else {  // sa[i] * sw[j] * (float)d, the reference's order
                       const __m512 s = _mm512_mul_ps(_mm512_set1_ps(sa[i + r]), _mm512_maskz_loadu_ps(k, sw + j + h));
                       _mm512_mask_storeu_ps(C + (i + r) * ldc + j + h, k, _mm512_mul_ps(s, _mm512_cvtepi32_ps(d)));
                     }
                   }
               });
  if (mt < m)
    kernels_avx512().matmul_q8(A + mt * lda, lda, sa + mt, W, sw, wsum, D ? nullptr : C + mt * ldc, ldc, m - mt, j0,
                               j1, kp, D ? D + mt * ldc : nullptr);
}

void matmul_bf16_amx(const uint16_t* A, int64_t lda, const uint16_t* W, float* C, int64_t ldc, int64_t m, int64_t j0,
                     int64_t j1, int64_t kp) {
  const int64_t mt = amx_tile_rows(m, kAmxMinRowsBf16);
  if (mt > 0 && j1 > j0)
    amx_blocks<true>(reinterpret_cast<const uint8_t*>(A), lda * 2, mt, reinterpret_cast<const uint8_t*>(W), kp * 2, j0,
                     j1, [&](int64_t i, int64_t rows, int64_t j, int64_t ncols, const int32_t* out) {
                 const float* f = reinterpret_cast<const float*>(out);
                 for (int64_t r = 0; r < rows; r++)
                   for (int64_t h = 0; h < ncols; h += 16)
                     _mm512_mask_storeu_ps(C + (i + r) * ldc + j + h, cols_mask(ncols - h), _mm512_load_ps(f + r * 32 + h));
               });
  if (mt < m) kernels_avx512().matmul_bf16_bf16a(A + mt * lda, lda, W, C + mt * ldc, ldc, m - mt, j0, j1, kp);
}

}  // namespace

const KernelTable& kernels_amx() {
  static const KernelTable t = [] {
    KernelTable k = kernels_avx512();
    k.name = "amx";  // (isa stays avx512: the format modules' and KV caches' kernels)
    k.matmul_q8 = matmul_q8_amx, k.matmul_bf16_bf16a = matmul_bf16_amx;
    k.matmul_q4_0 = matmul_q4_0_amx;  // amx_q4_0.cc
    return k;
  }();
  return t;
}

}  // namespace lowbit
