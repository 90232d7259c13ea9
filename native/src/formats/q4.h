// q4 (w4a16): int4 weights round-to-nearest per group of `group` inputs (or
// per output channel), symmetric (absmax, offset -8s) or asymmetric (min/max);
// activations quantized per token and group to int16 (kernels.h quantize_a16),
// exact integer group dots, f32 math per group (kernels.h matmul_q4).
//
// Storage: data packed int4 (formats/int4.h), scales and offsets [rows][ng]
// f32 (w = s * q + o). Saved as data (U8), scales (F32), offsets (F32); group
// and asym in the meta.
// Prepared activations: [m][kp] int16, then (64-byte aligned) [m][ng] f32
// scales sx and [m][ng] f32 group sums asum (the offsets multiply them).
#pragma once
#include "formats/int4.h"

namespace lowbit {

struct Q4Weight : Int4Weight {
  bool asym = false;   // offsets are group minima, not -8 * scale
  AlignedBuf scales;   // [rows][ng] f32
  AlignedBuf offsets;  // [rows][ng] f32
};
inline const Q4Weight& as_q4(const Weight& w) { return static_cast<const Q4Weight&>(w); }

std::unique_ptr<Weight> q4_create();
const char* q4_check_spec(const WSpec& s);
void q4_layout(Weight& w, const WSpec& s);
void q4_fill(Weight& w, const WSpec& s, SrcDtype src, const void* data);
size_t q4_bytes(const Weight& w);
std::vector<WeightBuffer> q4_buffers(Weight& w);
void q4_meta_spec(const WeightMeta& m, WSpec& s);
void q4_meta(const Weight& w, WeightMeta& m);
std::unique_ptr<Weight> q4_shard(const Weight& w, const WeightShard& s);
bool q4_same_act(const Weight& a, const Weight& b);
extern const FormatOps kQ4Ops;

}  // namespace lowbit
