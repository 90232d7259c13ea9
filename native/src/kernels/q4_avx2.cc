// AVX2 + FMA int4 weight-only matmul (w4a16). Semantics: kernels.h and
// matmul_q4_ref. Compiled with -mavx2 -mfma -mf16c; called only when CPUID
// reports them.
//
// m == 1 (decode, memory-bound): the packed stream of [j0, j1) is read once,
// in order, prefetched 1 KiB ahead. Each 8-byte half of a 16-byte row-chunk is
// widened to 8 int32 lanes (vpmovzxbd from memory); `& 15` gives elements
// b..b+7 (low nibbles), `>> 4` elements b+16..b+23 (high nibbles); both are
// converted to f32 and FMA'd with the matching activations into per-group
// accumulators (2 per row). At each group end the 4 rows' accumulators are
// scaled by s[j, g] (vector FMA into a running total), and the offset terms
// o[j, g] * asum[g] are a short vector dot per row; one hsum4 per row group.
//
// m > 1 (prefill, compute-bound): per 64-row activation block and 16-column
// weight block the int4 weights are dequantized once into a thread_local f32
// buffer as s*q (exact q times one rounding, well inside the tolerance), in
// the packed f32 layout with 8-float chunks, with the offsets o[j, g] appended
// as ng (padded to 8) extra columns matched by asum[i, g] (copied, zero
// padded). A 3x4 register tile (3 activation rows x 4 output columns) then
// runs over kp + ngp columns, so the offset term costs nothing extra.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels.h"

namespace lowbit {
namespace {

// {sum(a), sum(b), sum(c), sum(d)}
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

inline void store_cols(float* C, __m128 v, int64_t ncols) {
  if (ncols == 4) {
    _mm_storeu_ps(C, v);
  } else {
    float t[4];
    _mm_storeu_ps(t, v);
    for (int64_t c = 0; c < ncols; c++) C[c] = t[c];
  }
}

// 8 packed bytes -> 8 int32 lanes (byte values 0..255).
inline __m256i load8u(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

constexpr int64_t kPrefetch = 1024;  // bytes ahead in the weight stream (m == 1)

// m == 1: C[j] for j in [j0, j1).
void gemv(const float* a, const float* asum, const uint8_t* W, const float* s, const float* o, float* C, int64_t j0,
          int64_t j1, int64_t kp, int64_t group) {
  const int64_t ng = kp / group, cpg = group / 32, nch = kp / 32;
  const __m256i m15 = _mm256_set1_epi32(15);
  for (int64_t j = j0; j < j1; j += 4) {
    const int64_t ncols = std::min<int64_t>(4, j1 - j);
    const uint8_t* w = W + (j / 4) * nch * 64;
    // rows past j1 are computed from the last valid row's scales, never stored
    const float* sr[4];
    const float* orow[4];
    for (int r = 0; r < 4; r++) {
      const int64_t jr = j + std::min<int64_t>(r, ncols - 1);
      sr[r] = s + jr * ng;
      orow[r] = o + jr * ng;
    }
    __m256 tot[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const float* ap = a;
    for (int64_t g = 0; g < ng; g++) {
      __m256 lo[4], hi[4];
      for (int r = 0; r < 4; r++) lo[r] = hi[r] = _mm256_setzero_ps();
      for (int64_t c = 0; c < cpg; c++, w += 64, ap += 32) {
        _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetch, _MM_HINT_T0);
        const __m256 a0 = _mm256_loadu_ps(ap), a1 = _mm256_loadu_ps(ap + 8);
        const __m256 a2 = _mm256_loadu_ps(ap + 16), a3 = _mm256_loadu_ps(ap + 24);
        for (int r = 0; r < 4; r++) {
          const __m256i x0 = load8u(w + 16 * r), x1 = load8u(w + 16 * r + 8);
          lo[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(x0, m15)), a0, lo[r]);
          hi[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(x0, 4)), a2, hi[r]);
          lo[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(x1, m15)), a1, lo[r]);
          hi[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(x1, 4)), a3, hi[r]);
        }
      }
      for (int r = 0; r < 4; r++)
        tot[r] = _mm256_fmadd_ps(_mm256_add_ps(lo[r], hi[r]), _mm256_broadcast_ss(sr[r] + g), tot[r]);
    }
    // offsets: sum_g o[j, g] * asum[g]
    int64_t g = 0;
    for (; g + 8 <= ng; g += 8) {
      const __m256 av = _mm256_loadu_ps(asum + g);
      for (int r = 0; r < 4; r++) tot[r] = _mm256_fmadd_ps(_mm256_loadu_ps(orow[r] + g), av, tot[r]);
    }
    __m128 res = hsum4(tot[0], tot[1], tot[2], tot[3]);
    if (g < ng) {
      float t[4] = {0, 0, 0, 0};
      for (; g < ng; g++)
        for (int r = 0; r < 4; r++) t[r] += orow[r][g] * asum[g];
      res = _mm_add_ps(res, _mm_loadu_ps(t));
    }
    store_cols(C + j, res, ncols);
  }
}

// Dequantizes the row groups of rows [jb, jb + 4 * ngr) to s*q in the f32
// layout [group][p / 8][row][8] with kq = kp + ngp columns; columns kp.. hold
// o[j, 0..ng) and zeros. Rows >= j1 are all zero.
void dequant(const uint8_t* W, const float* s, const float* o, int64_t jb, int64_t j1, int64_t ngr, int64_t kp,
             int64_t group, int64_t ngp, float* dst) {
  const int64_t ng = kp / group, cpg = group / 32, nch = kp / 32, kq = kp + ngp;
  const __m256i m15 = _mm256_set1_epi32(15);
  for (int64_t G = 0; G < ngr; G++, dst += 4 * kq) {
    const int64_t j = jb + 4 * G;
    const uint8_t* w = W + (j / 4) * nch * 64;
    bool valid[4];
    const float* sr[4];
    for (int r = 0; r < 4; r++) {
      valid[r] = j + r < j1;
      sr[r] = s + std::min(j + r, j1 - 1) * ng;
    }
    for (int64_t c = 0; c < nch; c++, w += 64) {
      const int64_t g = c / cpg;
      float* d = dst + c * 128;  // 4 chunks of 8 x 4 rows
      for (int r = 0; r < 4; r++) {
        const __m256 sv = valid[r] ? _mm256_broadcast_ss(sr[r] + g) : _mm256_setzero_ps();
        const __m256i x0 = load8u(w + 16 * r), x1 = load8u(w + 16 * r + 8);
        _mm256_storeu_ps(d + 0 * 32 + 8 * r, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(x0, m15)), sv));
        _mm256_storeu_ps(d + 1 * 32 + 8 * r, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(x1, m15)), sv));
        _mm256_storeu_ps(d + 2 * 32 + 8 * r, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(x0, 4)), sv));
        _mm256_storeu_ps(d + 3 * 32 + 8 * r, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(x1, 4)), sv));
      }
    }
    float* d = dst + 4 * kp;
    for (int64_t p8 = 0; p8 < ngp / 8; p8++)
      for (int r = 0; r < 4; r++)
        for (int e = 0; e < 8; e++) {
          const int64_t g = p8 * 8 + e;
          d[(p8 * 4 + r) * 8 + e] = valid[r] && g < ng ? o[(j + r) * ng + g] : 0.0f;
        }
  }
}

// MR activation rows x one dequantized row group (4 output columns): kp
// columns of A against s*q, then ngp columns of asum against o.
template <int MR>
void tile(const float* A, int64_t lda, const float* as, int64_t ldas, const float* w, int64_t kp, int64_t ngp,
          float* C, int64_t ldc, int64_t ncols) {
  __m256 acc[MR][4];
  for (int r = 0; r < MR; r++)
    for (int c = 0; c < 4; c++) acc[r][c] = _mm256_setzero_ps();
  auto step = [&](const float* x, int64_t ldx) {
    __m256 a[MR];
    for (int r = 0; r < MR; r++) a[r] = _mm256_loadu_ps(x + r * ldx);
    for (int c = 0; c < 4; c++) {
      const __m256 wv = _mm256_loadu_ps(w + 8 * c);
      for (int r = 0; r < MR; r++) acc[r][c] = _mm256_fmadd_ps(a[r], wv, acc[r][c]);
    }
    w += 32;
  };
  for (int64_t p = 0; p < kp; p += 8) step(A + p, lda);
  for (int64_t p = 0; p < ngp; p += 8) step(as + p, ldas);
  for (int r = 0; r < MR; r++) store_cols(C + r * ldc, hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]), ncols);
}

void gemm(const float* A, int64_t lda, const float* asum, const uint8_t* W, const float* s, const float* o, float* C,
          int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp, int64_t group) {
  constexpr int64_t MB = 64, NB = 16;
  const int64_t ng = kp / group, ngp = pad_to(ng, 8), kq = kp + ngp;
  thread_local std::vector<float> wbuf, abuf;
  if ((int64_t)wbuf.size() < NB * kq) wbuf.resize(NB * kq);
  if ((int64_t)abuf.size() < MB * ngp) abuf.resize(MB * ngp);
  float* wb = wbuf.data();
  float* ab = abuf.data();
  for (int64_t ib = 0; ib < m; ib += MB) {
    const int64_t ie = std::min(ib + MB, m);
    for (int64_t i = ib; i < ie; i++) {
      float* d = ab + (i - ib) * ngp;
      std::copy(asum + i * ng, asum + (i + 1) * ng, d);
      std::fill(d + ng, d + ngp, 0.0f);
    }
    for (int64_t jb = j0; jb < j1; jb += NB) {
      const int64_t je = std::min(jb + NB, j1);
      dequant(W, s, o, jb, j1, (je - jb + 3) / 4, kp, group, ngp, wb);
      int64_t i = ib;
      for (; i + 3 <= ie; i += 3)
        for (int64_t j = jb; j < je; j += 4)
          tile<3>(A + i * lda, lda, ab + (i - ib) * ngp, ngp, wb + (j - jb) * kq, kp, ngp, C + i * ldc + j, ldc,
                  std::min<int64_t>(4, je - j));
      if (ie - i == 2)
        for (int64_t j = jb; j < je; j += 4)
          tile<2>(A + i * lda, lda, ab + (i - ib) * ngp, ngp, wb + (j - jb) * kq, kp, ngp, C + i * ldc + j, ldc,
                  std::min<int64_t>(4, je - j));
      else if (ie - i == 1)
        for (int64_t j = jb; j < je; j += 4)
          tile<1>(A + i * lda, lda, ab + (i - ib) * ngp, ngp, wb + (j - jb) * kq, kp, ngp, C + i * ldc + j, ldc,
                  std::min<int64_t>(4, je - j));
    }
  }
}

}  // namespace

void matmul_q4_avx2(const float* A, int64_t lda, const float* asum, const uint8_t* W, const float* s, const float* o,
                    float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp, int64_t group) {
  if (j0 >= j1 || m <= 0) return;
  if (m == 1) return gemv(A, asum, W, s, o, C, j0, j1, kp, group);
  gemm(A, lda, asum, W, s, o, C, ldc, m, j0, j1, kp, group);
}

}  // namespace lowbit
