// GGUF Q6_K (ggml-common.h block_q6_K): 256 weights in 16 sub-blocks of 16, an
// f16 super-block scale d, int8 sub-block scales sc[16], 6-bit codes u in
// [0, 63] (4 low bits in ql, 2 high bits in qh):
//   w[e] = d * sc[e / 16] * (u[e] - 32)
// codes: element 128h + 32c + t (h < 2, c < 4, t < 32), with L = ql + 64h and
// H = qh + 32h: c = 0: L[t] & 15, c = 1: L[t + 32] & 15, c = 2: L[t] >> 4,
// c = 3: L[t + 32] >> 4, each | ((H[t] >> 2c) & 3) << 4.
//
// Matmul with Q8_K activations (codes a, scale da, 16-sums bsums), per output:
// the arithmetic of llama.cpp's AVX2 ggml_vec_dot_q6_K_q8_K (arch/x86/quants.c;
// Q6_K is not repacked on x86, and its prefill runs the same dot product):
// eight f32 lanes l; per super-block b (in order), exact int32 lane sums
//   L[l] = sum over elements e with (e % 32) / 4 == l of sc[e / 16] * u[e] * a[e]
//          - 32 * (bsums[2l] * sc[2l] + bsums[2l + 1] * sc[2l + 1])
//   acc[l] = fmaf(da * d, (float)L[l], acc[l])      (da * d: one f32 product)
// C = ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7)).
// Every variant computes exactly this, so SIMD equals the reference bit for bit.
#pragma once
#include <cstdint>

#include "formats/kquant.h"

namespace lowbit {

struct BlockQ6K {
  uint8_t ql[128];     // low 4 bits
  uint8_t qh[64];      // high 2 bits
  int8_t scales[16];   // sub-block scales
  uint16_t d;          // f16 bits
};
static_assert(sizeof(BlockQ6K) == 210, "Q6_K block is 210 bytes");

void q6_k_dequantize_row(const uint8_t* row, int64_t cols, float* out);
// x[k] (k % 256 == 0) -> k / 256 blocks at out, byte for byte as ggml's
// quantize_row_q6_K_ref (llama-quantize without an importance matrix).
void q6_k_quantize_row(const float* x, int64_t k, uint8_t* out);
KQ_DECLARE_MATMULS(q6_k);

}  // namespace lowbit
