// GGUF Q4_0 / Q8_0 blocks (llama.cpp's formats, kernels/ggml.h) on the weight
// side: the reference quantizers that produce them, dequantization, and the
// repack between GGUF row-major blocks and the kernels' packed layout.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lowbit {

enum class GgmlType : int { Q4_0 = 0, Q8_0 = 1 };

// GGUF bytes per block of 32 weights (18 / 34) and code bytes per block (16 / 32).
int64_t ggml_block_bytes(GgmlType t);
int64_t ggml_code_bytes(GgmlType t);

// Reference quantizers, byte-exact with ggml's quantize_row_q4_0_ref /
// quantize_row_q8_0_ref (ggml-quants.c), which llama-quantize uses without an
// importance matrix. x[k], k % 32 == 0 -> k / 32 GGUF blocks at out.
//   Q8_0: amax = max |x|, d = amax / 127, id = d ? 1 / d : 0, stored fp16(d),
//         q = roundf(x * id) (half away from zero)
//   Q4_0: max = the first element of largest |x| (signed), d = max / -8,
//         id = d ? 1 / d : 0, stored fp16(d), q = min(15, (int8)(x * id + 8.5f))
//         (truncation), element t in byte t's low nibble, t + 16 in its high one
void ggml_quantize_row(GgmlType t, const float* x, int64_t k, uint8_t* out);

// Q5_0 (22 bytes: f16 d, qh[4], qs[16]) and Q5_1 (24 bytes: f16 d, f16 m,
// qh[4], qs[16]) blocks of 32, byte-exact with ggml's quantize_row_q5_0_ref /
// quantize_row_q5_1_ref (written by `lowbit convert` where llama.cpp falls
// back to them: Q4_K / Q5_K rows that are not whole 256-value blocks):
//   Q5_0: max = the first element of largest |x| (signed), d = max / -16,
//         q = min(31, (int8)(x * id + 16.5f)) (truncation)
//   Q5_1: d = (max - min) / 31, m = min, q = (uint8)((x - min) * id + 0.5f)
//   element t < 16: low nibble of qs[t], fifth bit t of qh; t + 16: high
//   nibble of qs[t], fifth bit t + 16.
void ggml_quantize_row_q5_0(const float* x, int64_t k, uint8_t* out);
void ggml_quantize_row_q5_1(const float* x, int64_t k, uint8_t* out);

// Element i of a stream of GGUF blocks (w = fp32(d) * code, as ggml's dequantize_row_*).
float ggml_dequantize_at(GgmlType t, const uint8_t* blocks, size_t i);

// Row j of a matrix with nb blocks per row: GGUF blocks <-> packed codes and
// f16 scales (kernels/ggml.h). Bits are copied, never changed.
void ggml_pack_row(GgmlType t, const uint8_t* blocks, int64_t j, int64_t nb, uint8_t* codes, uint16_t* scales);
void ggml_unpack_row(GgmlType t, const uint8_t* codes, const uint16_t* scales, int64_t j, int64_t nb, uint8_t* blocks);

}  // namespace lowbit
