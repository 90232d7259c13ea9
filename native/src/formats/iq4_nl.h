// GGUF IQ4_NL (ggml-common.h block_iq4_nl): blocks of 32 weights, an f16
// scale d and 16 bytes of 4-bit indices into the non-linear table
// kIq4nlValues; element t < 16 is the low nibble of qs[t], t + 16 its high one:
//   w[t] = d * kIq4nlValues[index t]
// Stored as the GGUF blocks unchanged (row-major, cols / 32 blocks per row).
//
// Matmul with Q8_0 activations (codes a, scale da; kquant.h), per output: the
// arithmetic of what llama.cpp's x86 CPU backend runs for IQ4_NL: it repacks
// matrices of a multiple of 8 rows (every matrix of a real model) and runs
// them through ggml_gemv_iq4_nl_8x8_q8_0 / ggml_gemm_iq4_nl_8x8_q8_0
// (arch/x86/repack.cpp, AVX2), which share Q4_0's per-block order: per block
// b in order, with the exact int32 sumi = sum over t of kIq4nlValues[u[t]] * a[t],
//   acc = fmaf((float)sumi, d * da, acc)   (d * da: one f32 product)
// C = acc, for GEMV and GEMM tokens alike (its 4-row Q8_0 quantizer gives
// the same blocks as the 1-row one). (For a matrix whose row count is not a
// multiple of 8 llama.cpp runs ggml_vec_dot_iq4_nl_q8_0 / tinyBLAS instead, in
// other orders: not reproduced.) Every variant computes exactly this.
//
// Storage (KQuantFormat::pack = iq4_nl_pack): the blocks' bytes moved, not
// changed, into groups of kPackRows = 16 rows (the last padded with zero
// rows; one row per SIMD lane, as llama.cpp repacks IQ4_NL into 8-row groups).
// Group G starts at G * 16 * row_bytes; its block b (the 16 rows' block b:
// 288 bytes) at b * 288 within it:
//   [0, 32)     d of rows 0..15 (f16 bits)
//   [32, 288)   chunk c < 4 at 32 + 64 c: bytes 4r .. 4r + 3 are row r's
//               qs[4c .. 4c + 4) (low nibbles: elements 4c + e, high: 16 + 4c + e)
// The kernels take that storage and column ranges starting at a multiple of 16.
#pragma once
#include <cstdint>

#include "formats/kquant.h"
#include "formats/packed.h"

namespace lowbit {

struct BlockIQ4NL {
  uint16_t d;      // f16 bits
  uint8_t qs[16];  // indices
};
static_assert(sizeof(BlockIQ4NL) == 18, "IQ4_NL block is 18 bytes");

// (internal linkage: included by the scalar, AVX2 and AVX-512 files)
namespace {
// ggml's kvalues_iq4nl
constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
}  // namespace

constexpr int64_t kIQ4NLGroupBlock = kPackRows * (int64_t)sizeof(BlockIQ4NL);  // one block of a group
// n rows of GGUF blocks (row_bytes each) -> the storage above (pad16(n) * row_bytes bytes).
void iq4_nl_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out);
// Row j of the storage -> its GGUF blocks (row_bytes).
void iq4_nl_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row);

void iq4_nl_dequantize_row(const uint8_t* row, int64_t cols, float* out);
KQ_DECLARE_MATMULS(iq4_nl);

}  // namespace lowbit
