// Q6_K x Q8_K, AVX-512 VNNI (semantics: q6_k.h; bit for bit equal to q6_k.cc).
// Compiled with -mavx512f/bw/vl/vnni ... -ffp-contract=off (lowbit_ggml_avx512).
// Chunks (c = 0, 1) and (2, 3) of each half of a super-block are one zmm of 64
// u6 codes each, matching 64 contiguous activation bytes; vpdpbusd gives 16
// exact int32 lanes of 4 products (<= 32004, so each fits int16) within one
// 16-element sub-block, vpmaddwd by (scale, 0) pairs scales them. Folding the
// zmm's upper 8 lanes onto the lower 8 gives the reference's lanes (bytes
// [4l, 4l + 4) of every chunk); then the -32 offset, one FMA per lane and the
// reference's final sum.
#include <immintrin.h>

#include "formats/kquant_tiling.h"
#include "formats/kquant_x86.h"
#include "formats/q6_k.h"
#include "kernels/kernels.h"

namespace lowbit {
namespace {

struct Avx512Q6K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    const __m256i m3 = _mm256_set1_epi8(3), m15 = _mm256_set1_epi8(15);
    kq_tile_lanes<BlockQ6K, MT>(w, nb, 3, c, ldc, [&](const BlockQ6K* x, int64_t b, __m256* acc) {
      const __m128i scb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x->scales));
      const __m256i sc16 = _mm256_cvtepi8_epi16(scb);
      __m512i sumz[MT];
      for (int t = 0; t < MT; t++) sumz[t] = _mm512_setzero_si512();
      for (int h = 0; h < 2; h++) {
        const __m256i L1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->ql + 64 * h));
        const __m256i L2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->ql + 64 * h + 32));
        const __m256i H = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qh + 32 * h));
        const __m256i q0 = _mm256_or_si256(_mm256_and_si256(L1, m15), _mm256_slli_epi16(_mm256_and_si256(H, m3), 4));
        const __m256i q1 = _mm256_or_si256(_mm256_and_si256(L2, m15), _mm256_slli_epi16(_mm256_and_si256(H, _mm256_set1_epi8(12)), 2));
        const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L1, 4), m15), _mm256_and_si256(H, _mm256_set1_epi8(48)));
        const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L2, 4), m15),
                                           _mm256_srli_epi16(_mm256_and_si256(H, _mm256_set1_epi8((char)0xC0)), 2));
        const __m512i z01 = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
        const __m512i z23 = _mm512_inserti64x4(_mm512_castsi256_si512(q2), q3, 1);
        // (scale, 0) int16 pairs: sub-blocks 8h + 0..3 for z01, 8h + 4..7 for z23
        const __m512i s01 = kq_scale_pairs_s8(scb, 8 * h), s23 = kq_scale_pairs_s8(scb, 8 * h + 4);
        kq_dot2x64<MT>(a, i0, b * kQK_K + 128 * h, z01, z23, s01, s23, sumz);
      }
      const float dw = _cvtsh_ss(x->d);
      for (int t = 0; t < MT; t++) {
        const __m256i bs = kq_bsums16(a, i0 + t, b);
        const __m256i s = _mm256_sub_epi32(kq_fold512(sumz[t]), _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5));
        acc[t] = kq_fma_lanes(s, a.d[(i0 + t) * nb + b] * dw, acc[t]);
      }
    });
  }
};

}  // namespace

void matmul_q6_k_avx512(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                        int64_t j0, int64_t j1) {
  kquant_run<Avx512Q6K>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
