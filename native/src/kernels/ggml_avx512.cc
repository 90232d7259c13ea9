// AVX-512 VNNI Q4_0 / Q8_0 matmuls. Semantics and layout: ggml.h; bit for bit
// equal to ggml_ref.cc (the activations are quantized by the AVX2 routine).
// Compiled with -mavx512f/bw/vl/vnni ... -ffp-contract=off; called only when
// CPUID reports them.
//
// Tile: MT activation rows x one row group (8 weight rows), all blocks. A
// 64-byte code chunk is one zmm (8 rows x 8 bytes); the matching 8 activation
// bytes are broadcast to every 64-bit lane, and vpdpbusd (u8 x s8, 4 products
// per int32 lane) accumulates row r in lanes (2r, 2r + 1). Per block:
//   Q4_0: the nibbles are the u8 operand (codes u = q + 8), the activations
//         the s8 one; minus 8 * the block's activation sum gives sum (u - 8) a.
//         The lane pairs are added (vpshufd + vpaddd) and the even lanes
//         narrowed to a ymm (vpmovqd) in row order; then
//         acc = fma((float)sumi, d_w * d_a, acc) per row, as the reference.
//   Q8_0: sign trick (no EVEX vpsignb): |w| is the u8 operand, the activations
//         negated where w < 0 (vpmovb2m + masked vpsubb) the s8 one. Lanes
//         (2r, 2r + 1) of chunk c are row r's partials 2c and 2c + 1, each
//         converted and FMA'd into its own f32 lane (4 zmm per token), then
//         summed in the reference's order once per tile.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "ggml.h"
#include "kernels.h"
#include "ggml_tiling.h"

namespace lowbit {
namespace {

constexpr int64_t kPrefetch = 1024;

inline __m512i bcast8(const int8_t* p) {
  int64_t v;
  std::memcpy(&v, p, 8);
  return _mm512_set1_epi64(v);
}
// int32 lanes (2r, 2r + 1) -> ymm lane r
inline __m256i row_sums(__m512i v) {
  return _mm512_cvtepi64_epi32(_mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_CDAB)));
}
inline __m256 load_scales(const uint16_t* s) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
}
inline void store_rows(float* C, __m256 acc, int64_t ncols) {
  if (ncols >= 8) _mm256_storeu_ps(C, acc);
  else if (ncols > 0) _mm256_mask_storeu_ps(C, (__mmask8)((1u << ncols) - 1), acc);
}

template <int MT>
void tile_q4_0(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, int64_t nb, const uint8_t* w,
               const uint16_t* sc, float* C, int64_t ldc, int64_t ncols) {
  const __m512i m15 = _mm512_set1_epi8(15);
  __m256 acc[MT];
  for (int t = 0; t < MT; t++) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++, w += 128) {
    _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetch, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetch + 64, _MM_HINT_T0);
    const __m512i x0 = _mm512_loadu_si512(w), x1 = _mm512_loadu_si512(w + 64);
    // chunk 0: elements 0-7 (low nibbles), 16-23 (high); chunk 1: 8-15, 24-31
    const __m512i l0 = _mm512_and_si512(x0, m15), h0 = _mm512_and_si512(_mm512_srli_epi16(x0, 4), m15);
    const __m512i l1 = _mm512_and_si512(x1, m15), h1 = _mm512_and_si512(_mm512_srli_epi16(x1, 4), m15);
    const __m256 dw = load_scales(sc + b * kGgmlRows);
    for (int t = 0; t < MT; t++) {
      const int8_t* a = A + t * lda + b * kQK;
      __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), l0, bcast8(a));
      __m512i q = _mm512_dpbusd_epi32(_mm512_setzero_si512(), l1, bcast8(a + 8));
      p = _mm512_dpbusd_epi32(p, h0, bcast8(a + 16));
      q = _mm512_dpbusd_epi32(q, h1, bcast8(a + 24));
      const __m256i sumi = _mm256_sub_epi32(row_sums(_mm512_add_epi32(p, q)), _mm256_set1_epi32(8 * as[t * nb + b]));
      const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(ad[t * nb + b]));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), d, acc[t]);
    }
  }
  for (int t = 0; t < MT; t++) store_rows(C + t * ldc, acc[t], ncols);
}

template <int MT>
void tile_q8_0(const int8_t* A, int64_t lda, const float* ad, const int32_t* /*as*/, int64_t nb, const int8_t* w,
               const uint16_t* sc, float* C, int64_t ldc, int64_t ncols) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  __m512 acc[MT][4];  // [token][chunk]: lanes (2r, 2r + 1) = partials (2c, 2c + 1) of row r
  for (int t = 0; t < MT; t++)
    for (int c = 0; c < 4; c++) acc[t][c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++, w += 256) {
    for (int c = 0; c < 4; c++) _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetch + 64 * c, _MM_HINT_T0);
    __m512i u[4];
    __mmask64 neg[4];
    for (int c = 0; c < 4; c++) {
      const __m512i x = _mm512_loadu_si512(w + 64 * c);
      u[c] = _mm512_abs_epi8(x);
      neg[c] = _mm512_movepi8_mask(x);
    }
    const __m512 dw = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(load_scales(sc + b * kGgmlRows)));
    for (int t = 0; t < MT; t++) {
      const int8_t* a = A + t * lda + b * kQK;
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(ad[t * nb + b]));
      for (int c = 0; c < 4; c++) {
        const __m512i av = bcast8(a + 8 * c);
        const __m512i p = _mm512_dpbusd_epi32(zero, u[c], _mm512_mask_sub_epi8(av, neg[c], zero, av));
        acc[t][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, acc[t][c]);
      }
    }
  }
  // ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)), then lane 2r + lane 2r + 1
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
  for (int t = 0; t < MT; t++) {
    const __m512 h = _mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][2]), _mm512_add_ps(acc[t][1], acc[t][3]));
    const __m512 s = _mm512_add_ps(h, _mm512_permute_ps(h, 0xB1));  // swap neighbours
    store_rows(C + t * ldc, _mm512_castps512_ps256(_mm512_permutexvar_ps(even, s)), ncols);
  }
}


}  // namespace

LOWBIT_GGML_MATMULS(avx512, tile_q4_0, 4, tile_q8_0, 4)

}  // namespace lowbit
