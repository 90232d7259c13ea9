// AVX2 f32 ops with llama.cpp's numerics (attention scores, softmax,
// attention-weighted sums, SwiGLU). Semantics in ggml.h; bit for bit equal to
// ggml_f32_ref.cc. Compiled with -mavx2 -mfma -mf16c -ffp-contract=off. The
// AVX-512 kernel table uses these too (llama.cpp's AVX2 build is the target).
#include <immintrin.h>

#include <cmath>

#include "ggml.h"

namespace lowbit {

namespace {

inline __m256 expf8(__m256 x) {
  const __m256 shifter = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shifter);
  const __m256 n = _mm256_sub_ps(z, shifter);
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
  const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
  const __m256 an = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
  const __m256 big = _mm256_cmp_ps(an, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 hi = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                                    _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f)));
  const __m256 j = _mm256_fmadd_ps(hi, u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
  const __m256 normal = _mm256_fmadd_ps(j, k, k);
  if (!_mm256_movemask_ps(big)) return normal;
  const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                     _mm256_set1_epi32((int)0x82000000u));
  const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
  const __m256 huge = _mm256_cmp_ps(an, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
  const __m256 scaled = _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1);
  const __m256 r = _mm256_blendv_ps(normal, scaled, big);
  return _mm256_blendv_ps(r, _mm256_mul_ps(s1, s1), huge);
}

// ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7))
inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
// ggml_vec_dot_f32's reduction of its four accumulators
inline float reduce4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  const __m256 x = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3));
  const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  const __m128 t1 = _mm_hadd_ps(t0, t0);
  return _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
}

}  // namespace

void ggml_dot_rows_avx2(const float* q, const float* K, int64_t ldk, int64_t nk, int64_t d, float scale, float* out) {
  const int64_t np = d & ~int64_t(31);
  for (int64_t t = 0; t < nk; t++) {
    const float* x = K + t * ldk;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = 0; i < np; i += 32) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(q + i), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(q + i + 8), a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(q + i + 16), a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(q + i + 24), a3);
    }
    float s = reduce4(a0, a1, a2, a3);
    int64_t i = np;
    for (; d - i >= 8; i += 8) {
      alignas(32) float pr[8];
      _mm256_store_ps(pr, _mm256_mul_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(q + i)));
      for (int l = 0; l < 8; l++) s = s + pr[l];
    }
    if (d - i >= 4) {
      alignas(16) float pr[4];
      _mm_store_ps(pr, _mm_mul_ps(_mm_loadu_ps(x + i), _mm_loadu_ps(q + i)));
      for (int l = 0; l < 4; l++) s = s + pr[l];
      i += 4;
    }
    for (; i < d; i++) s = std::fma(x[i], q[i], s);
    out[t] = s * scale;
  }
}

double ggml_exp_sum_avx2(float* x, int64_t n, float max) {
  const __m256 vmax = _mm256_set1_ps(max);
  double sum = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = expf8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
    _mm256_storeu_ps(x + i, e);
    sum += (double)hsum8(e);
  }
  if (i < n) {  // the last partial chunk: missing lanes are exp(-inf) = 0
    alignas(32) float t[8];
    for (int l = 0; l < 8; l++) t[l] = i + l < n ? x[i + l] : -INFINITY;
    _mm256_store_ps(t, expf8(_mm256_sub_ps(_mm256_load_ps(t), vmax)));
    for (int l = 0; l < 8; l++)
      if (i + l < n) x[i + l] = t[l];
      else t[l] = 0.0f;
    sum += (double)hsum8(_mm256_load_ps(t));
  }
  return sum;
}

void ggml_attn_pv_avx2(const float* p, const float* V, int64_t ldv, int64_t nk, int64_t d, int lanes, float* out) {
  // partial sums of 8 output dims: part[l] = sum over t = l (mod lanes), in order
  alignas(32) float tail[8];
  for (int64_t j = 0; j < d; j += 8) {
    const int64_t w = d - j < 8 ? d - j : 8;
    __m256 part[32];
    for (int l = 0; l < lanes; l++) part[l] = _mm256_setzero_ps();
    auto row = [&](int64_t t) -> __m256 {
      if (w == 8) return _mm256_loadu_ps(V + t * ldv + j);
      for (int c = 0; c < 8; c++) tail[c] = c < w ? V[t * ldv + j + c] : 0.0f;
      return _mm256_load_ps(tail);
    };
    int64_t t = 0;
    for (; t + lanes <= nk; t += lanes)
      for (int l = 0; l < lanes; l++) part[l] = _mm256_fmadd_ps(_mm256_set1_ps(p[t + l]), row(t + l), part[l]);
    for (int l = 0; t + l < nk; l++) part[l] = _mm256_fmadd_ps(_mm256_set1_ps(p[t + l]), row(t + l), part[l]);
    __m256 r;
    if (lanes == 8) {
      r = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(part[0], part[4]), _mm256_add_ps(part[2], part[6])),
                        _mm256_add_ps(_mm256_add_ps(part[1], part[5]), _mm256_add_ps(part[3], part[7])));
    } else {
      __m256 b[8];
      for (int l = 0; l < 8; l++)
        b[l] = _mm256_add_ps(_mm256_add_ps(part[l], part[16 + l]), _mm256_add_ps(part[8 + l], part[24 + l]));
      const __m256 c0 = _mm256_add_ps(b[0], b[4]), c1 = _mm256_add_ps(b[1], b[5]), c2 = _mm256_add_ps(b[2], b[6]),
                   c3 = _mm256_add_ps(b[3], b[7]);
      r = _mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3));
    }
    if (w == 8) {
      _mm256_storeu_ps(out + j, r);
    } else {
      _mm256_store_ps(tail, r);
      for (int c = 0; c < w; c++) out[j + c] = tail[c];
    }
  }
}

void ggml_attn_pv_acc_avx2(const float* p, const float* V, int64_t ldv, int64_t nk, int64_t d, int lanes, int64_t lane0,
                           float* part) {
  const int64_t d8 = d - d % 8;
  if (lanes == 8) {
    // one 8-column slab at a time, its 8 lane accumulators in registers over the rows
    for (int64_t j = 0; j < d8; j += 8) {
      __m256 a[8];
      for (int l = 0; l < 8; l++) a[l] = _mm256_loadu_ps(part + l * d + j);
      int64_t t = 0;
      const int64_t l0 = lane0 % 8;
      // rows until the lane wraps to 0, then whole rounds of 8 with the lanes in registers
      for (; t < nk && (l0 + t) % 8 != 0; t++) {
        const int l = (int)((l0 + t) % 8);
        a[l] = _mm256_fmadd_ps(_mm256_set1_ps(p[t]), _mm256_loadu_ps(V + t * ldv + j), a[l]);
      }
      for (; t + 8 <= nk; t += 8)
        for (int l = 0; l < 8; l++) a[l] = _mm256_fmadd_ps(_mm256_set1_ps(p[t + l]), _mm256_loadu_ps(V + (t + l) * ldv + j), a[l]);
      for (int l = 0; t < nk; t++, l++) a[l] = _mm256_fmadd_ps(_mm256_set1_ps(p[t]), _mm256_loadu_ps(V + t * ldv + j), a[l]);
      for (int l = 0; l < 8; l++) _mm256_storeu_ps(part + l * d + j, a[l]);
    }
  } else {
    for (int64_t t = 0; t < nk; t++) {
      float* acc = part + ((lane0 + t) % lanes) * d;
      const __m256 x = _mm256_set1_ps(p[t]);
      for (int64_t j = 0; j < d8; j += 8)
        _mm256_storeu_ps(acc + j, _mm256_fmadd_ps(x, _mm256_loadu_ps(V + t * ldv + j), _mm256_loadu_ps(acc + j)));
    }
  }
  for (int64_t t = 0; t < nk; t++) {
    float* acc = part + ((lane0 + t) % lanes) * d;
    for (int64_t j = d8; j < d; j++) acc[j] = std::fma(p[t], V[t * ldv + j], acc[j]);
  }
}

void ggml_attn_pv_reduce_avx2(const float* part, int64_t d, int lanes, float* out) {
  const int64_t d8 = d - d % 8;
  for (int64_t j = 0; j < d8; j += 8) {
    auto L = [&](int l) { return _mm256_loadu_ps(part + l * d + j); };
    __m256 r;
    if (lanes == 8) {
      r = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(L(0), L(4)), _mm256_add_ps(L(2), L(6))),
                        _mm256_add_ps(_mm256_add_ps(L(1), L(5)), _mm256_add_ps(L(3), L(7))));
    } else {
      __m256 b[8];
      for (int l = 0; l < 8; l++) b[l] = _mm256_add_ps(_mm256_add_ps(L(l), L(16 + l)), _mm256_add_ps(L(8 + l), L(24 + l)));
      const __m256 c0 = _mm256_add_ps(b[0], b[4]), c1 = _mm256_add_ps(b[1], b[5]), c2 = _mm256_add_ps(b[2], b[6]),
                   c3 = _mm256_add_ps(b[3], b[7]);
      r = _mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3));
    }
    _mm256_storeu_ps(out + j, r);
  }
  for (int64_t j = d8; j < d; j++) {
    float lane[32];
    for (int l = 0; l < lanes; l++) lane[l] = part[l * d + j];
    if (lanes == 8) {
      out[j] = ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
    } else {
      float b[8];
      for (int l = 0; l < 8; l++) b[l] = (lane[l] + lane[16 + l]) + (lane[8 + l] + lane[24 + l]);
      out[j] = ((b[0] + b[4]) + (b[1] + b[5])) + ((b[2] + b[6]) + (b[3] + b[7]));
    }
  }
}

void ggml_silu_mul_avx2(const float* g, const float* u, float* out, int64_t n) {
  const int64_t body = n - n % 8;
  for (int64_t i = 0; i < body; i += 8) {
    const __m256 x = _mm256_loadu_ps(g + i);
    const __m256 e = expf8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), _mm256_loadu_ps(u + i)));
  }
  for (int64_t i = body; i < n; i++) out[i] = (g[i] / (1.0f + std::exp(-g[i]))) * u[i];
}

}  // namespace lowbit
