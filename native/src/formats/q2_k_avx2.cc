// Q2_K x Q8_K, AVX2 (semantics: q2_k.h; bit for bit equal to q2_k.cc).
// Compiled with -mavx2 -mfma -mf16c -ffp-contract=off (lowbit_ggml_avx2).
// As llama.cpp's AVX2 ggml_vec_dot_q2_K_q8_K: the mins by vpmaddwd of the
// 4-bit mins with the 16-sums (lane l: sub-blocks 2l, 2l + 1) and one FMA per
// lane; per half of a super-block four 32-byte vectors of 2-bit codes (chunks
// c = 0..3), vpmaddubsw (u2 x s8 pairs, no saturation) and vpmaddwd by the
// 16-element sub-block scales, so int32 lane l collects bytes [4l, 4l + 4) of
// every chunk; one FMA per lane; the lanes summed in the reference's order.
#include <immintrin.h>

#include "formats/kquant_tiling.h"
#include "formats/kquant_x86.h"
#include "formats/q2_k.h"
#include "kernels/kernels.h"

namespace lowbit {
namespace {

struct Avx2Q2K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    const __m256i m3 = _mm256_set1_epi8(3);
    kq_q2_tile<BlockQ2K, MT>(a, i0, w, nb, c, ldc, [&](const BlockQ2K* x, int64_t b, __m128i scb, __m256i* sumi) {
      const __m256i sc16 = _mm256_cvtepi8_epi16(scb);
      for (int t = 0; t < MT; t++) sumi[t] = _mm256_setzero_si256();
      for (int j = 0; j < 2; j++) {
        const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 32 * j));
        __m256i q[4], s[4];
        for (int cc = 0; cc < 4; cc++) q[cc] = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * cc), m3);
        kq_chunk_scales16(sc16, j, s);
        kq_dot4x32<MT>(a, i0, b * kQK_K + 128 * j, q, s, sumi);
      }
    });
  }
};

}  // namespace

void matmul_q2_k_avx2(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                      int64_t j1) {
  kquant_run<Avx2Q2K>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
