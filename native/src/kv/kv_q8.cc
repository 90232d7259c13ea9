// The q8_0 KV kernels' scalar reference (the definition in kv/kv_q8.h) and the table.
#include "kv/kv_q8.h"

#include <cmath>
#include <cstring>

#include "kernels/ggml.h"
#include "kernels/kernels.h"

namespace lowbit {

namespace {
inline float scale_of(const uint8_t* block) {
  uint16_t h;
  std::memcpy(&h, block, 2);
  return f16_to_f32_scalar(h);
}
}  // namespace

void kv_q8_store_ref(const float* x, uint8_t* y, int64_t n) {
  for (int64_t b = 0; b < n / kKvQ8Block; b++, x += kKvQ8Block, y += kKvQ8BlockBytes) {
    float a = 0;
    for (int i = 0; i < kKvQ8Block; i++) a = std::fmax(a, std::fabs(x[i]));
    const float s = a / 127.0f, inv = s != 0.0f ? 1.0f / s : 0.0f;
    const uint16_t h = f32_to_f16_scalar(s);
    std::memcpy(y, &h, 2);
    for (int i = 0; i < kKvQ8Block; i++) y[2 + i] = (uint8_t)(int8_t)std::nearbyint(x[i] * inv);
  }
}

void kv_q8_load_ref(const uint8_t* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kKvQ8Block; b++, x += kKvQ8BlockBytes, y += kKvQ8Block) {
    const float d = scale_of(x);
    for (int i = 0; i < kKvQ8Block; i++) y[i] = d * (float)(int8_t)x[2 + i];
  }
}

void kv_q8_dot_rows_ref(const float* q, const uint8_t* K, int64_t ldk, int64_t nk, int64_t d, float scale, float* out) {
  for (int64_t t = 0; t < nk; t++) {
    const uint8_t* k = K + t * ldk;
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t p = 0; p < d; p++) {
      const uint8_t* blk = k + (p / kKvQ8Block) * kKvQ8BlockBytes;
      a[p % 8] = std::fma(q[p] * scale_of(blk), (float)(int8_t)blk[2 + p % kKvQ8Block], a[p % 8]);
    }
    out[t] = scale * (((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7])));
  }
}

void kv_q8_attn_pv_ref(const float* w, const uint8_t* V, int64_t ldv, int64_t nk, int64_t d, float* out) {
  for (int64_t t = 0; t < nk; t++)
    for (int64_t p = 0; p < d; p++) {
      const uint8_t* blk = V + t * ldv + (p / kKvQ8Block) * kKvQ8BlockBytes;
      out[p] = std::fma(w[t] * scale_of(blk), (float)(int8_t)blk[2 + p % kKvQ8Block], out[p]);
    }
}

namespace {
const KvQ8Kernels kRef = {.store = kv_q8_store_ref, .load = kv_q8_load_ref, .dot_rows = kv_q8_dot_rows_ref,
                          .attn_pv = kv_q8_attn_pv_ref};
#if defined(__x86_64__)
// AVX-512 runs the AVX2 code (as the f16 cache's kernels)
const KvQ8Kernels kAvx2 = {.store = kv_q8_store_avx2, .load = kv_q8_load_avx2, .dot_rows = kv_q8_dot_rows_avx2,
                           .attn_pv = kv_q8_attn_pv_avx2};
#endif
}  // namespace

const KvQ8Kernels& kv_q8_kernels(const char* variant) {
#if defined(__x86_64__)
  if (!std::strcmp(variant, "avx2") || !std::strcmp(variant, "avx512")) return kAvx2;
#endif
  (void)variant;
  return kRef;
}

}  // namespace lowbit
