// AVX2 + FMA int4 weight-only matmul (w4a16) for m >= 16 (prefill; m < 16
// runs the integer path of q4_avx2.cc). Semantics: kernels.h and
// matmul_q4_ref; here the int16 activations are widened to f32 (sx[i, g] *
// A[i, p], one rounding) and the group dots are f32 sums, so results agree
// with the reference's exact integer dots to ~1e-6 relative. Compiled with
// -mavx2 -mfma -mf16c. Compute-bound:
//
// A 64-row activation block is widened and transposed once (at[k][row], asum
// appended as ng extra k), and per 96-column x 512-k slice the weights are
// dequantized row-major (s*q, then o); a 16-row x 6-column tile keeps 12
// accumulators of 8 rows each and broadcasts one weight per column per k (2
// loads + 6 broadcasts per 12 FMAs, no horizontal sums); tiles transpose their
// result into C, adding over k slices.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels.h"
#include "tiling.h"
#include "x86.h"

namespace lowbit {
namespace {

// 8 packed bytes -> 8 int32 lanes (byte values 0..255).
inline __m256i load8u(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// The extended weight rows (tiling.h q4_dequant_rows), 8 columns per vector.
void dequant_rows(const uint8_t* W, const float* s, const float* o, int64_t jb, int64_t j1, int64_t nrows,
                  int64_t kp, int64_t group, int64_t k0, int64_t k1, float* dst) {
  const __m256i m15 = _mm256_set1_epi32(15);
  q4_dequant_rows(W, s, o, jb, j1, nrows, kp, group, k0, k1, dst, [&](float* d, const uint8_t* wr, const float* scale) {
    const __m256 sv = _mm256_broadcast_ss(scale);
    const __m256i x0 = load8u(wr), x1 = load8u(wr + 8);
    _mm256_storeu_ps(d + 0, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(x0, m15)), sv));
    _mm256_storeu_ps(d + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(x1, m15)), sv));
    _mm256_storeu_ps(d + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(x0, 4)), sv));
    _mm256_storeu_ps(d + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(x1, 4)), sv));
  });
}

// 16 rows (2 vectors of at, stride ldt per k) x 6 columns (one weight row
// each, stride ldw) over len k; the result is transposed into C (nrows x
// ncols), stored or added. Named accumulators: with an array GCC -O3 keeps a
// memory copy of it updated inside the loop.
__attribute__((noinline)) void tile_t(const float* at, int64_t ldt, const float* w, int64_t ldw, int64_t len,
                                      float* C, int64_t ldc, int64_t nrows, int64_t ncols, bool add) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t k = 0; k < len; k++, at += ldt, w++) {
    const __m256 a0 = _mm256_loadu_ps(at), a1 = _mm256_loadu_ps(at + 8);
    __m256 b;
#define Q4_COL(N)                            \
  b = _mm256_broadcast_ss(w + N * ldw);      \
  c##N##0 = _mm256_fmadd_ps(a0, b, c##N##0); \
  c##N##1 = _mm256_fmadd_ps(a1, b, c##N##1);
    Q4_COL(0) Q4_COL(1) Q4_COL(2) Q4_COL(3) Q4_COL(4) Q4_COL(5)
#undef Q4_COL
  }
  // transpose to rows of C (6 of 8 lanes) and store / add under a column mask
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)ncols), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256 z = _mm256_setzero_ps();
  __m256 r[2][8] = {{c00, c10, c20, c30, c40, c50, z, z}, {c01, c11, c21, c31, c41, c51, z, z}};
  transpose8(r[0]);
  transpose8(r[1]);
  for (int64_t l = 0; l < nrows; l++) {
    float* cp = C + l * ldc;
    __m256 v = r[l >> 3][l & 7];
    if (add) v = _mm256_add_ps(v, _mm256_maskload_ps(cp, mask));
    _mm256_maskstore_ps(cp, mask, v);
  }
}

void gemm_t(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W, const float* s,
            const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp, int64_t group) {
  static_assert(kQ4GemmNB % 6 == 0, "column blocks of whole 6-column tiles");
  q4_gemm_blocks(
      A, lda, sx, asum, W, s, o, m, j0, j1, kp, group, 6, transpose_block, dequant_rows,
      [&](const float* at, int64_t ldt, const float* wb, int64_t len, int64_t ib, int64_t rows, int64_t jb,
          int64_t cols, int64_t kb) {
        for (int64_t it = 0; it < rows; it += 16)
          for (int64_t jt = 0; jt < cols; jt += 6)
            tile_t(at + it, ldt, wb + jt * len, len, len, C + (ib + it) * ldc + jb + jt, ldc,
                   std::min<int64_t>(16, rows - it), std::min<int64_t>(6, cols - jt), kb > 0);
      },
      [](int64_t, int64_t, int64_t, int64_t, int64_t) {});  // the tiles wrote C
}

}  // namespace

void gemm_q4_avx2(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W,
                  const float* s, const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp,
                  int64_t group) {
  gemm_t(A, lda, sx, asum, W, s, o, C, ldc, m, j0, j1, kp, group);
}

}  // namespace lowbit
