// x86 helpers shared by the AVX2 and AVX-512 files of lowbit's own kernels
// (avx2.cc, q4_*.cc, q4_gemm_*.cc; included only by files compiled with at
// least -mavx2). Internal linkage, as kernels/tiling.h explains: each ISA file
// keeps its own copy, compiled with its own -m flags.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "tiling.h"

namespace lowbit {
namespace {

// {sum(a), sum(b), sum(c), sum(d)}
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// The first ncols (1..4) lanes of v to C[0 .. ncols) (a tile's outputs at a
// column group that ends inside it).
inline void store_cols4(float* C, __m128 v, int64_t ncols) {
  if (ncols == 4) {
    _mm_storeu_ps(C, v);
    return;
  }
  alignas(16) float t[4];
  _mm_store_ps(t, v);
  for (int64_t c = 0; c < ncols; c++) C[c] = t[c];
}

// 8 int16 activations widened to f32 and scaled by their group's sx.
inline __m256 load_a8(const int16_t* a, float sx) {
  const __m256i v = _mm256_cvtepi16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a)));
  return _mm256_mul_ps(_mm256_cvtepi32_ps(v), _mm256_set1_ps(sx));
}

// In-place transpose of an 8x8 f32 block (rows r[0..7]).
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// The int4 prefill's activation panel (q4_gemm_*.cc): at[k * ldt + i] = sx[i, k / group] * A[i, k] for k < kp, asum[i, k - kp] for
// kp <= k < kp + ng; rows i >= `rows` (up to ldt, a multiple of 8) are zero.
inline void transpose_block(const int16_t* A, int64_t lda, const float* sx, const float* asum, int64_t ng, int64_t group,
                            int64_t rows, int64_t kp, int64_t ldt, float* at) {
  for (int64_t i = 0; i < ldt; i += 8) {
    const int64_t nr = rows - i;
    for (int64_t k = 0; k < kp; k += 8) {
      __m256 r[8];
      for (int l = 0; l < 8; l++)
        r[l] = l < nr ? load_a8(A + (i + l) * lda + k, sx[(i + l) * ng + k / group]) : _mm256_setzero_ps();
      transpose8(r);
      for (int l = 0; l < 8; l++) _mm256_storeu_ps(at + (k + l) * ldt + i, r[l]);
    }
  }
  q4_panel_asum(asum, ng, kp, rows, ldt, at);
}

}  // namespace
}  // namespace lowbit
