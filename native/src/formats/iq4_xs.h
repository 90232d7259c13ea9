// GGUF IQ4_XS (ggml-common.h block_iq4_xs): super-blocks of 256 weights in 8
// sub-blocks of 32, an f16 d, 6-bit sub-block scales ls[s] (low 4 bits in
// nibble s % 2 of scales_l[s / 2], high 2 bits at bits 2s of scales_h),
// 4-bit indices into kIq4nlValues (iq4_nl.h); in sub-block s, element t < 16
// is the low nibble of qs[16s + t], t + 16 its high nibble:
//   w[32s + t] = (d * (ls[s] - 32)) * kIq4nlValues[index]
// Storage (KQuantFormat::pack = iq4_xs_pack): the blocks' bytes moved, not
// changed, into groups of kPackRows = 16 rows (the last padded with zero
// rows), one row per SIMD lane. Group G starts at G * 16 * row_bytes; its
// super-block b (the 16 rows' block b: 2176 bytes) at b * 2176 within it:
//   [0, 32)       d of rows 0..15 (f16 bits)
//   [32, 64)      scales_h of rows 0..15 (2 bytes each)
//   [64, 128)     scales_l: row r's 4 bytes at 64 + 4 r
//   [128, 2176)   qs: chunk c < 32 at 128 + 64 c, bytes 4r .. 4r + 3 = row r's qs[4c .. 4c + 4)
//                 (sub-block s = c / 4: low nibbles elements 32s + 4(c % 4) + e, high ones + 16)
// The kernels take that storage and column ranges starting at a multiple of 16.
//
// Matmul with Q8_K activations (codes a, f32 scale da; kquant.h), per output:
// the arithmetic of llama.cpp's x86 CPU backend, which depends on the number
// of tokens m of the matmul (IQ4_XS is not repacked at load):
//  - m < 8: AVX2 ggml_vec_dot_iq4_xs_q8_K (arch/x86/quants.c): eight f32
//    lanes; per super-block b (in order), exact int32
//      L[l] = sum over s of (ls[s] - 32) * sum over t in [4l, 4l + 4) of v[32s + t] * a[32s + t]
//      acc[l] = fmaf(d * da, (float)L[l], acc[l])   (d * da: one f32 product)
//    C = ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7));
//  - m >= 8 (matrices of a multiple of 8 rows, every real one): its IQ panel
//    GEMM (iqp.cpp: rows decoded to int8 panels, GGML_IQP_MIN_BATCH = 8), one
//    FMA per super-block: with the exact int32 sum P of all 256 products
//    (ls[s] - 32) * v * a, acc = fmaf((float)P, d * da, acc); C = acc.
// Every variant computes exactly this, so SIMD equals the reference bit for bit.
#pragma once
#include <cstdint>

#include "formats/kquant.h"
#include "formats/packed.h"

namespace lowbit {

struct BlockIQ4XS {
  uint16_t d;           // f16 bits
  uint16_t scales_h;    // high 2 bits of the 8 scales
  uint8_t scales_l[4];  // low 4 bits
  uint8_t qs[128];      // indices
};
static_assert(sizeof(BlockIQ4XS) == 136, "IQ4_XS block is 136 bytes");

namespace {
// ls[s] - 32 of sub-block s
inline int iq4_xs_scale(const BlockIQ4XS* x, int s) {
  return (((x->scales_l[s / 2] >> (4 * (s % 2))) & 15) | (((x->scales_h >> (2 * s)) & 3) << 4)) - 32;
}
}  // namespace

// llama.cpp's smallest batch for its IQ panel GEMM
constexpr int64_t kIq4xsPanelMinTokens = 8;

constexpr int64_t kIQ4XSGroupBlock = kPackRows * (int64_t)sizeof(BlockIQ4XS);  // one super-block of a group
// n rows of GGUF blocks (row_bytes each) -> the storage above (pad16(n) * row_bytes bytes).
void iq4_xs_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out);
// Row j of the storage -> its GGUF blocks (row_bytes).
void iq4_xs_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row);

void iq4_xs_dequantize_row(const uint8_t* row, int64_t cols, float* out);
KQ_DECLARE_MATMULS(iq4_xs);

}  // namespace lowbit
