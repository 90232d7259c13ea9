// int8 x int8 matmul with AVX-512 VNNI: vpdpbusd multiplies u8 by s8 with
// int32 accumulation, so activations are offset to u8 (a + 128, an xor of the
// sign bit) and the offset is removed with the weight row sums:
//   sum (a + 128) w = sum a w + 128 * wsum.
#include <immintrin.h>

#include <algorithm>

#include "blocked.h"
#include "kernels.h"

namespace lowbit {
namespace {

inline __m128i hsum4_epi32(__m512i a, __m512i b, __m512i c, __m512i d) {
  auto half = [](__m512i v) {
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
  };
  __m256i abcd = _mm256_hadd_epi32(_mm256_hadd_epi32(half(a), half(b)), _mm256_hadd_epi32(half(c), half(d)));
  return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

template <int MR, bool PF>
void tile(const int8_t* A, int64_t lda, const float* sa, const int8_t* w, const float* sw, const int32_t* wsum,
          float* C, int32_t* D, int64_t ldc, int64_t kp, int64_t ncols) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  __m512i acc[MR][4];
  for (int r = 0; r < MR; r++)
    for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_si512();
  for (int64_t p = 0; p < kp; p += 64, w += 256) {
    if (PF)
      for (int b = 0; b < 4; b++) _mm_prefetch(reinterpret_cast<const char*>(w + 1024) + 64 * b, _MM_HINT_T0);
    __m512i a[MR];
    for (int r = 0; r < MR; r++) a[r] = _mm512_xor_si512(_mm512_loadu_si512((const void*)(A + r * lda + p)), flip);
    for (int c = 0; c < 4; c++) {
      const __m512i wv = _mm512_loadu_si512((const void*)(w + c * 64));
      for (int r = 0; r < MR; r++) acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], a[r], wv);
    }
  }
  for (int r = 0; r < MR; r++) {
    int32_t d[4];
    _mm_storeu_si128((__m128i*)d, hsum4_epi32(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
    if (D)
      for (int64_t c = 0; c < ncols; c++) D[r * ldc + c] = d[c] - 128 * wsum[c];
    else
      for (int64_t c = 0; c < ncols; c++) C[r * ldc + c] = sa[r] * sw[c] * (float)(d[c] - 128 * wsum[c]);
  }
}

}  // namespace

void matmul_q8_avx512(const int8_t* A, int64_t lda, const float* sa, const int8_t* W, const float* sw,
                      const int32_t* wsum, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp,
                      int32_t* D) {
  // output pointers of tile (i, j): float C, or the int32 dot products D
  auto cf = [&](int64_t i, int64_t j) { return D ? nullptr : C + i * ldc + j; };
  auto at = [&](int64_t i, int64_t j) { return D ? D + i * ldc + j : nullptr; };
  const int64_t gstride = kGroupRows * kp;
  packed_matmul<4>(m, j0, j1, [&](auto mr, auto pf, int64_t i, int64_t j, int64_t nc) {
    tile<decltype(mr)::value, decltype(pf)::value>(A + i * lda, lda, sa + i, W + (j / 4) * gstride, sw + j, wsum + j,
                                                   cf(i, j), at(i, j), ldc, kp, nc);
  });
}

}  // namespace lowbit
