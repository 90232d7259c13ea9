// llama.cpp's legacy block-32 weight formats Q4_1, Q5_0, Q5_1 (ggml-common.h),
// run on their GGUF blocks (moved into groups of 16 rows: below; a weight takes
// the file's tensor bytes), with
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
//
// Storage (KQuantFormat::pack = legacy_pack<T>; packed.h): the blocks' bytes
// moved, not changed, into groups of 16 rows (the last padded with zero rows),
// one row per SIMD lane; block b of a group (16 * kBytes bytes) holds
//   [0, 32)                     d of rows 0..15 (f16 bits)
//   then, Q4_1 / Q5_1: 32 bytes m of rows 0..15
//   then, Q5_0 / Q5_1: 64 bytes qh, row r's 4 at 4 r
//   then qs: chunk c < 4 at 64 c, bytes 4r .. 4r + 3 = row r's qs[4c .. 4c + 4)
//   (low nibbles: elements 4c + e, lane c of the definition; high: 16 + 4c + e, lane c + 4).
// The kernels take that storage and column ranges starting at a multiple of 16.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "formats/kquant.h"
#include "formats/packed.h"
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
// Offsets of the fields in a group's block (the storage above).
template <class T>
struct LegacyPacked {
  static constexpr int64_t kBlock = kPackRows * T::kBytes;
  static constexpr int kM = 32;                               // (T::kMin)
  static constexpr int kQh = T::kMin ? 64 : 32;               // (T::kQh >= 0)
  static constexpr int kQs = kQh + (T::kQh >= 0 ? 64 : 0);
};
template <class T>
const std::vector<PackField>& legacy_fields() {
  static const std::vector<PackField> f = [] {
    std::vector<PackField> v = {{0, 0, 2, 2}};
    if (T::kMin) v.push_back({2, LegacyPacked<T>::kM, 2, 2});
    if (T::kQh >= 0) v.push_back({T::kQh, LegacyPacked<T>::kQh, 4, 4});
    for (int c = 0; c < 4; c++) v.push_back({T::kQs + 4 * c, LegacyPacked<T>::kQs + 64 * c, 4, 4});
    return v;
  }();
  return f;
}
template <class T>
void legacy_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out) {
  pack_groups(legacy_fields<T>().data(), (int)legacy_fields<T>().size(), T::kBytes, rows, n, row_bytes, out);
}
template <class T>
void legacy_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row) {
  unpack_group_row(legacy_fields<T>().data(), (int)legacy_fields<T>().size(), T::kBytes, packed, j, row_bytes, row);
}

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
