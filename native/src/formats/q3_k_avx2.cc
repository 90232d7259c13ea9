// Q3_K x Q8_K, AVX2 (semantics: q3_k.h; bit for bit equal to q3_k.cc).
// Compiled with -mavx2 -mfma -mf16c -ffp-contract=off (lowbit_ggml_avx2).
// As llama.cpp's AVX2 ggml_vec_dot_q3_K_q8_K: per half of a super-block four
// 32-byte vectors of the 2 low code bits (chunks c = 0..3) and four of
// 4 * (1 - third bit); vpmaddubsw of each with the activations and the
// difference (exact int16 pair sums of (u - 4) * a), vpmaddwd by the
// 16-element sub-block scales - 32, so int32 lane l collects bytes
// [4l, 4l + 4) of every chunk; one FMA per lane; the reference's final sum.
#include <immintrin.h>

#include "formats/kquant_tiling.h"
#include "formats/kquant_x86.h"
#include "formats/q3_k.h"
#include "kernels/kernels.h"

namespace lowbit {
namespace {

struct Avx2Q3K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    kq_tile_lanes<BlockQ3K, MT>(w, nb, 2, c, ldc, [&](const BlockQ3K* x, int64_t b, __m256* acc) {
      uint8_t scu[16];
      q3_k_scales(x->scales, scu);
      const __m256i sc16 = _mm256_cvtepi8_epi16(
          _mm_sub_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scu)), _mm_set1_epi8(32)));
      const __m256i hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->hmask));
      __m256i sumi[MT];
      for (int t = 0; t < MT; t++) sumi[t] = _mm256_setzero_si256();
      for (int j = 0; j < 2; j++) {
        const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 32 * j));
        __m256i ql[4], qh[4], s[4];
        for (int cc = 0; cc < 4; cc++) {
          ql[cc] = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * cc), m3);
          // 4 where the third bit 4j + cc is clear, else 0
          qh[cc] = _mm256_slli_epi16(_mm256_andnot_si256(_mm256_srli_epi16(hbits, 4 * j + cc), m1), 2);
        }
        kq_chunk_scales16(sc16, j, s);
        for (int t = 0; t < MT; t++) {
          const int8_t* qa = a.q + (i0 + t) * a.k + b * kQK_K + 128 * j;
          for (int cc = 0; cc < 4; cc++) {
            const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa + 32 * cc));
            const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(ql[cc], av), _mm256_maddubs_epi16(qh[cc], av));
            sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, s[cc]));
          }
        }
      }
      const float dw = _cvtsh_ss(x->d);
      for (int t = 0; t < MT; t++) acc[t] = kq_fma_lanes(sumi[t], a.d[(i0 + t) * nb + b] * dw, acc[t]);
    });
  }
};

}  // namespace

void matmul_q3_k_avx2(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                      int64_t j1) {
  kquant_run<Avx2Q3K>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
