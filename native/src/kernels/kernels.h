// Kernel table: one struct of function pointers per instruction-set variant.
// `ref` is the plain scalar reference; SIMD variants must agree with it (tested
// from JS through the addon's kernel-test entry points). The variant is chosen
// at run time from CPUID (registry.cc) or forced by name.
//
// Matmul convention (all formats): weights W are stored row-major [n_out, k]
// (one row per output feature, the GGUF/PyTorch layout), activations A are
// row-major [m, k], and C[i, j] = sum_k A[i, k] * W[j, k] for rows i in [0, m)
// and output columns j in [j0, j1). Threads split the j range.
#pragma once
#include <cstdint>

namespace lowbit {

struct KernelTable {
  const char* name;

  // C[m, j0:j1] = A[m, k] . W[j0:j1, k]^T ; f32 weights.
  void (*matmul_f32)(const float* A, int64_t lda, const float* W, int64_t ldw, float* C, int64_t ldc,
                     int64_t m, int64_t j0, int64_t j1, int64_t k);
  // bf16 weights, bf16 activations, f32 accumulate (AVX-512 BF16 vdpbf16ps).
  void (*matmul_bf16_bf16a)(const uint16_t* A, int64_t lda, const uint16_t* W, int64_t ldw, float* C,
                            int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t k);

  // out[t] = dot(q[0:d], K[t*ldk : t*ldk+d]) * scale, t in [0, nk)
  void (*dot_rows_f32)(const float* q, const float* K, int64_t ldk, int64_t nk, int64_t d, float scale,
                       float* out);
  // out[0:d] += sum_t w[t] * V[t*ldv : t*ldv+d]
  void (*weighted_sum_f32)(const float* w, const float* V, int64_t ldv, int64_t nk, int64_t d, float* out);
  // x[i] = exp(x[i] - max) in place; returns the sum of the results.
  float (*exp_sum_f32)(float* x, int64_t n, float max);
  float (*max_f32)(const float* x, int64_t n);
  // sum of squares (for RMSNorm)
  float (*sumsq_f32)(const float* x, int64_t n);
  // y[i] = x[i] * s * w[i]
  void (*scale_mul_f32)(const float* x, float s, const float* w, float* y, int64_t n);
  // out[i] = silu(g[i]) * u[i]
  void (*silu_mul_f32)(const float* g, const float* u, float* out, int64_t n);
  // round-to-nearest-even conversions
  void (*f32_to_bf16)(const float* x, uint16_t* y, int64_t n);
  void (*bf16_to_f32)(const uint16_t* x, float* y, int64_t n);
};

const KernelTable& kernels_ref();
#if defined(__x86_64__)
const KernelTable& kernels_avx2();
const KernelTable& kernels_avx512();
#endif

// Best variant this CPU supports.
const KernelTable& kernels_best();
// Variant by name ("ref", "avx2", "avx512", "auto"); nullptr if unknown or not
// supported by this CPU.
const KernelTable* kernels_by_name(const char* name);

// Scalar helpers shared by all variants.
inline float bf16_to_f32_scalar(uint16_t h) {
  union { uint32_t u; float f; } v;
  v.u = (uint32_t)h << 16;
  return v.f;
}
inline uint16_t f32_to_bf16_scalar(float f) {
  union { float f; uint32_t u; } v;
  v.f = f;
  if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40);  // quiet NaN
  v.u += 0x7fffu + ((v.u >> 16) & 1u);
  return (uint16_t)(v.u >> 16);
}
float f16_to_f32_scalar(uint16_t h);

}  // namespace lowbit
