// GGUF Q3_K (ggml-common.h block_q3_K): 256 weights in 16 sub-blocks of 16, an
// f16 super-block scale d, 6-bit sub-block scales (stored + 32) packed in 12
// bytes, 3-bit codes u in [0, 7] (2 low bits in qs, the third in hmask):
//   w[e] = d * (sc[e / 16] - 32) * (u[e] - 4)
// codes: element 128j + 32c + t (j < 2, c < 4, t < 32):
//   ((qs[32j + t] >> 2c) & 3) | ((hmask[t] >> (4j + c)) & 1) << 2
// scales: 32-bit words a0, a1, a2 of the 12 bytes; sub-blocks 4w .. 4w + 3 are
// the bytes of word w of [a0 & m4 | (a2 & m2) << 4, a1 & m4 | ((a2 >> 2) & m2) << 4,
// (a0 >> 4) & m4 | ((a2 >> 4) & m2) << 4, (a1 >> 4) & m4 | ((a2 >> 6) & m2) << 4]
// with m4 = 0x0f0f0f0f, m2 = 0x03030303.
//
// Matmul with Q8_K activations (codes a, scale da), per output: the arithmetic
// of llama.cpp's AVX2 ggml_vec_dot_q3_K_q8_K (arch/x86/quants.c; Q3_K is not
// repacked on x86, and prefill runs the same dot product): eight f32 lanes l;
// per super-block b (in order), exact int32
//   L[l] = sum over elements e with (e % 32) / 4 == l of
//          (sc[e / 16] - 32) * (u[e] - 4) * a[e]
//   acc[l] = fmaf(da * d, (float)L[l], acc[l])          (da * d: one f32 product)
// C = ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7)).
// Every variant computes exactly this, so SIMD equals the reference bit for bit.
//
// Storage (KQuantFormat::pack = q3_k_pack): the blocks' bytes moved, not
// changed, into groups of kPackRows = 16 rows (the last padded with zero rows),
// one row per SIMD lane. Group G starts at G * 16 * row_bytes; its super-block
// b (the 16 rows' block b: 1760 bytes) at b * 1760 within it:
//   [0, 32)       d of rows 0..15 (f16 bits)
//   [32, 224)     scales: byte j < 12 of row r at 32 + 16 j + r
//   [224, 736)    hmask: chunk l < 8 at 224 + 64 l, bytes 4r .. 4r + 3 = row r's hmask[4l .. 4l + 4)
//   [736, 1760)   qs: chunk (j < 2, l < 8) at 736 + 64 (8 j + l), bytes 4r .. 4r + 3 = row r's
//                 qs[32 j + 4l .. + 4)
// so one qs chunk and one hmask chunk hold, per row, the 4 codes of elements
// 128 j + 32 c + 4 l + i (i < 4) for each c < 4: the 4-element groups of lane l.
// The kernels take that storage and column ranges starting at a multiple of 16.
#pragma once
#include <cstdint>
#include <cstring>

#include "formats/kquant.h"
#include "formats/packed.h"

namespace lowbit {

struct BlockQ3K {
  uint8_t hmask[32];   // third bits
  uint8_t qs[64];      // low 2 bits
  uint8_t scales[12];  // 6-bit scales, + 32
  uint16_t d;          // f16 bits
};
static_assert(sizeof(BlockQ3K) == 110, "Q3_K block is 110 bytes");

// (internal linkage: compiled into the scalar, AVX2 and AVX-512 files, each
// with its own flags; see kernels/tiling.h)
namespace {
// The 16 scales, as stored (+ 32), in sub-block order (the definition above).
inline void q3_k_scales(const uint8_t* q, uint8_t out[16]) {
  uint32_t a[3], s[4];
  std::memcpy(a, q, 12);
  const uint32_t m4 = 0x0f0f0f0f, m2 = 0x03030303;
  s[0] = (a[0] & m4) | ((a[2] & m2) << 4);
  s[1] = (a[1] & m4) | (((a[2] >> 2) & m2) << 4);
  s[2] = ((a[0] >> 4) & m4) | (((a[2] >> 4) & m2) << 4);
  s[3] = ((a[1] >> 4) & m4) | (((a[2] >> 6) & m2) << 4);
  std::memcpy(out, s, 16);
}
}  // namespace

constexpr int64_t kQ3KGroupBlock = kPackRows * (int64_t)sizeof(BlockQ3K);  // one super-block of a group
// n rows of GGUF blocks (row_bytes each) -> the storage above (pad16(n) * row_bytes bytes).
void q3_k_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out);
// Row j of the storage -> its GGUF blocks (row_bytes).
void q3_k_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row);

void q3_k_dequantize_row(const uint8_t* row, int64_t cols, float* out);
KQ_DECLARE_MATMULS(q3_k);

}  // namespace lowbit
