// Plain scalar reference kernels. Deliberately simple: they define the
// semantics that every SIMD variant is tested against.
#include <cmath>
#include <cstring>

#include "kernels.h"

namespace lowbit {

float f16_to_f32_scalar(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        e++;
        mant <<= 1;
      } while (!(mant & 0x400));
      bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace {

void matmul_f32(const float* A, int64_t lda, const float* W, float* C, int64_t ldc, int64_t m, int64_t j0,
                int64_t j1, int64_t kp) {
  const int64_t ch = chunk_elems(4);
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = j0; j < j1; j++) {
      float s = 0;
      for (int64_t p = 0; p < kp; p++) s += A[i * lda + p] * W[packed_index(j, p, kp, ch)];
      C[i * ldc + j] = s;
    }
}

void matmul_bf16_bf16a(const uint16_t* A, int64_t lda, const uint16_t* W, float* C, int64_t ldc, int64_t m,
                       int64_t j0, int64_t j1, int64_t kp) {
  const int64_t ch = chunk_elems(2);
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = j0; j < j1; j++) {
      float s = 0;
      for (int64_t p = 0; p < kp; p++)
        s += bf16_to_f32_scalar(A[i * lda + p]) * bf16_to_f32_scalar(W[packed_index(j, p, kp, ch)]);
      C[i * ldc + j] = s;
    }
}

float max_f32(const float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

float sumsq_f32(const float* x, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; i++) s += x[i] * x[i];
  return s;
}

void scale_mul_f32(const float* x, float s, const float* w, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * s * w[i];
}

void f32_to_bf16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = f32_to_bf16_scalar(x[i]);
}

void bf16_to_f32(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = bf16_to_f32_scalar(x[i]);
}

void matmul_q8(const int8_t* A, int64_t lda, const float* sa, const int8_t* W, const float* sw, const int32_t*,
               float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp, int32_t* D) {
  const int64_t ch = chunk_elems(1);
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = j0; j < j1; j++) {
      int32_t d = 0;
      for (int64_t p = 0; p < kp; p++) d += (int32_t)A[i * lda + p] * (int32_t)W[packed_index(j, p, kp, ch)];
      if (D)
        D[i * ldc + j] = d;
      else
        C[i * ldc + j] = sa[i] * sw[j] * (float)d;
    }
}

void quantize_q8(const float* x, int64_t k, int64_t kp, int8_t* q, float* s, float fixed) {
  float amax = 0;
  if (!(fixed > 0))
    for (int64_t p = 0; p < k; p++) amax = std::fmax(amax, std::fabs(x[p]));
  const float scale = fixed > 0 ? fixed : amax / 127.0f, inv = scale > 0 ? 1.0f / scale : 0.0f;
  for (int64_t p = 0; p < k; p++) {
    float r = std::nearbyint(x[p] * inv);  // round half to even (default rounding mode)
    q[p] = (int8_t)std::fmax(-127.0f, std::fmin(127.0f, r));
  }
  for (int64_t p = k; p < kp; p++) q[p] = 0;
  *s = scale;
}

}  // namespace

const KernelTable& kernels_ref() {
  static const KernelTable t = {
      .name = "ref",
      .isa = "ref",
      .matmul_f32 = matmul_f32,
      .matmul_bf16_bf16a = matmul_bf16_bf16a,
      .dot_rows_f32 = ggml_dot_rows_ref,
      .attn_pv_f32 = ggml_attn_pv_ref,
      .attn_pv_acc_f32 = ggml_attn_pv_acc_ref,
      .attn_pv_reduce_f32 = ggml_attn_pv_reduce_ref,
      .exp_sum_f32 = ggml_exp_sum_ref,
      .max_f32 = max_f32,
      .sumsq_f32 = sumsq_f32,
      .scale_mul_f32 = scale_mul_f32,
      .silu_mul_f32 = ggml_silu_mul_ref,
      .f32_to_bf16 = f32_to_bf16,
      .bf16_to_f32 = bf16_to_f32,
      .matmul_q8 = matmul_q8,
      .quantize_q8 = quantize_q8,
      .matmul_q4 = matmul_q4_ref,
      .quantize_a16 = quantize_a16_ref,
      .matmul_q4a8 = matmul_q4a8_ref,
      .matmul_q4a8_is = matmul_q4a8_is_ref,
      .quantize_q8_0_act = quantize_q8_0_act_ref,
      .matmul_q4_0 = matmul_q4_0_ref,
      .matmul_q8_0 = matmul_q8_0_ref,
  };
  return t;
}

}  // namespace lowbit
