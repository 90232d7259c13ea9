// AVX-512 int4 weight-only matmul (w4a16) for m >= 16 (prefill; m < 16 runs
// the integer path of q4_avx512.cc). Semantics: kernels.h and matmul_q4_ref;
// the int16 activations are widened to f32 (sx[i, g] * A[i, p], one rounding)
// and the group dots are f32 sums, so results agree with the reference's exact
// integer dots to ~1e-6 relative. Compiled with AVX-512 F/BW/VL/DQ (+VNNI,
// BF16) flags; only called after CPUID says the CPU has them. Same structure
// as q4_gemm_avx2.cc (compute-bound):
//
// A 64-row activation block is widened and transposed once (asum appended as
// extra k); per 96-column x 512-k slice the weights are dequantized row-major
// (low nibbles to f32 through vpermps with the table {0..15}, which reads only
// the low 4 index bits, so no mask is needed; high nibbles through shift +
// convert); a 32-row x 12-column tile (24 zmm accumulators, 2 loads + 12
// broadcasts per 24 FMAs) accumulates into a transposed scratch that is copied
// to C once per block.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels.h"
#include "tiling.h"
#include "x86.h"

namespace lowbit {
namespace {

inline __m512i load16u(const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
// Low nibbles as f32: vpermps only reads the low 4 index bits, so a 16-entry
// table {0..15} converts without masking. High nibbles: shift + convert.
inline __m512 nib_table() {
  return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}
inline __m512 lo_f32(__m512i x, __m512 table) { return _mm512_permutexvar_ps(x, table); }
inline __m512 hi_f32(__m512i x) { return _mm512_cvtepi32_ps(_mm512_srli_epi32(x, 4)); }


// The extended weight rows (tiling.h q4_dequant_rows), 16 columns per vector.
void dequant_rows(const uint8_t* W, const float* s, const float* o, int64_t jb, int64_t j1, int64_t nrows,
                  int64_t kp, int64_t group, int64_t k0, int64_t k1, float* dst) {
  const __m512 table = nib_table();
  q4_dequant_rows(W, s, o, jb, j1, nrows, kp, group, k0, k1, dst, [&](float* d, const uint8_t* wr, const float* scale) {
    const __m512 sv = _mm512_set1_ps(*scale);
    const __m512i x = load16u(wr);
    _mm512_storeu_ps(d, _mm512_mul_ps(lo_f32(x, table), sv));
    _mm512_storeu_ps(d + 16, _mm512_mul_ps(hi_f32(x), sv));
  });
}

// 16*MV rows (MV vectors of at, stride ldt per k) x 12 columns (one weight row
// each, stride ldw) over len k; column c's sums go to ct[c * ldt + 0..16*MV),
// stored or added. Named accumulators: with an array GCC -O3 keeps a memory
// copy of it updated inside the loop.
template <int MV>
__attribute__((noinline)) void tile_t(const float* at, int64_t ldt, const float* w, int64_t ldw, int64_t len,
                                      float* ct, bool add) {
#define Q4_DECL(N) __m512 c##N##0 = _mm512_setzero_ps(), c##N##1 = _mm512_setzero_ps();
  Q4_DECL(0) Q4_DECL(1) Q4_DECL(2) Q4_DECL(3) Q4_DECL(4) Q4_DECL(5)
  Q4_DECL(6) Q4_DECL(7) Q4_DECL(8) Q4_DECL(9) Q4_DECL(10) Q4_DECL(11)
#undef Q4_DECL
  for (int64_t k = 0; k < len; k++, at += ldt, w++) {
    const __m512 a0 = _mm512_loadu_ps(at);
    const __m512 a1 = MV == 2 ? _mm512_loadu_ps(at + 16) : a0;
    __m512 b;
#define Q4_COL(N)                            \
  b = _mm512_set1_ps(w[N * ldw]);            \
  c##N##0 = _mm512_fmadd_ps(a0, b, c##N##0); \
  if (MV == 2) c##N##1 = _mm512_fmadd_ps(a1, b, c##N##1);
    Q4_COL(0) Q4_COL(1) Q4_COL(2) Q4_COL(3) Q4_COL(4) Q4_COL(5)
    Q4_COL(6) Q4_COL(7) Q4_COL(8) Q4_COL(9) Q4_COL(10) Q4_COL(11)
#undef Q4_COL
  }
#define Q4_OUT(N)                                                                     \
  {                                                                                   \
    float* d = ct + N * ldt;                                                          \
    _mm512_storeu_ps(d, add ? _mm512_add_ps(_mm512_loadu_ps(d), c##N##0) : c##N##0);  \
    if (MV == 2)                                                                      \
      _mm512_storeu_ps(d + 16, add ? _mm512_add_ps(_mm512_loadu_ps(d + 16), c##N##1) \
                                   : c##N##1);                                        \
  }
  Q4_OUT(0) Q4_OUT(1) Q4_OUT(2) Q4_OUT(3) Q4_OUT(4) Q4_OUT(5)
  Q4_OUT(6) Q4_OUT(7) Q4_OUT(8) Q4_OUT(9) Q4_OUT(10) Q4_OUT(11)
#undef Q4_OUT
}

void gemm_t(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W, const float* s,
            const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp, int64_t group) {
  static_assert(kQ4GemmMB % 32 == 0 && kQ4GemmNB % 12 == 0, "row blocks of whole 32-row, column blocks of 12-column tiles");
  thread_local std::vector<float> cbuf;
  float* ct = q4_scratch(cbuf, kQ4GemmNB * kQ4GemmMB);  // the block's result, transposed: ct[j * ldt + i]
  q4_gemm_blocks(
      A, lda, sx, asum, W, s, o, m, j0, j1, kp, group, 12, transpose_block, dequant_rows,
      [&](const float* at, int64_t ldt, const float* wb, int64_t len, int64_t, int64_t, int64_t, int64_t cols,
          int64_t kb) {
        const int64_t colsp = pad_to(cols, 12);
        for (int64_t it = 0; it < ldt; it += 32)
          for (int64_t jt = 0; jt < colsp; jt += 12) {
            if (ldt - it >= 32)
              tile_t<2>(at + it, ldt, wb + jt * len, len, len, ct + jt * ldt + it, kb > 0);
            else
              tile_t<1>(at + it, ldt, wb + jt * len, len, len, ct + jt * ldt + it, kb > 0);
          }
      },
      [&](int64_t ib, int64_t rows, int64_t jb, int64_t cols, int64_t ldt) {
        for (int64_t i = 0; i < rows; i++)
          for (int64_t j = 0; j < cols; j++) C[(ib + i) * ldc + jb + j] = ct[j * ldt + i];
      });
}

}  // namespace

void gemm_q4_avx512(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W,
                    const float* s, const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                    int64_t kp, int64_t group) {
  gemm_t(A, lda, sx, asum, W, s, o, C, ldc, m, j0, j1, kp, group);
}

}  // namespace lowbit
