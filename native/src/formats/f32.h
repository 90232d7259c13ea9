// f32: packed f32 matrices (kernels/kernels.h layout, CH = 16), and plain f32
// vectors [1, n] (norm weights, biases: WSpec::matrix false, "vector" at the
// N-API boundary). No activation conversion: the kernel reads A in place
// unless k needs padding to whole chunks.
#pragma once
#include "weights.h"

namespace lowbit {

std::unique_ptr<Weight> f32_create();
void f32_layout(Weight& w, const WSpec& s);
void f32_fill(Weight& w, const WSpec& s, SrcDtype src, const void* data);
size_t f32_bytes(const Weight& w);
void f32_row(const Weight& w, int64_t r, float* out);
std::vector<WeightBuffer> f32_buffers(Weight& w);
std::unique_ptr<Weight> f32_shard(const Weight& w, const WeightShard& s);
extern const FormatOps kF32Ops;

}  // namespace lowbit
