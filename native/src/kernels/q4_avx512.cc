// AVX-512 int4 weight-only matmul (w4a16): the integer path for decode and
// small batches (m < 16) and the dispatch (m >= 16, the compute-bound prefill,
// goes to q4_gemm_avx512.cc); activations are quantized by quantize_a16_avx2.
// Semantics: kernels.h and q4_ref.cc; the decode path computes the
// reference's exact integer group dots, so it differs from it only in the
// order of the f32 sums over groups (and, for groups over kQ4BlockCols
// columns, in converting each block's sum separately). Compiled with AVX-512
// F/BW/VL/DQ + VNNI (+BF16) flags; only called after CPUID says the CPU has
// them. Mirrors the AVX2 decode path (q4_avx2.cc) with 512-bit registers:
//
// The packed stream of [j0, j1) is read once, in order, prefetched 4 KiB
// ahead. Per row group (4 output rows), up to 4 activation rows at a time
// (further blocks of 4 re-read the row group's 4 x kp / 2 bytes from L1/L2):
//   per 64-byte chunk (32 columns x 4 rows): vpmovzxbw widens the 32 bytes of
//   rows 0-1 (then 2-3) to 32 int16 lanes (row 0 in lanes 0..15, row 1 in
//   16..31); `& 15` gives columns 0..15, `>> 4` columns 16..31; two vpdpwssd
//   (VNNI: int16 pair products summed into int32 lanes) with the activations
//   broadcast to both halves accumulate both rows: 5 ops per 64 weights.
//   At each group end (or every kQ4BlockCols columns, so int32 cannot
//   overflow) the accumulators are converted to f32 once and FMA'd with
//   s[j, g] * sx[i, g] (per half: vpermps of the 4 rows' products) into f32
//   totals; the offsets o[j, g] * asum[i, g] are a masked 16-wide vector dot
//   per row at the end, and one horizontal reduction per row group.
#include <immintrin.h>

#include <algorithm>

#include "kernels.h"
#include "tiling.h"
#include "x86.h"

namespace lowbit {
namespace {

constexpr int64_t kPrefetch = 4096;  // bytes ahead in the weight stream
constexpr int64_t kBlockChunks = kQ4BlockCols / 32;

inline __m256 fold(__m512 a) { return _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1)); }

inline __mmask16 tail16(int64_t r) { return r >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << r) - 1u); }

// 16 int16 activations in both 256-bit halves.
inline __m512i bcast16(const int16_t* p) {
  return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
// 32 packed bytes (2 row-chunks) -> 32 int16 lanes.
inline __m512i load32u(const uint8_t* p) {
  return _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// MR activation rows x the 4 rows of the row group at w, all kp columns;
// out[i] = the 4 outputs of activation row i.
template <int MR>
inline void row_group(const int16_t* A, int64_t lda, const float* sx, const float* asum, int64_t ng, int64_t cpg,
                      const uint8_t* w, const float* const sr[4], const float* const orow[4], __m128 out[MR]) {
  const __m512i m15 = _mm512_set1_epi16(15);
  const __m512i idx01 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const __m512i idx23 = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  __m512 t01[MR], t23[MR];  // f32 totals: rows 0 | 1 and 2 | 3, 8 lanes each
  for (int i = 0; i < MR; i++) t01[i] = t23[i] = _mm512_setzero_ps();
  const int16_t* ap = A;
  for (int64_t g = 0; g < ng; g++) {
    const __m128 s4 = _mm_setr_ps(sr[0][g], sr[1][g], sr[2][g], sr[3][g]);
    for (int64_t c0 = 0; c0 < cpg; c0 += kBlockChunks) {
      const int64_t c1 = std::min(cpg, c0 + kBlockChunks);
      __m512i a01[MR], a23[MR];
      for (int i = 0; i < MR; i++) a01[i] = a23[i] = _mm512_setzero_si512();
      for (int64_t c = c0; c < c1; c++, w += 64, ap += 32) {
        _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetch, _MM_HINT_T0);
        const __m512i v01 = load32u(w), v23 = load32u(w + 32);
        const __m512i lo01 = _mm512_and_si512(v01, m15), hi01 = _mm512_srli_epi16(v01, 4);
        const __m512i lo23 = _mm512_and_si512(v23, m15), hi23 = _mm512_srli_epi16(v23, 4);
        for (int i = 0; i < MR; i++) {
          const __m512i x0 = bcast16(ap + i * lda), x1 = bcast16(ap + i * lda + 16);
          a01[i] = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(a01[i], lo01, x0), hi01, x1);
          a23[i] = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(a23[i], lo23, x0), hi23, x1);
        }
      }
      for (int i = 0; i < MR; i++) {
        const __m512 sc = _mm512_castps128_ps512(_mm_mul_ps(s4, _mm_set1_ps(sx[i * ng + g])));
        t01[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a01[i]), _mm512_permutexvar_ps(idx01, sc), t01[i]);
        t23[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a23[i]), _mm512_permutexvar_ps(idx23, sc), t23[i]);
      }
    }
  }
  for (int i = 0; i < MR; i++) {
    __m512 f[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    const float* as = asum + i * ng;
    for (int64_t g = 0; g < ng; g += 16) {
      const __mmask16 mk = tail16(ng - g);
      const __m512 av = _mm512_maskz_loadu_ps(mk, as + g);
      for (int r = 0; r < 4; r++) f[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, orow[r] + g), av, f[r]);
    }
    const __m128 sums = hsum4(_mm512_castps512_ps256(t01[i]), _mm512_extractf32x8_ps(t01[i], 1),
                              _mm512_castps512_ps256(t23[i]), _mm512_extractf32x8_ps(t23[i], 1));
    out[i] = _mm_add_ps(sums, hsum4(fold(f[0]), fold(f[1]), fold(f[2]), fold(f[3])));
  }
}

void gemv(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W, const float* s,
          const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp, int64_t group) {
  const int64_t ng = kp / group, cpg = group / 32, nch = kp / 32;
  for (int64_t j = j0; j < j1; j += 4) {
    Q4Cols q = q4_cols(W, s, o, j, j1, ng, nch);  // rows past j1: the last valid row's scales, never stored
    const __mmask8 mk = (__mmask8)((1u << q.ncols) - 1u);
    for (int64_t i = 0; i < m; i += 4) {
      __m128 out[4];
      const int16_t* a = A + i * lda;
      switch (std::min<int64_t>(4, m - i)) {
        case 1: row_group<1>(a, lda, sx + i * ng, asum + i * ng, ng, cpg, q.w, q.sr, q.orow, out); break;
        case 2: row_group<2>(a, lda, sx + i * ng, asum + i * ng, ng, cpg, q.w, q.sr, q.orow, out); break;
        case 3: row_group<3>(a, lda, sx + i * ng, asum + i * ng, ng, cpg, q.w, q.sr, q.orow, out); break;
        default: row_group<4>(a, lda, sx + i * ng, asum + i * ng, ng, cpg, q.w, q.sr, q.orow, out); break;
      }
      for (int64_t r = 0; r < std::min<int64_t>(4, m - i); r++) _mm_mask_storeu_ps(C + (i + r) * ldc + j, mk, out[r]);
    }
  }
}

}  // namespace

void matmul_q4_avx512(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W,
                      const float* s, const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                      int64_t kp, int64_t group) {
  q4_matmul(A, lda, sx, asum, W, s, o, C, ldc, m, j0, j1, kp, group, gemv, gemm_q4_avx512);
}

}  // namespace lowbit
