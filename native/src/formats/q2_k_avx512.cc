// Q2_K x Q8_K, AVX-512 VNNI (semantics: q2_k.h; bit for bit equal to q2_k.cc).
// Compiled with -mavx512f/bw/vl/vnni ... -ffp-contract=off (lowbit_ggml_avx512).
// Chunks (c = 0, 1) and (2, 3) of each half of a super-block are one zmm of 64
// u2 codes each, matching 64 contiguous activation bytes; vpdpbusd gives 16
// exact int32 lanes of 4 products (|v| <= 1524, so each fits int16) within one
// 16-element sub-block, vpmaddwd by (scale, 0) pairs scales them. Folding the
// zmm's upper 8 lanes onto the lower 8 gives the reference's lanes (bytes
// [4l, 4l + 4) of every chunk). The mins term and the two FMAs per lane as the
// reference, then its final sum.
#include <immintrin.h>

#include "formats/kquant_tiling.h"
#include "formats/kquant_x86.h"
#include "formats/q2_k.h"
#include "kernels/kernels.h"

namespace lowbit {
namespace {

struct Avx512Q2K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    const __m256i m3 = _mm256_set1_epi8(3);
    kq_q2_tile<BlockQ2K, MT>(a, i0, w, nb, c, ldc, [&](const BlockQ2K* x, int64_t b, __m128i scb, __m256i* lanes) {
      __m512i sumz[MT];
      for (int t = 0; t < MT; t++) sumz[t] = _mm512_setzero_si512();
      for (int j = 0; j < 2; j++) {
        const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 32 * j));
        const __m512i z01 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(bits, m3)),
                                               _mm256_and_si256(_mm256_srli_epi16(bits, 2), m3), 1);
        const __m512i z23 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m3)),
                                               _mm256_and_si256(_mm256_srli_epi16(bits, 6), m3), 1);
        // (scale, 0) int16 pairs (scales are 0..15): sub-blocks 8j + 0..3 for z01, 8j + 4..7 for z23
        const __m512i s01 = kq_scale_pairs_u8(scb, 8 * j), s23 = kq_scale_pairs_u8(scb, 8 * j + 4);
        kq_dot2x64<MT>(a, i0, b * kQK_K + 128 * j, z01, z23, s01, s23, sumz);
      }
      for (int t = 0; t < MT; t++) lanes[t] = kq_fold512(sumz[t]);
    });
  }
};

}  // namespace

void matmul_q2_k_avx512(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                        int64_t j0, int64_t j1) {
  kquant_run<Avx512Q2K>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
