// AVX-512 int4 weight-only matmul (w4a16) for m >= 5 (prefill; the decode
// path m <= 4 is in q4_avx512.cc). Semantics: kernels.h and matmul_q4_ref;
// the int16 activations are widened to f32 (sx[i, g] * A[i, p], one rounding)
// and the group dots are f32 sums, so results agree with the reference's exact
// integer dots to ~1e-6 relative. Compiled with AVX-512 F/BW/VL/DQ (+VNNI,
// BF16) flags; only called after CPUID says the CPU has them. Same structure
// as q4_gemm_avx2.cc:
//
// 5 <= m < 16: activation rows widened to f32 once; weights dequantized (s*q,
//   o appended) per 16-column block into the packed f32 layout with 16-float
//   chunks; 4x4 register tile, hsum4. Low nibbles go to f32 through vpermps
//   with the table {0..15} (it reads only the low 4 index bits, so no mask is
//   needed), high nibbles through shift + convert.
// m >= 16 (compute-bound): 64-row activation block widened and transposed
//   once (asum appended as extra k); per 96-column x 512-k slice the weights
//   are dequantized row-major; a 32-row x 12-column tile (24 zmm accumulators,
//   2 loads + 12 broadcasts per 24 FMAs) accumulates into a transposed scratch
//   that is copied to C once per block.
#include <immintrin.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels.h"

namespace lowbit {
namespace {

// {sum(a), sum(b), sum(c), sum(d)}
inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
  __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), _mm512_extractf32x8_ps(b, 1));
  __m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c), _mm512_extractf32x8_ps(c, 1));
  __m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d), _mm512_extractf32x8_ps(d, 1));
  __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a8, b8), _mm256_hadd_ps(c8, d8));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

inline void store_cols(float* C, __m128 v, int64_t ncols) {
  if (ncols == 4)
    _mm_storeu_ps(C, v);
  else
    _mm_mask_storeu_ps(C, (__mmask8)((1u << ncols) - 1u), v);
}

inline __mmask16 tail16(int64_t r) { return r >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << r) - 1u); }

inline float* align64(float* p) {
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}

// Reusable scratch with a 64-byte aligned start (no cache-line-split loads).
inline float* scratch(std::vector<float>& v, int64_t n) {
  if ((int64_t)v.size() < n + 16) v.resize(n + 16);
  return align64(v.data());
}

// 16 packed bytes (one row-chunk) -> 16 int32 lanes (byte values 0..255).
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

constexpr int64_t kTileMinRows = 16;  // m from which the transposed-A tile beats the row-group tile

// 8 / 16 int16 activations widened to f32 and scaled by their group's sx.
inline __m256 load_a8(const int16_t* a, float sx) {
  const __m256i v = _mm256_cvtepi16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a)));
  return _mm256_mul_ps(_mm256_cvtepi32_ps(v), _mm256_set1_ps(sx));
}
inline __m512 load_a16(const int16_t* a, float sx) {
  const __m512i v = _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)));
  return _mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_set1_ps(sx));
}

// ---------------------------------------------------------------------------
// 5 <= m < 16: dequantized row groups x 4x4 register tile.

// Row groups of rows [jb, jb + 4 * ngr) as s*q in the layout [group][p / 16][row][16]
// with kq = kp + ngp columns; columns kp.. hold o[j, 0..ng) then zeros. Rows
// >= j1 are zero.
void dequant_groups(const uint8_t* W, const float* s, const float* o, int64_t jb, int64_t j1, int64_t ngr,
                    int64_t kp, int64_t group, int64_t ngp, float* dst) {
  const int64_t ng = kp / group, cpg = group / 32, nch = kp / 32, kq = kp + ngp;
  const __m512 table = nib_table();
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
      float* d = dst + c * 128;  // 2 chunks of 16 x 4 rows
      for (int r = 0; r < 4; r++) {
        const __m512 sv = valid[r] ? _mm512_set1_ps(sr[r][g]) : _mm512_setzero_ps();
        const __m512i x = load16u(w + 16 * r);
        _mm512_storeu_ps(d + 16 * r, _mm512_mul_ps(lo_f32(x, table), sv));
        _mm512_storeu_ps(d + 64 + 16 * r, _mm512_mul_ps(hi_f32(x), sv));
      }
    }
    float* d = dst + 4 * kp;
    for (int64_t p = 0; p < ngp; p += 16)
      for (int r = 0; r < 4; r++) {
        const __mmask16 mk = valid[r] ? tail16(ng - p) : (__mmask16)0;
        _mm512_storeu_ps(d + (p / 16 * 4 + r) * 16, _mm512_maskz_loadu_ps(mk, o + (j + r) * ng + p));
      }
  }
}

// MR activation rows x one dequantized row group (4 output columns): kp
// columns of A against s*q, then ngp columns of asum against o.
template <int MR>
__attribute__((noinline)) void tile(const float* A, int64_t lda, const float* as, int64_t ldas, const float* w,
                                    int64_t kp, int64_t ngp, float* C, int64_t ldc, int64_t ncols) {
  __m512 acc[MR][4];
  for (int r = 0; r < MR; r++)
    for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_ps();
  for (int seg = 0; seg < 2; seg++) {
    const float* x = seg ? as : A;
    const int64_t ldx = seg ? ldas : lda, cnt = seg ? ngp : kp;
    for (int64_t p = 0; p < cnt; p += 16, w += 64) {
      __m512 av[MR];
      for (int r = 0; r < MR; r++) av[r] = _mm512_loadu_ps(x + r * ldx + p);
      for (int c = 0; c < 4; c++) {
        const __m512 wv = _mm512_loadu_ps(w + 16 * c);
        for (int r = 0; r < MR; r++) acc[r][c] = _mm512_fmadd_ps(av[r], wv, acc[r][c]);
      }
    }
  }
  for (int r = 0; r < MR; r++) store_cols(C + r * ldc, hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]), ncols);
}

void gemm_groups(const int16_t* A16, int64_t lda16, const float* sx, const float* asum, const uint8_t* W,
                 const float* s, const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp,
                 int64_t group) {
  constexpr int64_t MB = 64, NB = 16;
  const int64_t ng = kp / group, ngp = pad_to(ng, 16), kq = kp + ngp, lda = kp;
  thread_local std::vector<float> wbuf, abuf, fbuf;
  float* wb = scratch(wbuf, NB * kq);
  float* ab = scratch(abuf, MB * ngp);
  float* A = scratch(fbuf, std::min(MB, m) * kp);  // the block's rows widened to f32
  for (int64_t ib = 0; ib < m; ib += MB) {
    const int64_t ie = std::min(ib + MB, m);
    for (int64_t i = ib; i < ie; i++) {
      float* d = ab + (i - ib) * ngp;
      std::copy(asum + i * ng, asum + (i + 1) * ng, d);
      std::fill(d + ng, d + ngp, 0.0f);
      for (int64_t p = 0; p < kp; p += 32) {  // kp is a multiple of 32, a group of 32 at least
        const float sc = sx[i * ng + p / group];
        _mm512_storeu_ps(A + (i - ib) * kp + p, load_a16(A16 + i * lda16 + p, sc));
        _mm512_storeu_ps(A + (i - ib) * kp + p + 16, load_a16(A16 + i * lda16 + p + 16, sc));
      }
    }
    for (int64_t jb = j0; jb < j1; jb += NB) {
      const int64_t je = std::min(jb + NB, j1);
      dequant_groups(W, s, o, jb, j1, (je - jb + 3) / 4, kp, group, ngp, wb);
      int64_t i = ib;
      auto rows = [&](auto mr) {
        for (int64_t j = jb; j < je; j += 4)
          tile<decltype(mr)::value>(A + (i - ib) * lda, lda, ab + (i - ib) * ngp, ngp, wb + (j - jb) * kq, kp, ngp,
                                    C + i * ldc + j, ldc, std::min<int64_t>(4, je - j));
      };
      for (; i + 4 <= ie; i += 4) rows(std::integral_constant<int, 4>());
      switch (ie - i) {
        case 3: rows(std::integral_constant<int, 3>()); break;
        case 2: rows(std::integral_constant<int, 2>()); break;
        case 1: rows(std::integral_constant<int, 1>()); break;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// m >= 16: transposed activations x broadcast weights.

// at[k * ldt + i] = sx[i, k / group] * A[i, k] for k < kp, asum[i, k - kp] for
// kp <= k < kp + ng; rows i >= `rows` (up to ldt, a multiple of 8) are zero.
void transpose_block(const int16_t* A, int64_t lda, const float* sx, const float* asum, int64_t ng, int64_t group,
                     int64_t rows, int64_t kp, int64_t ldt, float* at) {
  for (int64_t i = 0; i < ldt; i += 8) {
    const int64_t nr = rows - i;
    for (int64_t k = 0; k < kp; k += 8) {
      __m256 r[8];
      for (int l = 0; l < 8; l++)
        r[l] = l < nr ? load_a8(A + (i + l) * lda + k, sx[(i + l) * ng + k / group]) : _mm256_setzero_ps();
      const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
      const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
      const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
      const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
      const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* d = at + k * ldt + i;
      _mm256_storeu_ps(d + 0 * ldt, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(d + 1 * ldt, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(d + 2 * ldt, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(d + 3 * ldt, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(d + 4 * ldt, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(d + 5 * ldt, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(d + 6 * ldt, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(d + 7 * ldt, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
  }
  for (int64_t g = 0; g < ng; g++)
    for (int64_t i = 0; i < ldt; i++) at[(kp + g) * ldt + i] = i < rows ? asum[i * ng + g] : 0.0f;
}

// Columns [k0, k1) of the extended weight rows (s*q for k < kp, o[j, k - kp]
// for kp <= k < kp + ng) of rows [jb, jb + nrows), row-major with stride
// k1 - k0; k0 is a multiple of 32. Rows >= j1 are zero (W is read only for
// rows < j1).
void dequant_rows(const uint8_t* W, const float* s, const float* o, int64_t jb, int64_t j1, int64_t nrows,
                  int64_t kp, int64_t group, int64_t k0, int64_t k1, float* dst) {
  const int64_t ng = kp / group, cpg = group / 32, nch = kp / 32, ldw = k1 - k0;
  const int64_t c0 = k0 / 32, c1 = std::min(k1, kp) / 32;
  const __m512 table = nib_table();
  for (int64_t jl = 0; jl < nrows; jl++) {
    const int64_t j = jb + jl;
    float* d = dst + jl * ldw;
    if (j >= j1) {
      std::fill(d, d + ldw, 0.0f);
      continue;
    }
    const float* sr = s + j * ng;
    const uint8_t* wr = W + ((j / 4) * nch + c0) * 64 + (j % 4) * 16;
    for (int64_t c = c0; c < c1; c++, wr += 64, d += 32) {
      const __m512 sv = _mm512_set1_ps(sr[c / cpg]);
      const __m512i x = load16u(wr);
      _mm512_storeu_ps(d, _mm512_mul_ps(lo_f32(x, table), sv));
      _mm512_storeu_ps(d + 16, _mm512_mul_ps(hi_f32(x), sv));
    }
    for (int64_t k = std::max(k0, kp); k < k1; k++) *d++ = o[j * ng + (k - kp)];
  }
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
  constexpr int64_t MB = 64, NB = 96, KB = 512;  // MB a multiple of 32, NB of 12, KB of 32
  const int64_t ng = kp / group, kq = kp + ng;
  thread_local std::vector<float> wbuf, abuf, cbuf;
  float* wb = scratch(wbuf, NB * KB);
  float* at = scratch(abuf, MB * kq);
  float* ct = scratch(cbuf, NB * MB);
  for (int64_t ib = 0; ib < m; ib += MB) {
    const int64_t rows = std::min(MB, m - ib), ldt = pad_to(rows, 16);
    transpose_block(A + ib * lda, lda, sx + ib * ng, asum + ib * ng, ng, group, rows, kp, ldt, at);
    for (int64_t jb = j0; jb < j1; jb += NB) {
      const int64_t cols = std::min(NB, j1 - jb), colsp = pad_to(cols, 12);
      for (int64_t kb = 0; kb < kq; kb += KB) {
        const int64_t ke = std::min(kb + KB, kq), len = ke - kb;
        dequant_rows(W, s, o, jb, j1, colsp, kp, group, kb, ke, wb);
        for (int64_t it = 0; it < ldt; it += 32)
          for (int64_t jt = 0; jt < colsp; jt += 12) {
            const float* a = at + kb * ldt + it;
            if (ldt - it >= 32)
              tile_t<2>(a, ldt, wb + jt * len, len, len, ct + jt * ldt + it, kb > 0);
            else
              tile_t<1>(a, ldt, wb + jt * len, len, len, ct + jt * ldt + it, kb > 0);
          }
      }
      for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) C[(ib + i) * ldc + jb + j] = ct[j * ldt + i];
    }
  }
}

}  // namespace

void gemm_q4_avx512(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W,
                    const float* s, const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                    int64_t kp, int64_t group) {
  if (m < kTileMinRows) gemm_groups(A, lda, sx, asum, W, s, o, C, ldc, m, j0, j1, kp, group);
  else gemm_t(A, lda, sx, asum, W, s, o, C, ldc, m, j0, j1, kp, group);
}

}  // namespace lowbit
