// GGUF Q5_K (ggml-common.h block_q5_K): 256 weights in 8 sub-blocks of 32, an
// f16 super-block scale d and min dmin, 6-bit sub-block scales sc[s] and mins
// mn[s] packed in 12 bytes as Q4_K's, 5-bit codes u in [0, 31]:
//   w[e] = d * sc[e / 32] * u[e] - dmin * mn[e / 32]
// codes: element 64g + t (t < 32): (qs[32g + t] & 15) + 16 * ((qh[t] >> 2g) & 1);
// element 64g + 32 + t: (qs[32g + t] >> 4) + 16 * ((qh[t] >> (2g + 1)) & 1).
//
// Matmul with Q8_K activations (codes a, scale da, 16-sums bsums), per output:
// the arithmetic of llama.cpp's AVX2 ggml_vec_dot_q5_K_q8_K (arch/x86/quants.c;
// Q5_K is not repacked on x86, and its prefill runs the same dot product):
// eight f32 lanes l and one f32 sum of the mins; per super-block b (in order),
// exact int32
//   L[l] = sum over elements e with (e % 32) / 4 == l of sc[e / 32] * u[e] * a[e]
//   imin = sum_s mn[s] * (bsums[2s] + bsums[2s + 1])
//   acc[l] = fmaf(da * d, (float)L[l], acc[l])          (da * d: one f32 product)
//   summs = fmaf(-(da * dmin), (float)imin, summs)   (llama.cpp's summs += dmin * imin,
//                                                     contracted to an FMA by its compiler)
// C = (((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7))) + summs.
// Every variant computes exactly this, so SIMD equals the reference bit for bit.
#pragma once
#include <cstdint>

#include "formats/kquant.h"

namespace lowbit {

struct BlockQ5K {
  uint16_t d, dmin;     // f16 bits
  uint8_t scales[12];   // 6-bit sc[8] and mn[8] (as Q4_K)
  uint8_t qh[32];       // fifth bits
  uint8_t qs[128];      // low nibbles
};
static_assert(sizeof(BlockQ5K) == 176, "Q5_K block is 176 bytes");

void q5_k_dequantize_row(const uint8_t* row, int64_t cols, float* out);
// x[k] (k % 256 == 0) -> k / 256 blocks at out, byte for byte as ggml's
// quantize_row_q5_K_ref (llama-quantize without an importance matrix).
void q5_k_quantize_row(const float* x, int64_t k, uint8_t* out);
KQ_DECLARE_MATMULS(q5_k);

}  // namespace lowbit
