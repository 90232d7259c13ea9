// Scalar reference of the f32 ops with llama.cpp's numerics (attention
// scores, softmax, attention-weighted sums, SwiGLU): every rounding of the
// vector code, one lane at a time. Semantics in ggml.h. Compiled with
// -ffp-contract=off: each f32 operation below is rounded on its own, fusions
// are the explicit std::fma calls.
#include <cmath>
#include <cstring>

#include "ggml.h"

namespace lowbit {

namespace {
inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7))
inline float hsum8(const float* v) {
  const float a0 = v[0] + v[4], a1 = v[1] + v[5], a2 = v[2] + v[6], a3 = v[3] + v[7];
  return (a0 + a2) + (a1 + a3);
}
// 32 partials p[8q + l] (accumulator q, lane l) reduced as ggml_vec_dot_f32
inline float reduce32(const float* p) {
  float b[8];
  for (int l = 0; l < 8; l++) b[l] = (p[l] + p[16 + l]) + (p[8 + l] + p[24 + l]);
  const float c0 = b[0] + b[4], c1 = b[1] + b[5], c2 = b[2] + b[6], c3 = b[3] + b[7];
  return (c0 + c1) + (c2 + c3);
}
}  // namespace

float ggml_expf_ref(float x) {
  const float shifter = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, shifter);  // round(x / ln 2) in the low mantissa bits
  const float n = z - shifter;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));  // x - n ln 2, two parts
  const uint32_t e = bits_of(z) << 23;
  const float k = float_of(e + bits_of(1.0f));  // 2^n
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                           u, 0x1.ffffecp-1f * b);  // e^b - 1
  const float an = std::fabs(n);
  if (!(an > 126.0f)) return std::fma(j, k, k);
  // |n| > 126: 2^n split in two factors (over- and underflow handled by the product)
  const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
  const float s1 = float_of(g + 0x7f000000u), s2 = float_of(e - g);
  if (an > 192.0f) return s1 * s1;
  return std::fma(s2, j, s2) * s1;
}

void ggml_dot_rows_ref(const float* q, const float* K, int64_t ldk, int64_t nk, int64_t d, float scale, float* out) {
  const int64_t np = d & ~int64_t(31);
  for (int64_t t = 0; t < nk; t++) {
    const float* x = K + t * ldk;
    float p[32] = {0};
    for (int64_t i = 0; i < np; i += 32)
      for (int l = 0; l < 32; l++) p[l] = std::fma(x[i + l], q[i + l], p[l]);
    float s = reduce32(p);
    // leftovers, as the prebuilt library's compiled loop: products in blocks
    // of 8, then of 4, added one by one; the last 0-3 fused
    int64_t i = np;
    for (; d - i >= 8; i += 8)
      for (int l = 0; l < 8; l++) {
        const float pr = x[i + l] * q[i + l];
        s = s + pr;
      }
    if (d - i >= 4) {
      for (int l = 0; l < 4; l++) {
        const float pr = x[i + l] * q[i + l];
        s = s + pr;
      }
      i += 4;
    }
    for (; i < d; i++) s = std::fma(x[i], q[i], s);
    out[t] = s * scale;
  }
}

double ggml_exp_sum_ref(float* x, int64_t n, float max) {
  double sum = 0;
  for (int64_t i = 0; i < n; i += 8) {
    float e[8];
    for (int l = 0; l < 8; l++) e[l] = i + l < n ? ggml_expf_ref(x[i + l] - max) : 0.0f;
    for (int l = 0; l < 8 && i + l < n; l++) x[i + l] = e[l];
    sum += (double)hsum8(e);
  }
  return sum;
}

void ggml_attn_pv_ref(const float* p, const float* V, int64_t ldv, int64_t nk, int64_t d, int lanes, float* out) {
  for (int64_t j = 0; j < d; j++) {
    float part[32] = {0};
    for (int64_t t = 0; t < nk; t++) part[t % lanes] = std::fma(p[t], V[t * ldv + j], part[t % lanes]);
    out[j] = lanes == 8 ? hsum8(part) : reduce32(part);
  }
}

void ggml_attn_pv_acc_ref(const float* p, const float* V, int64_t ldv, int64_t nk, int64_t d, int lanes, int64_t lane0,
                          float* part) {
  for (int64_t t = 0; t < nk; t++) {
    float* acc = part + ((lane0 + t) % lanes) * d;
    for (int64_t j = 0; j < d; j++) acc[j] = std::fma(p[t], V[t * ldv + j], acc[j]);
  }
}

void ggml_attn_pv_reduce_ref(const float* part, int64_t d, int lanes, float* out) {
  for (int64_t j = 0; j < d; j++) {
    float lane[32];
    for (int l = 0; l < lanes; l++) lane[l] = part[l * d + j];
    out[j] = lanes == 8 ? hsum8(lane) : reduce32(lane);
  }
}

void ggml_silu_mul_ref(const float* g, const float* u, float* out, int64_t n) {
  const int64_t body = n - n % 8;
  for (int64_t i = 0; i < body; i++) {
    const float e = ggml_expf_ref(0.0f - g[i]);
    out[i] = (g[i] / (1.0f + e)) * u[i];
  }
  for (int64_t i = body; i < n; i++) out[i] = (g[i] / (1.0f + std::exp(-g[i]))) * u[i];
}

}  // namespace lowbit
