// The f16 KV kernels with AVX2, FMA and F16C (definition: kv/kv_f16.h).
#include <immintrin.h>

#include <cmath>

#include "kernels/ggml.h"
#include "kernels/kernels.h"
#include "kv/kv_f16.h"

namespace lowbit {

namespace {
inline __m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p)); }
// ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))
inline float hsum8(__m256 a) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));  // a0+a4 .. a3+a7
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));                                  // (a0+a4)+(a2+a6), (a1+a5)+(a3+a7)
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}
}  // namespace

void kv_f16_store_avx2(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128((__m128i*)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++) y[i] = f32_to_f16_scalar(x[i]);
}

void kv_f16_load_avx2(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, load8(x + i));
  for (; i < n; i++) y[i] = f16_to_f32_scalar(x[i]);
}

void kv_f16_dot_rows_avx2(const float* q, const uint16_t* K, int64_t ldk, int64_t nk, int64_t d, float scale, float* out) {
  const int64_t d8 = d - d % 8;
  int64_t t = 0;
  // four rows at a time: four independent FMA chains
  for (; t + 4 <= nk; t += 4) {
    const uint16_t* k = K + t * ldk;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t p = 0; p < d8; p += 8) {
      const __m256 x = _mm256_loadu_ps(q + p);
      a0 = _mm256_fmadd_ps(x, load8(k + p), a0);
      a1 = _mm256_fmadd_ps(x, load8(k + ldk + p), a1);
      a2 = _mm256_fmadd_ps(x, load8(k + 2 * ldk + p), a2);
      a3 = _mm256_fmadd_ps(x, load8(k + 3 * ldk + p), a3);
    }
    float s[4] = {hsum8(a0), hsum8(a1), hsum8(a2), hsum8(a3)};
    for (int r = 0; r < 4; r++) {
      for (int64_t p = d8; p < d; p++) s[r] = std::fma(q[p], f16_to_f32_scalar(k[r * ldk + p]), s[r]);
      out[t + r] = scale * s[r];
    }
  }
  for (; t < nk; t++) {
    const uint16_t* k = K + t * ldk;
    __m256 a = _mm256_setzero_ps();
    for (int64_t p = 0; p < d8; p += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + p), load8(k + p), a);
    float s = hsum8(a);
    for (int64_t p = d8; p < d; p++) s = std::fma(q[p], f16_to_f32_scalar(k[p]), s);
    out[t] = scale * s;
  }
}

void kv_f16_attn_pv_avx2(const float* w, const uint16_t* V, int64_t ldv, int64_t nk, int64_t d, float* out) {
  int64_t p = 0;
  // 32 output columns in registers while t runs over every row
  for (; p + 32 <= d; p += 32) {
    __m256 o0 = _mm256_loadu_ps(out + p), o1 = _mm256_loadu_ps(out + p + 8), o2 = _mm256_loadu_ps(out + p + 16),
           o3 = _mm256_loadu_ps(out + p + 24);
    for (int64_t t = 0; t < nk; t++) {
      const __m256 x = _mm256_set1_ps(w[t]);
      const uint16_t* v = V + t * ldv + p;
      o0 = _mm256_fmadd_ps(x, load8(v), o0);
      o1 = _mm256_fmadd_ps(x, load8(v + 8), o1);
      o2 = _mm256_fmadd_ps(x, load8(v + 16), o2);
      o3 = _mm256_fmadd_ps(x, load8(v + 24), o3);
    }
    _mm256_storeu_ps(out + p, o0);
    _mm256_storeu_ps(out + p + 8, o1);
    _mm256_storeu_ps(out + p + 16, o2);
    _mm256_storeu_ps(out + p + 24, o3);
  }
  for (; p + 8 <= d; p += 8) {
    __m256 o = _mm256_loadu_ps(out + p);
    for (int64_t t = 0; t < nk; t++) o = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), load8(V + t * ldv + p), o);
    _mm256_storeu_ps(out + p, o);
  }
  for (; p < d; p++) {
    float o = out[p];
    for (int64_t t = 0; t < nk; t++) o = std::fma(w[t], f16_to_f32_scalar(V[t * ldv + p]), o);
    out[p] = o;
  }
}

}  // namespace lowbit
