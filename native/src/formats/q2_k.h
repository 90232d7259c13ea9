// GGUF Q2_K (ggml-common.h block_q2_K): 256 weights in 16 sub-blocks of 16, an
// f16 super-block scale d and min dmin, 4-bit sub-block scales sc[s] (low
// nibble of scales[s]) and mins mn[s] (high nibble), 2-bit codes u in [0, 3]:
//   w[e] = d * sc[e / 16] * u[e] - dmin * mn[e / 16]
// codes: element 128j + 32c + t (j < 2, c < 4, t < 32): (qs[32j + t] >> 2c) & 3.
//
// Matmul with Q8_K activations (codes a, scale da, 16-sums bsums), per output:
// the arithmetic of llama.cpp's AVX2 ggml_vec_dot_q2_K_q8_K (arch/x86/quants.c;
// x86 builds without AVX-512 do not repack Q2_K, and prefill runs the same dot
// product): eight f32 lanes l; per super-block b (in order), exact int32
//   M[l] = mn[2l] * bsums[2l] + mn[2l + 1] * bsums[2l + 1]
//   L[l] = sum over elements e with (e % 32) / 4 == l of sc[e / 16] * u[e] * a[e]
//   acc[l] = fmaf(-(da * dmin), (float)M[l], acc[l])   then
//   acc[l] = fmaf(da * d, (float)L[l], acc[l])          (da * d: one f32 product)
// C = ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7)).
// Every variant computes exactly this, so SIMD equals the reference bit for bit.
//
// Storage (KQuantFormat::pack = q2_k_pack; packed.h): the blocks' bytes moved,
// not changed, into groups of 16 rows (the last padded with zero rows), one row
// per SIMD lane; super-block b of a group (the 16 rows' block b: 1344 bytes):
//   [0, 32)       d of rows 0..15 (f16 bits)
//   [32, 64)      dmin of rows 0..15
//   [64, 320)     scales: byte s < 16 of row r at 64 + 16 s + r
//   [320, 1344)   qs: chunk (j < 2, l < 8) at 320 + 64 (8 j + l), bytes 4r .. 4r + 3 = row r's
//                 qs[32 j + 4l .. + 4): the codes of elements 128 j + 32 c + 4 l + i (c < 4), lane l's
// The kernels take that storage and column ranges starting at a multiple of 16.
#pragma once
#include <cstdint>

#include "formats/kquant.h"
#include "formats/packed.h"

namespace lowbit {

struct BlockQ2K {
  uint8_t scales[16];  // sc (low nibble) and mn (high nibble) per sub-block
  uint8_t qs[64];      // 2-bit codes
  uint16_t d, dmin;    // f16 bits
};
static_assert(sizeof(BlockQ2K) == 84, "Q2_K block is 84 bytes");

constexpr int64_t kQ2KGroupBlock = kPackRows * (int64_t)sizeof(BlockQ2K);  // one super-block of a group
void q2_k_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out);
void q2_k_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row);

void q2_k_dequantize_row(const uint8_t* row, int64_t cols, float* out);
KQ_DECLARE_MATMULS(q2_k);

}  // namespace lowbit
