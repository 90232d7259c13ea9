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
// tokens i < m - m % 4 through ggml_gemm_q4_K_8x8_q8_K, the others through
// ggml_gemv_q4_K_8x8_q8_K (arch/x86/repack.cpp; AVX2). With, per super-block
// and pair p < 4 of sub-blocks (2p, 2p + 1), the exact integers
//     P[p] = sc[2p] * (u . a over sub-block 2p) + sc[2p + 1] * (... 2p + 1)
//     M[p] = mn[2p] * (bsums[4p] + bsums[4p + 1]) + mn[2p + 1] * (bsums[4p + 2] + bsums[4p + 3])
// and dd = d * da, dm = dmin * da (one f32 product each):
//   GEMV tokens: per super-block b (in order)
//     acc  = fmaf((float)(P[0] + P[1] + P[2] + P[3]), dd, acc)
//     accm = fmaf((float)(M[0] + M[1] + M[2] + M[3]), dm, accm)
//   GEMM tokens: per super-block, per pair p (in order)
//     acc  = fmaf((float)P[p], dd, acc);  accm = fmaf((float)M[p], dm, accm)
//   C = acc - accm
// (llama.cpp's unrepacked ggml_vec_dot_q4_K_q8_K, used only for a matrix whose
// row count is not a multiple of 8, sums in other lanes: not reproduced.)
// Every variant computes exactly this, so SIMD equals the reference bit for bit.
//
// Storage (KQuantFormat::pack = q4_k_pack): the GGUF blocks' bytes moved, not
// changed, into groups of kPackRows = 16 rows (the last group padded with zero
// rows), so that a SIMD lane holds one row and no sum crosses lanes (as
// llama.cpp repacks Q4_K into 8-row groups). Group G starts at G * 16 *
// row_bytes; its super-block b (the 16 rows' block b: 2304 bytes) at
// b * 2304 within it:
//   [0, 32)      d of rows 0..15 (f16 bits)
//   [32, 64)     dmin of rows 0..15
//   [64, 256)    scales: byte j < 12 of row r at 64 + 16 j + r
//   [256, 2304)  codes: chunk c < 32 at 256 + 64 c; its bytes 4r .. 4r + 3 are
//                row r's qs[4c .. 4c + 4), i.e. for c = 8p + g (pair p,
//                group g < 8 of 4 codes) the low nibbles hold elements
//                64p + 4g + e (sub-block 2p), the high ones 64p + 32 + 4g + e
//                (sub-block 2p + 1), e < 4.
// The kernels take that storage and column ranges starting at a multiple of 16.
#pragma once
#include <cstdint>

#include "formats/kquant.h"
#include "formats/packed.h"

namespace lowbit {

struct BlockQ4K {
  uint16_t d, dmin;     // f16 bits
  uint8_t scales[12];   // 6-bit sc[8] and mn[8]
  uint8_t qs[128];      // nibbles
};
static_assert(sizeof(BlockQ4K) == 144, "Q4_K block is 144 bytes");

// (internal linkage: these helpers are compiled into the scalar, AVX2 and
// AVX-512 files, each with its own flags; see kernels/tiling.h)
namespace {
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

// The float step of one super-block for one token, given its pair sums P, M
// (GEMM tokens: one FMA per pair; GEMV tokens: one per super-block).
template <bool kGemm>
inline void q4_k_accumulate(const int32_t P[4], const int32_t M[4], float dd, float dm, float& acc, float& accm) {
  if (kGemm) {
    for (int p = 0; p < 4; p++) {
      acc = __builtin_fmaf((float)P[p], dd, acc);
      accm = __builtin_fmaf((float)M[p], dm, accm);
    }
  } else {
    acc = __builtin_fmaf((float)(P[0] + P[1] + P[2] + P[3]), dd, acc);
    accm = __builtin_fmaf((float)(M[0] + M[1] + M[2] + M[3]), dm, accm);
  }
}
// M[p] from a token's 16 bsums of the super-block.
inline void q4_k_min_pairs(const uint8_t mn[8], const int16_t* bs, int32_t M[4]) {
  for (int p = 0; p < 4; p++)
    M[p] = (int32_t)mn[2 * p] * ((int32_t)bs[4 * p] + bs[4 * p + 1]) + (int32_t)mn[2 * p + 1] * ((int32_t)bs[4 * p + 2] + bs[4 * p + 3]);
}
}  // namespace

constexpr int64_t kQ4KGroupBlock = kPackRows * (int64_t)sizeof(BlockQ4K);  // one super-block of a group
// n rows of GGUF blocks (row_bytes each) -> the storage above (pad16(n) * row_bytes bytes).
void q4_k_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out);
// Row j of the storage -> its GGUF blocks (row_bytes).
void q4_k_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row);

void q4_k_dequantize_row(const uint8_t* row, int64_t cols, float* out);
// x[k] (k % 256 == 0) -> k / 256 blocks at out, byte for byte as ggml's
// quantize_row_q4_K_ref (llama-quantize without an importance matrix).
void q4_k_quantize_row(const float* x, int64_t k, uint8_t* out);
KQ_DECLARE_MATMULS(q4_k);

}  // namespace lowbit
