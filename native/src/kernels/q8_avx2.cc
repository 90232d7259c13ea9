// int8 x int8 matmul and per-row activation quantization, AVX2.
// There is no u8 x s8 dot with int32 accumulation in AVX2, so products use the
// sign trick: maddubs(|w|, sign(a, w)) multiplies |w| (u8 <= 127) by a with
// w's sign (s8), pairs summed into int16 without saturation (2 * 127 * 127 <
// 32767), then madd with ones widens to int32. Exact integer dot products.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "blocked.h"
#include "kernels.h"

namespace lowbit {
namespace {

// {sum(a), sum(b), sum(c), sum(d)} of int32 lanes, exact.
inline __m128i hsum4_epi32(__m256i a, __m256i b, __m256i c, __m256i d) {
  __m256i abcd = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
  return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

inline __m256i dot32(__m256i acc, __m256i w_abs, __m256i w, __m256i a) {
  const __m256i p16 = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(a, w));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

// MR activation rows x one packed group (4 output rows), 64-byte chunks.
template <int MR, bool PF>
void tile(const int8_t* A, int64_t lda, const float* sa, const int8_t* w, const float* sw, float* C, int32_t* D,
          int64_t ldc, int64_t kp, int64_t ncols) {
  __m256i acc[MR][4];
  for (int r = 0; r < MR; r++)
    for (int c = 0; c < 4; c++) acc[r][c] = _mm256_setzero_si256();
  for (int64_t p = 0; p < kp; p += 64, w += 256) {
    if (PF)
      for (int b = 0; b < 4; b++) _mm_prefetch(reinterpret_cast<const char*>(w + 1024) + 64 * b, _MM_HINT_T0);
    for (int64_t h = 0; h < 64; h += 32) {
      __m256i a[MR];
      for (int r = 0; r < MR; r++) a[r] = _mm256_loadu_si256((const __m256i*)(A + r * lda + p + h));
      for (int c = 0; c < 4; c++) {
        const __m256i wv = _mm256_loadu_si256((const __m256i*)(w + c * 64 + h));
        const __m256i wa = _mm256_abs_epi8(wv);
        for (int r = 0; r < MR; r++) acc[r][c] = dot32(acc[r][c], wa, wv, a[r]);
      }
    }
  }
  for (int r = 0; r < MR; r++) {
    int32_t d[4];
    _mm_storeu_si128((__m128i*)d, hsum4_epi32(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
    if (D)
      for (int64_t c = 0; c < ncols; c++) D[r * ldc + c] = d[c];
    else
      for (int64_t c = 0; c < ncols; c++) C[r * ldc + c] = sa[r] * sw[c] * (float)d[c];
  }
}

}  // namespace

void matmul_q8_avx2(const int8_t* A, int64_t lda, const float* sa, const int8_t* W, const float* sw, const int32_t*,
                    float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp, int32_t* D) {
  // output pointers of tile (i, j): float C, or the int32 dot products D
  auto cf = [&](int64_t i, int64_t j) { return D ? nullptr : C + i * ldc + j; };
  auto at = [&](int64_t i, int64_t j) { return D ? D + i * ldc + j : nullptr; };
  const int64_t gstride = kGroupRows * kp;
  packed_matmul<2>(m, j0, j1, [&](auto mr, auto pf, int64_t i, int64_t j, int64_t nc) {
    tile<decltype(mr)::value, decltype(pf)::value>(A + i * lda, lda, sa + i, W + (j / 4) * gstride, sw + j, cf(i, j),
                                                   at(i, j), ldc, kp, nc);
  });
}

void quantize_q8_avx2(const float* x, int64_t k, int64_t kp, int8_t* q, float* s, float fixed) {
  float amax = 0;
  int64_t p = 0;
  if (!(fixed > 0)) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 vmax = _mm256_setzero_ps();
    for (; p + 8 <= k; p += 8) vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + p)));
    float lanes[8];
    _mm256_storeu_ps(lanes, vmax);
    for (float l : lanes) amax = std::fmax(amax, l);
    for (int64_t r = p; r < k; r++) amax = std::fmax(amax, std::fabs(x[r]));
  }
  const float scale = fixed > 0 ? fixed : amax / 127.0f, inv = scale > 0 ? 1.0f / scale : 0.0f;
  const __m256 vinv = _mm256_set1_ps(inv);
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  p = 0;
  for (; p + 8 <= k; p += 8) {
    __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + p), vinv));  // round half to even
    v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
    int32_t t[8];
    _mm256_storeu_si256((__m256i*)t, v);
    for (int e = 0; e < 8; e++) q[p + e] = (int8_t)t[e];
  }
  for (; p < k; p++) q[p] = (int8_t)std::fmax(-127.0f, std::fmin(127.0f, std::nearbyint(x[p] * inv)));
  for (; p < kp; p++) q[p] = 0;
  *s = scale;
}

}  // namespace lowbit
