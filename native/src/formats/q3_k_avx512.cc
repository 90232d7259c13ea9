// Q3_K x Q8_K, AVX-512 VNNI (semantics: q3_k.h; bit for bit equal to q3_k.cc).
// Compiled with -mavx512f/bw/vl/vnni ... -ffp-contract=off (lowbit_ggml_avx512).
// Chunks (c = 0, 1) and (2, 3) of each half of a super-block are one zmm of 64
// u3 codes each, matching 64 contiguous activation bytes; vpdpbusd of the
// codes minus vpdpbusd of 4s gives 16 exact int32 lanes of 4 products
// (u - 4) * a (|v| <= 2048, so each fits int16) within one 16-element
// sub-block; vpmaddwd by (scale - 32, 0) pairs scales them. Folding the zmm's
// upper 8 lanes onto the lower 8 gives the reference's lanes (bytes
// [4l, 4l + 4) of every chunk); one FMA per lane and the reference's sum.
#include <immintrin.h>

#include "formats/kquant_tiling.h"
#include "formats/kquant_x86.h"
#include "formats/q3_k.h"
#include "kernels/kernels.h"

namespace lowbit {
namespace {

struct Avx512Q3K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
    const __m512i four = _mm512_set1_epi8(4);
    kq_tile_lanes<BlockQ3K, MT>(w, nb, 2, c, ldc, [&](const BlockQ3K* x, int64_t b, __m256* acc) {
      uint8_t scu[16];
      q3_k_scales(x->scales, scu);
      const __m128i scb = _mm_sub_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scu)), _mm_set1_epi8(32));
      const __m256i hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->hmask));
      __m512i sumz[MT];
      for (int t = 0; t < MT; t++) sumz[t] = _mm512_setzero_si512();
      for (int j = 0; j < 2; j++) {
        const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 32 * j));
        __m256i q[4];
        for (int cc = 0; cc < 4; cc++)  // low 2 bits | third bit (4j + cc) << 2
          q[cc] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 2 * cc), m3),
                                  _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hbits, 4 * j + cc), 2), m4));
        const __m512i z01 = _mm512_inserti64x4(_mm512_castsi256_si512(q[0]), q[1], 1);
        const __m512i z23 = _mm512_inserti64x4(_mm512_castsi256_si512(q[2]), q[3], 1);
        // (scale - 32, 0) int16 pairs: sub-blocks 8j + 0..3 for z01, 8j + 4..7 for z23
        const __m512i s01 = kq_scale_pairs_s8(scb, 8 * j), s23 = kq_scale_pairs_s8(scb, 8 * j + 4);
        for (int t = 0; t < MT; t++) {
          const int8_t* qa = a.q + (i0 + t) * a.k + b * kQK_K + 128 * j;
          const __m512i a01 = _mm512_loadu_si512(qa), a23 = _mm512_loadu_si512(qa + 64);
          const __m512i d01 = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), z01, a01),
                                               _mm512_dpbusd_epi32(_mm512_setzero_si512(), four, a01));
          const __m512i d23 = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), z23, a23),
                                               _mm512_dpbusd_epi32(_mm512_setzero_si512(), four, a23));
          sumz[t] = _mm512_add_epi32(sumz[t], _mm512_add_epi32(_mm512_madd_epi16(d01, s01), _mm512_madd_epi16(d23, s23)));
        }
      }
      const float dw = _cvtsh_ss(x->d);
      for (int t = 0; t < MT; t++) {
        acc[t] = kq_fma_lanes(kq_fold512(sumz[t]), a.d[(i0 + t) * nb + b] * dw, acc[t]);
      }
    });
  }
};

}  // namespace

void matmul_q3_k_avx512(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                        int64_t j0, int64_t j1) {
  kquant_run<Avx512Q3K>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
