// Load-time weight quantization (round to nearest), one row at a time.
#pragma once
#include <cstdint>

namespace lowbit {

// Symmetric per-row int8 (the kernels' quantize_q8 semantics): q[kp] (zeros
// past k), scale, and the sum of q.
void quantize_row_q8(const float* w, int64_t k, int64_t kp, int8_t* q, float* scale, int32_t* sum);

// Group-wise int4 of one row: q[kp] in [0, 15] (zeros past k map to the
// group's code for 0), per group scale s and offset o with w ~= s*q + o.
//   symmetric:  s = max|w| / 7, q = clamp(rne(w / s), -8, 7) + 8, o = -8 s
//   asymmetric: s = (max - min) / 15, q = clamp(rne((w - min) / s), 0, 15), o = min
// A group of zeros gets s = 0 (and o = 0).
void quantize_row_q4(const float* w, int64_t k, int64_t kp, int64_t group, bool asym, uint8_t* q, float* s, float* o);

}  // namespace lowbit
