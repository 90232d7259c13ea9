// AVX-512 kernels (F/BW/VL/DQ + BF16). This file is compiled with AVX-512 flags
// and only ever called after CPUID says the CPU has them (registry.cc).
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "blocked.h"
#include "kernels.h"
#include "x86.h"

namespace lowbit {
namespace {

inline __mmask16 tail16(int64_t r) { return (__mmask16)((1u << r) - 1u); }

// Sums of 4 vectors -> one __m128 {sum(a), sum(b), sum(c), sum(d)}.
inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
  __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), _mm512_extractf32x8_ps(b, 1));
  __m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c), _mm512_extractf32x8_ps(c, 1));
  __m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d), _mm512_extractf32x8_ps(d, 1));
  __m256 ab = _mm256_hadd_ps(a8, b8);
  __m256 cd = _mm256_hadd_ps(c8, d8);
  __m256 abcd = _mm256_hadd_ps(ab, cd);
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// One 64-byte chunk of a packed weight row times the matching activations,
// accumulated into 16 f32 lanes. F32: 16 floats. BF16: 32 bf16 pairs (vdpbf16ps).
struct ChunkF32 {
  using T = float;
  static constexpr int64_t CH = 16;
  using Act = __m512;
  static Act load_a(const float* a) { return _mm512_loadu_ps(a); }
  static __m512 fma_a(__m512 acc, Act a, const float* w) { return _mm512_fmadd_ps(a, _mm512_loadu_ps(w), acc); }
};
struct ChunkBF16 {
  using T = uint16_t;
  static constexpr int64_t CH = 32;
  using Act = __m512i;
  static Act load_a(const uint16_t* a) { return _mm512_loadu_si512((const void*)a); }
  static __m512 fma_a(__m512 acc, Act a, const uint16_t* w) {
    return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)_mm512_loadu_si512((const void*)w));
  }
};

// MR activation rows x one packed group (4 output columns); `ncols` (1..4) of
// them stored. With PF the weight stream is prefetched 4 chunks (1 KiB) ahead.
template <int MR, class K, bool PF>
void tile(const typename K::T* A, int64_t lda, const typename K::T* w, float* C, int64_t ldc, int64_t kp,
          int64_t ncols) {
  constexpr int64_t CH = K::CH;
  __m512 acc[MR][4];
  for (int r = 0; r < MR; r++)
    for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kp; p += CH, w += 4 * CH) {
    if (PF)
      for (int b = 0; b < 4; b++) _mm_prefetch(reinterpret_cast<const char*>(w + 16 * CH) + 64 * b, _MM_HINT_T0);
    typename K::Act a[MR];
    for (int r = 0; r < MR; r++) a[r] = K::load_a(A + r * lda + p);
    for (int c = 0; c < 4; c++)
      for (int r = 0; r < MR; r++) acc[r][c] = K::fma_a(acc[r][c], a[r], w + c * CH);
  }
  for (int r = 0; r < MR; r++) {
    store_cols4(C + r * ldc, hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]), ncols);
  }
}

// 64-row activation blocks x 16-column weight blocks, 4x4 register tiles;
// m == 1 streams the packed matrix with prefetch.
template <class K>
void gemm(const typename K::T* A, int64_t lda, const typename K::T* W, float* C, int64_t ldc, int64_t m, int64_t j0,
          int64_t j1, int64_t kp) {
  const int64_t gstride = kGroupRows * kp;
  packed_matmul<4>(m, j0, j1, [&](auto mr, auto pf, int64_t i, int64_t j, int64_t nc) {
    tile<decltype(mr)::value, K, decltype(pf)::value>(A + i * lda, lda, W + (j / 4) * gstride, C + i * ldc + j, ldc, kp,
                                                      nc);
  });
}

void matmul_f32(const float* A, int64_t lda, const float* W, float* C, int64_t ldc, int64_t m, int64_t j0,
                int64_t j1, int64_t kp) {
  gemm<ChunkF32>(A, lda, W, C, ldc, m, j0, j1, kp);
}

void matmul_bf16_bf16a(const uint16_t* A, int64_t lda, const uint16_t* W, float* C, int64_t ldc, int64_t m,
                       int64_t j0, int64_t j1, int64_t kp) {
  gemm<ChunkBF16>(A, lda, W, C, ldc, m, j0, j1, kp);
}

float max_f32(const float* x, int64_t n) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
  if (i < n) m = _mm512_mask_max_ps(m, tail16(n - i), m, _mm512_maskz_loadu_ps(tail16(n - i), x + i));
  return _mm512_reduce_max_ps(m);
}

float sumsq_f32(const float* x, int64_t n) {
  __m512 s = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i);
    s = _mm512_fmadd_ps(v, v, s);
  }
  if (i < n) {
    __m512 v = _mm512_maskz_loadu_ps(tail16(n - i), x + i);
    s = _mm512_fmadd_ps(v, v, s);
  }
  return _mm512_reduce_add_ps(s);
}

void scale_mul_f32(const float* x, float s, const float* w, float* y, int64_t n) {
  __m512 vs = _mm512_set1_ps(s);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), vs), _mm512_loadu_ps(w + i)));
  if (i < n) {
    __mmask16 m = tail16(n - i);
    _mm512_mask_storeu_ps(
        y + i, m, _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vs), _mm512_maskz_loadu_ps(m, w + i)));
  }
}

// Integer round-to-nearest-even (not vcvtneps2bf16, which flushes subnormal
// inputs to zero): bit-identical to the scalar reference, NaN stays quiet NaN.
void f32_to_bf16(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
  for (; i + 16 <= n; i += 16) {
    __m512i u = _mm512_castps_si512(_mm512_loadu_ps(x + i));
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)), 16);
    __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, abs_mask), inf);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40)));
    _mm256_storeu_si256((__m256i*)(y + i), _mm512_cvtepi32_epi16(r));
  }
  for (; i < n; i++) y[i] = f32_to_bf16_scalar(x[i]);
}

void bf16_to_f32(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_slli_epi32(
                                _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(x + i))), 16)));
  for (; i < n; i++) y[i] = bf16_to_f32_scalar(x[i]);
}

}  // namespace

// The AVX2 table (the f32 ops of ggml.h, which compute exactly as llama.cpp's
// AVX2 build on every variant, and the activation quantizers) with the kernels
// this instruction set replaces.
const KernelTable& kernels_avx512() {
  static const KernelTable t = [] {
    KernelTable k = kernels_avx2();
    k.name = k.isa = "avx512";
    // this file's packed f32 / bf16 matmuls and vector helpers
    k.matmul_f32 = matmul_f32, k.matmul_bf16_bf16a = matmul_bf16_bf16a;
    k.max_f32 = max_f32, k.sumsq_f32 = sumsq_f32, k.scale_mul_f32 = scale_mul_f32;
    k.f32_to_bf16 = f32_to_bf16, k.bf16_to_f32 = bf16_to_f32;
    // the integer matmuls on VNNI (q8_avx512.cc, q4_avx512.cc, q4a8_avx512.cc, ggml_avx512.cc)
    k.matmul_q8 = matmul_q8_avx512, k.matmul_q4 = matmul_q4_avx512;
    k.matmul_q4a8 = matmul_q4a8_avx512, k.matmul_q4a8_is = matmul_q4a8_is_avx512;
    k.matmul_q4_0 = matmul_q4_0_avx512, k.matmul_q8_0 = matmul_q8_0_avx512;
    return k;
  }();
  return t;
}

}  // namespace lowbit
