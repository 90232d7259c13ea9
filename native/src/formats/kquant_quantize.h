// The searches behind llama.cpp's reference K-quant quantizers (ggml-quants.c,
// the path llama-quantize takes without an importance matrix), restated so
// that lowbit's q4_k / q5_k / q6_k quantizers (formats/q4_k.cc, q5_k.cc,
// q6_k.cc) write the same blocks bit for bit. Plain f32 arithmetic in ggml's
// operation order, compiled without FP contraction (binding.gyp, lowbit_ggml),
// as ggml-base is built (no -march, so no FMA).
#pragma once
#include <cstdint>
#include <cstring>

namespace lowbit {

// ggml's nearest_int: the low mantissa bits of f + 1.5 * 2^23 (round half to
// even for |f| < 2^22; wraps, as ggml's does, beyond)
inline int kq_nearest_int(float f) {
  const float v = f + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &v, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// Asymmetric codes L[i] in [0, nmax] for x[n] with weights w: a scale and a
// min (returned as *neg_min = -min >= 0) chosen by ggml's make_qkx2_quants
// search (squared error; nstep + 1 trial scales (rmin + rdelta * is + nmax) /
// (max - min)). laux: n bytes of scratch. Returns the scale.
float kq_make_qkx2(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min, uint8_t* laux,
                   float rmin, float rdelta, int nstep);

// Symmetric codes L[i] = l + nmax, l in [-nmax, nmax - 1], for x[n]: ggml's
// make_qx_quants with rmse_type 1 (weights x^2, 18 trial scales around
// -nmax / max) and no importance weights. Returns the scale (0 for an
// all-zero group, codes then nmax - nmax = 0).
float kq_make_qx(int n, int nmax, const float* x, int8_t* L);

// Q4_K / Q5_K (quantize_row_q4_K_ref / q5_K_ref up to the packing of codes):
// one super-block x[256] -> 8 sub-block (scale, min) fits by kq_make_qkx2
// (weights sqrt(mean x^2) + |x|, nmax codes, trial scales from rmin in steps
// of 0.1, nstep + 1 of them), the 6-bit scales and mins packed as Q4_K's
// 12 bytes, f16 d = max scale / 63 and dmin = max min / 63, and the codes
// L[256] in [0, nmax] requantized with the stored scales.
void kq_quantize_scaled_mins(const float* x, int nmax, float rmin, int nstep, uint8_t scales[12], uint16_t* d,
                             uint16_t* dmin, uint8_t L[256]);

}  // namespace lowbit
