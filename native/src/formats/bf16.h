// bf16: packed bf16 matrices (kernels/kernels.h layout, CH = 32). A bf16
// checkpoint keeps its bits; other sources are rounded to nearest even.
// Activations are rounded to bf16 (RNE) once per matmul, products of bf16
// pairs accumulated in f32 (vdpbf16ps where available): the same numerics on
// every kernel variant and for prefill and decode.
#pragma once
#include "weights.h"

namespace lowbit {

void bf16_layout(Weight& w, const WSpec& s);
void bf16_fill(Weight& w, const WSpec& s, SrcDtype src, const void* data);
size_t bf16_bytes(const Weight& w);
void bf16_row(const Weight& w, int64_t r, float* out);
std::vector<WeightBuffer> bf16_buffers(Weight& w);
std::unique_ptr<Weight> bf16_shard(const Weight& w, const WeightShard& s);
extern const FormatOps kBF16Ops;

}  // namespace lowbit
