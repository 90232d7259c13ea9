// q4a8 (w4a8): symmetric int4 weights in groups of 32..128 (s * (q - 8)),
// activations int8 per token (q8's), an exact integer dot per group, then per
// group int-to-float and float scale (kernels.h matmul_q4a8) — or Integer
// Scale: group scales si = round(s * alpha) with one amplifier alpha = 2^n per
// matrix (quantize.h choose_amplifier, kept int32-safe for every int8
// activation row), int32 partial sums, one conversion per output
// (matmul_q4a8_is).
//
// Storage: data packed int4 (formats/int4.h); float scales or int32 iscales
// in the row-group layout [pad4(rows)/4][ng][4] (kernels.h q4a8_scale_index).
// Saved as data (U8) + scales (F32), or data + iscales (I32) with the
// amplifier in the meta (checked again on import: the int32 bound).
// Prepared activations: q8's int8 rows and scales, then [m][ng] int32 group
// sums of the codes (the kernels' unsigned-code correction).
#pragma once
#include "formats/int4.h"

namespace lowbit {

struct Q4A8Weight : Int4Weight {
  AlignedBuf scales;   // float scales [pad4(rows)/4][ng][4]
  AlignedBuf iscales;  // integer scales, same layout (amplifier > 0)
  double amplifier = 0;  // alpha (si = round(s * alpha)); 0 = float scales
  int64_t is_bound = 0;  // max over rows of the worst-case |int32 sum|
  // squared weight error sums (over rows x cols) of the dequantized matrix
  // with float scales s * (q - 8) and with integer scales si / alpha * (q - 8)
  // (-1: unknown, e.g. a weight imported from a saved model)
  double sse_float = -1, sse_int = -1;
};
inline const Q4A8Weight& as_q4a8(const Weight& w) { return static_cast<const Q4A8Weight&>(w); }

std::unique_ptr<Weight> q4a8_create();
const char* q4a8_check_spec(const WSpec& s);
void q4a8_layout(Weight& w, const WSpec& s);
void q4a8_fill(Weight& w, const WSpec& s, SrcDtype src, const void* data);
size_t q4a8_bytes(const Weight& w);
std::vector<WeightBuffer> q4a8_buffers(Weight& w);
void q4a8_meta_spec(const WeightMeta& m, WSpec& s);
void q4a8_meta(const Weight& w, WeightMeta& m);
void q4a8_check_import(Weight& w);
std::unique_ptr<Weight> q4a8_shard(const Weight& w, const WeightShard& s);
bool q4a8_same_act(const Weight& a, const Weight& b);
extern const FormatOps kQ4A8Ops;

}  // namespace lowbit
