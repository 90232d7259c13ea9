// q4_0 / q8_0: llama.cpp's GGUF Q4_0 / Q8_0 blocks of 32 (f16 scale d; codes
// q in [0, 15] with w = d * (q - 8), or int8 with w = d * q), repacked into
// lowbit's interleaved layout (kernels/ggml.h: codes of whole 8-row groups,
// f16 block scales [pad8(rows)/8][cols/32][8]). Raw GGUF blocks of the same
// type are repacked bit for bit; any other source is converted to f32 and
// quantized with ggml's reference quantizer (so an f32/f16/bf16 checkpoint
// loaded as q4_0 equals the same checkpoint converted to a GGUF Q4_0 file).
// Activations quantized to Q8_0 blocks as llama.cpp's CPU backend does:
// [m][k] int8 codes, then (64-byte aligned) [m][k / 32] f32 block scales
// (f16-rounded) and [m][k / 32] int32 block sums of the codes.
// Saved as data (U8 / I8) and scales (F16). One module, two rows.
#pragma once
#include "ggml_quants.h"
#include "weights.h"

namespace lowbit {

struct GgmlWeight : Weight {
  AlignedBuf scales;  // f16 block scales [pad8(rows)/8][cols/32][8]
  GgmlType type() const { return format == WFormat::Q4_0 ? GgmlType::Q4_0 : GgmlType::Q8_0; }
};
inline const GgmlWeight& as_ggml(const Weight& w) { return static_cast<const GgmlWeight&>(w); }

std::unique_ptr<Weight> ggml_blocks_create();
void ggml_blocks_layout(Weight& w, const WSpec& s);
void ggml_blocks_fill(Weight& w, const WSpec& s, SrcDtype src, const void* data);
size_t ggml_blocks_bytes(const Weight& w);
void ggml_blocks_row(const Weight& w, int64_t r, float* out);
std::vector<WeightBuffer> ggml_blocks_buffers(Weight& w);
std::unique_ptr<Weight> ggml_blocks_shard(const Weight& w, const WeightShard& s);
extern const FormatOps kGgmlBlockOps;

}  // namespace lowbit
