// Load-time weight quantization (round to nearest), one row at a time.
#pragma once
#include <cstdint>

namespace lowbit {

// Integer Scale amplifier requests (WSpec::amp); a positive value is a fixed power of two.
constexpr double kAmpHeuristic = -1;  // paper: smallest 2^n lifting the min group scale to >= 1
constexpr double kAmpMax = -2;        // largest 2^n keeping every output's int32 sum in range

// Symmetric per-row int8 (the kernels' quantize_q8 semantics): q[kp] (zeros
// past k), scale, and the sum of q. amax > 0: the row's max |w| is that (a
// row-parallel shard's columns of a row: the whole row's max, so its scale).
void quantize_row_q8(const float* w, int64_t k, int64_t kp, int8_t* q, float* scale, int32_t* sum, float amax = 0);

// Group-wise int4 of one row: q[kp] in [0, 15] (zeros past k map to the
// group's code for 0), per group scale s and offset o with w ~= s*q + o.
//   symmetric:  s = max|w| / 7, q = clamp(rne(w / s), -8, 7) + 8, o = -8 s
//   asymmetric: s = (max - min) / 15, q = clamp(rne((w - min) / s), 0, 15), o = min
// A group of zeros gets s = 0 (and o = 0).
void quantize_row_q4(const float* w, int64_t k, int64_t kp, int64_t group, bool asym, uint8_t* q, float* s, float* o);
// The same codes for a given grid s, o [kp / group] (GPTQ / AWQ chose it: gptq.h).
void quantize_row_q4_grid(const float* w, int64_t k, int64_t kp, int64_t group, bool asym, const float* s, const float* o,
                          uint8_t* q);
// One group's grid (n real values w[0, n); the range always includes 0) and one value's code on it.
void q4_group_grid(const float* w, int64_t n, bool asym, float* scale, float* off);
uint8_t q4_code(float x, float scale, float off, bool asym);

// Integer Scale (w4a8-is) amplifier for one matrix. s: [rows][ng] float
// group scales, l1: [rows][ng] sums of |q - 8| over each group. The worst-case
// |int32 sum| of an output, over all int8 activations (|a| <= 127), is
//   bound(alpha) = max_j 127 * sum_g round(s[j,g] * alpha) * l1[j,g].
// request: kAmpHeuristic (smallest power of two with min_{s > 0} s * alpha >= 1),
// kAmpMax (largest power of two with bound <= 2^31 - 1) or a fixed power of
// two. The result is clamped to the largest safe power of two, so the kernels'
// int32 sums never overflow; *bound receives bound(result) (INT64_MAX when
// even 2^-30 is unsafe: the caller must reject such a matrix).
double choose_amplifier(const float* s, const int32_t* l1, int64_t rows, int64_t ng, double request, int64_t* bound);
int64_t amplifier_bound(const float* s, const int32_t* l1, int64_t rows, int64_t ng, double alpha);

}  // namespace lowbit
