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
#pragma once
#include <cstdint>

#include "formats/kquant.h"

namespace lowbit {

struct BlockQ2K {
  uint8_t scales[16];  // sc (low nibble) and mn (high nibble) per sub-block
  uint8_t qs[64];      // 2-bit codes
  uint16_t d, dmin;    // f16 bits
};
static_assert(sizeof(BlockQ2K) == 84, "Q2_K block is 84 bytes");

void q2_k_dequantize_row(const uint8_t* row, int64_t cols, float* out);
KQ_DECLARE_MATMULS(q2_k);

}  // namespace lowbit
