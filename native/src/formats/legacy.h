// llama.cpp's legacy block-32 weight formats Q4_1, Q5_0, Q5_1 (ggml-common.h),
// run on their GGUF blocks as they are in the file (row-major, cols / 32
// blocks per row: a weight takes exactly the file's tensor bytes), with
// activations quantized to ggml's vec_dot_type for each (kquant.h): Q8_1 for
// Q4_1 and Q5_1, Q8_0 for Q5_0. One spec per type (below), the modules in
// formats/q4_1.{h,cc}, q5_0.{h,cc}, q5_1.{h,cc} (+ _avx2.cc, _avx512.cc).
//
// Blocks of 32 weights, f16 d (and f16 m for the _1 types), a 32-bit qh of
// fifth bits (Q5 types), 16 bytes qs of nibbles; codes u[t] for t < 16 the low
// nibble of qs[t], u[t + 16] its high nibble, plus 16 * bit t of qh (Q5):
//   Q4_1: w = d * u + m        (u in [0, 15])
//   Q5_0: w = d * (u - 16)     (u in [0, 31])
//   Q5_1: w = d * u + m        (u in [0, 31])
//
// Matmul, per output (i, j): the arithmetic of llama.cpp's AVX2 CPU backend,
// ggml_vec_dot_q4_1_q8_1 / _q5_0_q8_0 / _q5_1_q8_1 (arch/x86/quants.c; none
// of the three is repacked on x86; Q5_0's prefill goes through llamafile's
// tinyBLAS_Q0_AVX, which computes the same per output). With the codes
// c = u - 16 (Q5_0) or u, the activation block's codes a, scale da and (Q8_1)
// sum sa, per block b in order:
//   L[l] = exact int32 sum over t in [4l, 4l + 4) of c[t] * a[t]   (l < 8)
//   dd = d * da (one f32 product)
//   acc[l] = fmaf((float)L[l], dd, acc[l])
//   Q4_1, Q5_1: summs = fmaf(m, sa, summs)   (llama.cpp's summs += m * s,
//                                             contracted to an FMA by its compiler)
// C = (((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7))) + summs.
// Every variant computes exactly this, so SIMD equals the reference bit for bit.
#pragma once
#include <cstdint>
#include <cstring>

#include "formats/kquant.h"
#include "kernels/kernels.h"

namespace lowbit {

// A block-32 legacy type: byte offsets of its fields (kQh < 0: none), the code
// offset (w = d * (u - kOffset)), whether it has a min m (at byte 2).
struct Q4_1Spec {
  static constexpr int64_t kBytes = 20;
  static constexpr int kQs = 4, kQh = -1, kOffset = 0;
  static constexpr bool kMin = true;
};
struct Q5_0Spec {
  static constexpr int64_t kBytes = 22;
  static constexpr int kQs = 6, kQh = 2, kOffset = 16;
  static constexpr bool kMin = false;
};
struct Q5_1Spec {
  static constexpr int64_t kBytes = 24;
  static constexpr int kQs = 8, kQh = 4, kOffset = 0;
  static constexpr bool kMin = true;
};

// (internal linkage: included by the scalar, AVX2 and AVX-512 files)
namespace {
// The 32 unsigned codes u of a block, in element order.
template <class T>
inline void legacy_codes(const uint8_t* blk, uint8_t u[32]) {
  uint32_t qh = 0;
  if (T::kQh >= 0) std::memcpy(&qh, blk + T::kQh, 4);
  for (int t = 0; t < 16; t++) {
    const uint8_t q = blk[T::kQs + t];
    u[t] = (uint8_t)((q & 15) | (((qh >> t) & 1) << 4));
    u[t + 16] = (uint8_t)((q >> 4) | (((qh >> (t + 16)) & 1) << 4));
  }
}
// The reference's final lane sum (and llama.cpp's hsum_float_8).
inline float legacy_hsum8(const float acc[8]) {
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// The scalar reference tile (kquant_tiling.h) of type T: the definition above.
template <class T>
struct RefLegacy {
  static constexpr int64_t kBlockElems = 32;
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    for (int t = 0; t < MT; t++) {
      const int64_t i = i0 + t;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, summs = 0.0f;
      for (int64_t b = 0; b < nb; b++) {
        const uint8_t* blk = w + b * T::kBytes;
        uint8_t u[32];
        legacy_codes<T>(blk, u);
        const int8_t* qa = a.q + i * a.k + b * 32;
        const float dd = f16_to_f32_scalar(kq_read_u16(blk)) * a.d[i * nb + b];
        for (int l = 0; l < 8; l++) {
          int32_t L = 0;
          for (int e = 4 * l; e < 4 * l + 4; e++) L += ((int32_t)u[e] - T::kOffset) * qa[e];
          acc[l] = __builtin_fmaf((float)L, dd, acc[l]);
        }
        if (T::kMin) summs = __builtin_fmaf(f16_to_f32_scalar(kq_read_u16(blk + 2)), a.s[i * nb + b], summs);
      }
      // no "+ 0" without a min: it would turn a -0 sum into +0
      c[t * ldc] = T::kMin ? legacy_hsum8(acc) + summs : legacy_hsum8(acc);
    }
  }
};
}  // namespace

}  // namespace lowbit
