// AVX2 + FMA kernels, the fallback for x86-64 CPUs without AVX-512 BF16.
// Compiled with -mavx2 -mfma -mf16c; called only when CPUID reports them.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "blocked.h"
#include "kernels.h"
#include "x86.h"

namespace lowbit {
namespace {

inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Reusable scratch with a 64-byte aligned start. std::vector only promises 16 bytes: a buffer at
// 16 mod 64 splits every other 32-byte load across two cache lines, which made bf16 prefill 12%
// slower in whichever process (or thread) the allocator happened to give such an address.
inline float* scratch(std::vector<float>& v, int64_t n) {
  if ((int64_t)v.size() < n + 16) v.resize(n + 16);
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(v.data()) + 63) & ~uintptr_t(63));
}

struct LoadF32 {
  using T = float;
  static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
};
struct LoadBF16 {
  using T = uint16_t;
  static __m256 load(const uint16_t* p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
};


// MR activation rows x one packed group (4 output columns), chunks of CH.
// `ncols` (1..4) output columns are stored (the last group may be partial).
// With PF, the weight stream is prefetched 4 chunks (1 KiB) ahead.
template <int MR, int64_t CH, class LA, class LW, bool PF>
void tile(const typename LA::T* A, int64_t lda, const typename LW::T* w, float* C, int64_t ldc, int64_t kp,
          int64_t ncols) {
  __m256 acc[MR][4];
  for (int r = 0; r < MR; r++)
    for (int c = 0; c < 4; c++) acc[r][c] = _mm256_setzero_ps();
  for (int64_t p = 0; p < kp; p += CH, w += 4 * CH) {
    if (PF)
      for (int b = 0; b < 4; b++)
        _mm_prefetch(reinterpret_cast<const char*>(w + 16 * CH) + 64 * b, _MM_HINT_T0);
    for (int64_t q = 0; q < CH; q += 8) {
      __m256 a[MR];
      for (int r = 0; r < MR; r++) a[r] = LA::load(A + r * lda + p + q);
      for (int c = 0; c < 4; c++) {
        __m256 wv = LW::load(w + c * CH + q);
        for (int r = 0; r < MR; r++) acc[r][c] = _mm256_fmadd_ps(a[r], wv, acc[r][c]);
      }
    }
  }
  for (int r = 0; r < MR; r++) {
    store_cols4(C + r * ldc, hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]), ncols);
  }
}

// Blocked driver over a packed matrix: 64-row activation blocks (L2) x 16-column
// weight blocks (L1), 3x4 register tiles; m == 1 streams with prefetch.
template <int64_t CH, class LA, class LW>
void gemm(const typename LA::T* A, int64_t lda, const typename LW::T* W, float* C, int64_t ldc, int64_t m, int64_t j0,
          int64_t j1, int64_t kp) {
  const int64_t gstride = kGroupRows * kp;
  packed_matmul<3>(m, j0, j1, [&](auto mr, auto pf, int64_t i, int64_t j, int64_t nc) {
    tile<decltype(mr)::value, CH, LA, LW, decltype(pf)::value>(A + i * lda, lda, W + (j / 4) * gstride, C + i * ldc + j,
                                                               ldc, kp, nc);
  });
}

void matmul_f32(const float* A, int64_t lda, const float* W, float* C, int64_t ldc, int64_t m, int64_t j0,
                int64_t j1, int64_t kp) {
  gemm<16, LoadF32, LoadF32>(A, lda, W, C, ldc, m, j0, j1, kp);
}

void widen_bf16(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) _mm256_storeu_ps(dst + i, LoadBF16::load(src + i));  // n % 8 == 0
}

// bf16 x bf16 without a bf16 dot instruction: products of bf16 values are exact
// in f32, so widening both sides and using f32 FMA gives the reference
// numerics. Activations are widened once per 64-row block; for m > 1 each
// 16-row weight block is widened once per activation block and reused.
void matmul_bf16_bf16a(const uint16_t* A, int64_t lda, const uint16_t* W, float* C, int64_t ldc, int64_t m,
                       int64_t j0, int64_t j1, int64_t kp) {
  thread_local std::vector<float> abuf_v, wbuf_v;
  constexpr int64_t MB = 64, NB = 16;
  if (m == 1) {
    float* a = scratch(abuf_v, kp);
    widen_bf16(A, a, kp);
    return gemm<32, LoadF32, LoadBF16>(a, kp, W, C, ldc, 1, j0, j1, kp);
  }
  float* abuf = scratch(abuf_v, MB * kp);
  float* wbuf = scratch(wbuf_v, NB * kp);
  for (int64_t ib = 0; ib < m; ib += MB) {
    const int64_t rows = std::min(MB, m - ib);
    for (int64_t r = 0; r < rows; r++) widen_bf16(A + (ib + r) * lda, abuf + r * kp, kp);
    for (int64_t jb = j0; jb < j1; jb += NB) {
      const int64_t cols = std::min(NB, j1 - jb);
      // the groups of this block are contiguous in the packed layout
      widen_bf16(W + (jb / 4) * kGroupRows * kp, wbuf, pad_to(cols, kGroupRows) * kp);
      gemm<32, LoadF32, LoadF32>(abuf, kp, wbuf, C + ib * ldc + jb, ldc, rows, 0, cols, kp);
    }
  }
}

float max_f32(const float* x, int64_t n) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  float buf[8];
  _mm256_storeu_ps(buf, m);
  float r = buf[0];
  for (int j = 1; j < 8; j++) r = buf[j] > r ? buf[j] : r;
  for (; i < n; i++) r = x[i] > r ? x[i] : r;
  return r;
}

float sumsq_f32(const float* x, int64_t n) {
  __m256 s = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    s = _mm256_fmadd_ps(v, v, s);
  }
  float r = hsum8(s);
  for (; i < n; i++) r += x[i] * x[i];
  return r;
}

void scale_mul_f32(const float* x, float s, const float* w, float* y, int64_t n) {
  __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _mm256_loadu_ps(w + i)));
  for (; i < n; i++) y[i] = x[i] * s * w[i];
}

void f32_to_bf16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = f32_to_bf16_scalar(x[i]);
}

void bf16_to_f32(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, LoadBF16::load(x + i));
  for (; i < n; i++) y[i] = bf16_to_f32_scalar(x[i]);
}

}  // namespace

const KernelTable& kernels_avx2() {
  static const KernelTable t = {
      .name = "avx2",
      .isa = "avx2",
      .matmul_f32 = matmul_f32,
      .matmul_bf16_bf16a = matmul_bf16_bf16a,
      .dot_rows_f32 = ggml_dot_rows_avx2,
      .attn_pv_f32 = ggml_attn_pv_avx2,
      .attn_pv_acc_f32 = ggml_attn_pv_acc_avx2,
      .attn_pv_reduce_f32 = ggml_attn_pv_reduce_avx2,
      .exp_sum_f32 = ggml_exp_sum_avx2,
      .max_f32 = max_f32,
      .sumsq_f32 = sumsq_f32,
      .scale_mul_f32 = scale_mul_f32,
      .silu_mul_f32 = ggml_silu_mul_avx2,
      .f32_to_bf16 = f32_to_bf16,
      .bf16_to_f32 = bf16_to_f32,
      .matmul_q8 = matmul_q8_avx2,
      .quantize_q8 = quantize_q8_avx2,
      .matmul_q4 = matmul_q4_avx2,
      .quantize_a16 = quantize_a16_avx2,
      .matmul_q4a8 = matmul_q4a8_avx2,
      .matmul_q4a8_is = matmul_q4a8_is_avx2,
      .quantize_q8_0_act = quantize_q8_0_act_avx2,
      .matmul_q4_0 = matmul_q4_0_avx2,
      .matmul_q8_0 = matmul_q8_0_avx2,
  };
  return t;
}

}  // namespace lowbit
