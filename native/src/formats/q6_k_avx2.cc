// Q6_K x Q8_K, AVX2 (semantics: q6_k.h; bit for bit equal to q6_k.cc).
// Compiled with -mavx2 -mfma -mf16c -ffp-contract=off (lowbit_ggml_avx2).
// As llama.cpp's AVX2 ggml_vec_dot_q6_K_q8_K: per half of a super-block four
// 32-byte vectors of 6-bit codes (chunks c = 0..3), vpmaddubsw (u6 x s8 pairs,
// <= 16002: no saturation) and vpmaddwd by the 16-element sub-block scales,
// so int32 lane l collects bytes [4l, 4l + 4) of every chunk; minus
// 32 * (the 16-sums times the scales) per lane pair; one FMA per lane into
// eight f32 lanes; the lanes summed in the reference's order at the end.
#include <immintrin.h>

#include "formats/kquant_tiling.h"
#include "formats/kquant_x86.h"
#include "formats/q6_k.h"
#include "kernels/kernels.h"

namespace lowbit {
namespace {

struct Avx2Q6K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    const __m256i m3 = _mm256_set1_epi8(3), m15 = _mm256_set1_epi8(15);
    kq_tile_lanes<BlockQ6K, MT>(w, nb, 3, c, ldc, [&](const BlockQ6K* x, int64_t b, __m256* acc) {
      const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x->scales)));
      __m256i sumi[MT];
      for (int t = 0; t < MT; t++) {
        // the -32 offset: lane l -= 32 * (bsums[2l] sc[2l] + bsums[2l+1] sc[2l+1])
        const __m256i bs = kq_bsums16(a, i0 + t, b);
        sumi[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5));
      }
      for (int h = 0; h < 2; h++) {
        const __m256i L1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->ql + 64 * h));
        const __m256i L2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->ql + 64 * h + 32));
        const __m256i H = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qh + 32 * h));
        __m256i q[4], s[4];
        q[0] = _mm256_or_si256(_mm256_and_si256(L1, m15), _mm256_slli_epi16(_mm256_and_si256(H, m3), 4));
        q[1] = _mm256_or_si256(_mm256_and_si256(L2, m15), _mm256_slli_epi16(_mm256_and_si256(H, _mm256_set1_epi8(12)), 2));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L1, 4), m15), _mm256_and_si256(H, _mm256_set1_epi8(48)));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L2, 4), m15),
                               _mm256_srli_epi16(_mm256_and_si256(H, _mm256_set1_epi8((char)0xC0)), 2));
        // sub-blocks of chunk cc: 8h + 2cc (bytes 0-15), 8h + 2cc + 1 (bytes 16-31)
        kq_chunk_scales16(sc16, h, s);
        kq_dot4x32<MT>(a, i0, b * kQK_K + 128 * h, q, s, sumi);
      }
      const float dw = _cvtsh_ss(x->d);
      for (int t = 0; t < MT; t++) acc[t] = kq_fma_lanes(sumi[t], a.d[(i0 + t) * nb + b] * dw, acc[t]);
    });
  }
};

}  // namespace

void matmul_q6_k_avx2(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                      int64_t j1) {
  kquant_run<Avx2Q6K>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
