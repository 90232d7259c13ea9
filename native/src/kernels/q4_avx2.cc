// AVX2 int4 weight-only matmul (w4a16): the activation quantizer, the integer
// path for decode and small batches (m < 16) and the dispatch (m >= 16, the
// compute-bound prefill, goes to q4_gemm_avx2.cc). Semantics:
// kernels.h and q4_ref.cc; the decode path computes the reference's exact
// integer group dots, so it differs from it only in the order of the f32 sums
// over groups (and, for groups over kQ4BlockCols columns, in converting each
// block's sum separately). Compiled with -mavx2 -mfma -mf16c.
//
// Integer path (decode: memory-bound): the packed stream of [j0, j1) is read
// once, in order, prefetched 4 KiB ahead. Per row group (4 output rows), for
// one or two activation rows at a time (further pairs re-read the row group's
// 4 x kp / 2 bytes from L1/L2; up to m = 15 this beats dequantizing to f32):
//   per 64-byte chunk (32 columns x 4 rows), per row: vpmovzxbw widens its 16
//   bytes to 16 int16 lanes; `& 15` gives columns 0..15 (low nibbles), `>> 4`
//   columns 16..31 (high nibbles); two vpmaddwd with the int16 activations
//   give 8 int32 pair sums, added into the row's int32 accumulator: 7 integer
//   ops per 32 weights, no int-to-float conversion and no FMA per weight.
//   At each group end (or every kQ4BlockCols columns, so int32 cannot
//   overflow) the 4 rows' accumulators are reduced (hadd) to one 4-lane
//   vector, converted to f32 once and FMA'd with s[j, g] * sx[i, g] into a
//   4-lane total; the offsets o[j, g] * asum[i, g] are an 8-wide vector dot
//   per row at the end.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels.h"
#include "tiling.h"
#include "x86.h"

namespace lowbit {
namespace {

constexpr int64_t kPrefetch = 4096;  // bytes ahead in the weight stream
constexpr int64_t kBlockChunks = kQ4BlockCols / 32;

inline __m128i hsum4i(__m256i a, __m256i b, __m256i c, __m256i d) {
  __m256i abcd = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
  return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

inline __m256i load16(const int16_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// {sum_g o_r[g] * as[g] for r = 0..3}
inline __m128 offsets4(const float* const o[4], const float* as, int64_t ng) {
  __m256 f[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t g = 0;
  for (; g + 8 <= ng; g += 8) {
    const __m256 av = _mm256_loadu_ps(as + g);
    for (int r = 0; r < 4; r++) f[r] = _mm256_fmadd_ps(_mm256_loadu_ps(o[r] + g), av, f[r]);
  }
  __m128 res = hsum4(f[0], f[1], f[2], f[3]);
  if (g < ng) {
    float t[4] = {0, 0, 0, 0};
    for (; g < ng; g++)
      for (int r = 0; r < 4; r++) t[r] += o[r][g] * as[g];
    res = _mm_add_ps(res, _mm_loadu_ps(t));
  }
  return res;
}

// MR (1 or 2) activation rows x the 4 rows of the row group at w, all kp
// columns; out[i] = the 4 outputs of activation row i. sr / orow: scale and
// offset rows of the 4 output rows.
template <int MR>
inline void row_group(const int16_t* A, int64_t lda, const float* sx, const float* asum, int64_t ng, int64_t cpg,
                      const uint8_t* w, const float* const sr[4], const float* const orow[4], __m128 out[MR]) {
  const __m256i m15 = _mm256_set1_epi16(15);
  __m128 tot[MR];
  for (int i = 0; i < MR; i++) tot[i] = _mm_setzero_ps();
  const int16_t* ap = A;
  for (int64_t g = 0; g < ng; g++) {
    const __m128 s4 = _mm_setr_ps(sr[0][g], sr[1][g], sr[2][g], sr[3][g]);
    for (int64_t c0 = 0; c0 < cpg; c0 += kBlockChunks) {
      const int64_t c1 = std::min(cpg, c0 + kBlockChunks);
      __m256i acc[MR][4];
      for (int i = 0; i < MR; i++)
        for (int r = 0; r < 4; r++) acc[i][r] = _mm256_setzero_si256();
      for (int64_t c = c0; c < c1; c++, w += 64, ap += 32) {
        _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetch, _MM_HINT_T0);
        __m256i x0[MR], x1[MR];
        for (int i = 0; i < MR; i++) x0[i] = load16(ap + i * lda), x1[i] = load16(ap + i * lda + 16);
        for (int r = 0; r < 4; r++) {
          const __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 16 * r)));
          const __m256i lo = _mm256_and_si256(v, m15), hi = _mm256_srli_epi16(v, 4);
          for (int i = 0; i < MR; i++)
            acc[i][r] = _mm256_add_epi32(acc[i][r], _mm256_add_epi32(_mm256_madd_epi16(lo, x0[i]),
                                                                     _mm256_madd_epi16(hi, x1[i])));
        }
      }
      for (int i = 0; i < MR; i++) {
        const __m128 d = _mm_cvtepi32_ps(hsum4i(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
        tot[i] = _mm_fmadd_ps(d, _mm_mul_ps(s4, _mm_set1_ps(sx[i * ng + g])), tot[i]);
      }
    }
  }
  for (int i = 0; i < MR; i++) out[i] = _mm_add_ps(tot[i], offsets4(orow, asum + i * ng, ng));
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

void gemv(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W, const float* s,
          const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp, int64_t group) {
  const int64_t ng = kp / group, cpg = group / 32, nch = kp / 32;
  for (int64_t j = j0; j < j1; j += 4) {
    Q4Cols q = q4_cols(W, s, o, j, j1, ng, nch);  // rows past j1: the last valid row's scales, never stored
    int64_t i = 0;
    for (; i + 2 <= m; i += 2) {
      __m128 out[2];
      row_group<2>(A + i * lda, lda, sx + i * ng, asum + i * ng, ng, cpg, q.w, q.sr, q.orow, out);
      store_cols(C + i * ldc + j, out[0], q.ncols);
      store_cols(C + (i + 1) * ldc + j, out[1], q.ncols);
    }
    if (i < m) {
      __m128 out[1];
      row_group<1>(A + i * lda, lda, sx + i * ng, asum + i * ng, ng, cpg, q.w, q.sr, q.orow, out);
      store_cols(C + i * ldc + j, out[0], q.ncols);
    }
  }
}

}  // namespace

void quantize_a16_avx2(const float* x, int64_t k, int64_t kp, int64_t group, int16_t* q, float* sx, float* asum) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i lo = _mm256_set1_epi32(-kA16Max), hi = _mm256_set1_epi32(kA16Max);
  for (int64_t g = 0; g < kp / group; g++) {
    const int64_t p0 = g * group, p1 = std::min(k, p0 + group);
    int64_t p = p0;
    __m256 vmax = _mm256_setzero_ps();
    for (; p + 8 <= p1; p += 8) vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + p)));
    float lanes[8], amax = 0;
    _mm256_storeu_ps(lanes, vmax);
    for (float l : lanes) amax = std::fmax(amax, l);
    for (; p < p1; p++) amax = std::fmax(amax, std::fabs(x[p]));
    float scale = amax / (float)kA16Max, inv = scale > 0 ? 1.0f / scale : 0.0f;
    if (!std::isfinite(inv)) scale = inv = 0;
    const __m256 vinv = _mm256_set1_ps(inv);
    __m256i vsum = _mm256_setzero_si256();  // |lane| <= group / 8 * 32767: exact
    for (p = p0; p + 8 <= p1; p += 8) {
      __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + p), vinv));  // round half to even
      v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
      vsum = _mm256_add_epi32(vsum, v);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + p),
                       _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
    }
    int32_t sums[8];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sums), vsum);
    int64_t isum = 0;
    for (int32_t v : sums) isum += v;
    for (; p < p1; p++) {
      q[p] = (int16_t)std::fmax(-(float)kA16Max, std::fmin((float)kA16Max, std::nearbyint(x[p] * inv)));
      isum += q[p];
    }
    for (p = std::max(p0, p1); p < p0 + group; p++) q[p] = 0;
    sx[g] = scale;
    asum[g] = scale * (float)isum;
  }
}

void matmul_q4_avx2(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W,
                    const float* s, const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                    int64_t kp, int64_t group) {
  q4_matmul(A, lda, sx, asum, W, s, o, C, ldc, m, j0, j1, kp, group, gemv, gemm_q4_avx2);
}

}  // namespace lowbit
