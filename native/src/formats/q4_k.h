// GGUF Q4_K (ggml-common.h block_q4_K): 256 weights in 8 sub-blocks of 32, an
// f16 super-block scale d and min dmin, 6-bit sub-block scales sc[s] and mins
// mn[s] packed in 12 bytes, 4-bit codes u in [0, 15]:
//   w[e] = d * sc[e / 32] * u[e] - dmin * mn[e / 32]
// codes: element 64g + t (t < 32) in the low nibble of qs[32g + t], element
// 64g + 32 + t in its high nibble.
//
// Matmul with Q8_K activations (codes a, scale da, 16-sums bsums), per output:
// the arithmetic of llama.cpp's x86 CPU backend for Q4_K, which repacks Q4_K
// matrices of a multiple of 8 rows (every matrix of a real model) and runs
// ggml_gemv_q4_K_8x8_q8_K / ggml_gemm_q4_K_8x8_q8_K (arch/x86/repack.cpp):
//   acc = 0, accm = 0; for each super-block b (in order):
//     isum = sum_s sc[s] * (exact int dot of sub-block s: u . a)
//     imin = sum_s mn[s] * (bsums[2s] + bsums[2s + 1])
//     acc  = fmaf((float)isum, d * da, acc)       (d * da: one f32 product)
//     accm = fmaf((float)imin, dmin * da, accm)
//   C = acc - accm
// (llama.cpp's unrepacked ggml_vec_dot_q4_K_q8_K, used only for a matrix whose
// row count is not a multiple of 8, sums in other lanes: not reproduced.)
// Every variant computes exactly this, so SIMD equals the reference bit for bit.
#pragma once
#include <cstdint>

#include "formats/kquant.h"

namespace lowbit {

struct BlockQ4K {
  uint16_t d, dmin;     // f16 bits
  uint8_t scales[12];   // 6-bit sc[8] and mn[8]
  uint8_t qs[128];      // nibbles
};
static_assert(sizeof(BlockQ4K) == 144, "Q4_K block is 144 bytes");

// ggml's get_scale_min_k4 for all 8 sub-blocks.
inline void q4_k_scales(const uint8_t* q, uint8_t sc[8], uint8_t mn[8]) {
  for (int j = 0; j < 4; j++) {
    sc[j] = q[j] & 63;
    mn[j] = q[j + 4] & 63;
  }
  for (int j = 4; j < 8; j++) {
    sc[j] = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    mn[j] = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void q4_k_dequantize_row(const uint8_t* row, int64_t cols, float* out);
void matmul_q4_k_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                     int64_t j1);
#if defined(__x86_64__)
void matmul_q4_k_avx2(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                      int64_t j1);
void matmul_q4_k_avx512(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                        int64_t j0, int64_t j1);
#endif

}  // namespace lowbit
