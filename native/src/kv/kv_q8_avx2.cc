// The q8_0 KV kernels with AVX2, FMA and F16C (definition: kv/kv_q8.h).
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/ggml.h"
#include "kernels/kernels.h"
#include "kv/kv_q8.h"

namespace lowbit {

namespace {
inline float scale_of(const uint8_t* block) {
  uint16_t h;
  std::memcpy(&h, block, 2);
  return _cvtsh_ss(h);
}
// 8 int8 codes -> f32
inline __m256 codes8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)p)));
}
// ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))
inline float hsum8(__m256 a) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}
}  // namespace

void kv_q8_store_avx2(const float* x, uint8_t* y, int64_t n) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < n / kKvQ8Block; b++, x += kKvQ8Block, y += kKvQ8BlockBytes) {
    __m256 v[4];
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < 4; j++) {
      v[j] = _mm256_loadu_ps(x + 8 * j);
      m = _mm256_max_ps(m, _mm256_and_ps(v[j], abs_mask));
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float s = _mm_cvtss_f32(h) / 127.0f, inv = s != 0.0f ? 1.0f / s : 0.0f;
    const uint16_t hs = f32_to_f16_scalar(s);
    std::memcpy(y, &hs, 2);
    const __m256 iv = _mm256_set1_ps(inv);
    // nearest even (the default MXCSR rounding of cvtps), packed to int8 in order
    __m256i q[4];
    for (int j = 0; j < 4; j++) q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], iv));
    const __m256i p01 = _mm256_packs_epi32(q[0], q[1]), p23 = _mm256_packs_epi32(q[2], q[3]);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i*)(y + 2), p);
  }
}

void kv_q8_load_avx2(const uint8_t* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kKvQ8Block; b++, x += kKvQ8BlockBytes, y += kKvQ8Block) {
    const __m256 d = _mm256_set1_ps(scale_of(x));
    for (int j = 0; j < 4; j++) _mm256_storeu_ps(y + 8 * j, _mm256_mul_ps(d, codes8(x + 2 + 8 * j)));
  }
}

void kv_q8_dot_rows_avx2(const float* q, const uint8_t* K, int64_t ldk, int64_t nk, int64_t d, float scale, float* out) {
  const int64_t nb = d / kKvQ8Block;
  int64_t t = 0;
  // two rows at a time: two independent FMA chains
  for (; t + 2 <= nk; t += 2) {
    const uint8_t* k0 = K + t * ldk;
    const uint8_t* k1 = k0 + ldk;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* b0 = k0 + b * kKvQ8BlockBytes;
      const uint8_t* b1 = k1 + b * kKvQ8BlockBytes;
      const __m256 d0 = _mm256_set1_ps(scale_of(b0)), d1 = _mm256_set1_ps(scale_of(b1));
      for (int j = 0; j < 4; j++) {
        const __m256 x = _mm256_loadu_ps(q + b * kKvQ8Block + 8 * j);
        a0 = _mm256_fmadd_ps(_mm256_mul_ps(x, d0), codes8(b0 + 2 + 8 * j), a0);
        a1 = _mm256_fmadd_ps(_mm256_mul_ps(x, d1), codes8(b1 + 2 + 8 * j), a1);
      }
    }
    out[t] = scale * hsum8(a0);
    out[t + 1] = scale * hsum8(a1);
  }
  for (; t < nk; t++) {
    const uint8_t* k = K + t * ldk;
    __m256 a = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* bk = k + b * kKvQ8BlockBytes;
      const __m256 db = _mm256_set1_ps(scale_of(bk));
      for (int j = 0; j < 4; j++)
        a = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(q + b * kKvQ8Block + 8 * j), db), codes8(bk + 2 + 8 * j), a);
    }
    out[t] = scale * hsum8(a);
  }
}

void kv_q8_attn_pv_avx2(const float* w, const uint8_t* V, int64_t ldv, int64_t nk, int64_t d, float* out) {
  // one block (32 output columns) in registers while t runs over every row
  for (int64_t b = 0; b < d / kKvQ8Block; b++) {
    float* o = out + b * kKvQ8Block;
    __m256 o0 = _mm256_loadu_ps(o), o1 = _mm256_loadu_ps(o + 8), o2 = _mm256_loadu_ps(o + 16), o3 = _mm256_loadu_ps(o + 24);
    const uint8_t* v = V + b * kKvQ8BlockBytes;
    for (int64_t t = 0; t < nk; t++, v += ldv) {
      const __m256 x = _mm256_set1_ps(w[t] * scale_of(v));
      o0 = _mm256_fmadd_ps(x, codes8(v + 2), o0);
      o1 = _mm256_fmadd_ps(x, codes8(v + 10), o1);
      o2 = _mm256_fmadd_ps(x, codes8(v + 18), o2);
      o3 = _mm256_fmadd_ps(x, codes8(v + 26), o3);
    }
    _mm256_storeu_ps(o, o0);
    _mm256_storeu_ps(o + 8, o1);
    _mm256_storeu_ps(o + 16, o2);
    _mm256_storeu_ps(o + 24, o3);
  }
}

}  // namespace lowbit
