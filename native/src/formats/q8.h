// q8 (w8a8): int8 weights, symmetric per output row (quantize.h
// quantize_row_q8), packed (kernels/kernels.h layout, CH = 64); activations
// quantized per token to int8 at run time, or with the calibrated static scale
// (w8a8-sq-static: WSpec::act_scale). int8 x int8 -> exact int32 dot products.
//
// Storage: data [pad4(rows)][kp] int8 packed codes, scales [rows] f32, wsum
// [rows] int32 sums of each row's codes (for the u8-offset form of VNNI).
// Saved as data (I8), scales (F32), wsum (I32); act_scale in the meta.
// Prepared activations: [m][kp] int8, then (64-byte aligned) [m] f32 scales.
#pragma once
#include "weights.h"

namespace lowbit {

struct Q8Weight : Weight {
  AlignedBuf scales;  // [rows] f32
  AlignedBuf wsum;    // [rows] int32
  float act_scale = 0;  // static activation scale from calibration (0 = per token)
};
inline const Q8Weight& as_q8(const Weight& w) { return static_cast<const Q8Weight&>(w); }

std::unique_ptr<Weight> q8_create();
void q8_layout(Weight& w, const WSpec& s);
void q8_fill(Weight& w, const WSpec& s, SrcDtype src, const void* data);
size_t q8_bytes(const Weight& w);
std::vector<WeightBuffer> q8_buffers(Weight& w);
void q8_meta(const Weight& w, WeightMeta& m);
void q8_check_import(Weight& w);
std::unique_ptr<Weight> q8_shard(const Weight& w, const WeightShard& s);
bool q8_same_act(const Weight& a, const Weight& b);
extern const FormatOps kQ8Ops;

// The w8a8 activation buffer (q4a8 prepares the same int8 rows and scales):
// offset of the scales, and rows [r0, r1) of A quantized into it.
int64_t q8_scales_at(const Weight& w, int64_t m);
void q8_prepare_rows(const KernelTable& kt, const Weight& w, float act_scale, const float* A, int64_t lda, int64_t m,
                     int64_t r0, int64_t r1, void* act);

}  // namespace lowbit
