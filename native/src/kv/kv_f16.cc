// The f16 KV kernels' scalar reference (the definition in kv/kv_f16.h) and the table.
#include "kv/kv_f16.h"

#include <cmath>
#include <cstring>

#include "kernels/ggml.h"
#include "kernels/kernels.h"

namespace lowbit {

void kv_f16_store_ref(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = f32_to_f16_scalar(x[i]);
}

void kv_f16_load_ref(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = f16_to_f32_scalar(x[i]);
}

void kv_f16_dot_rows_ref(const float* q, const uint16_t* K, int64_t ldk, int64_t nk, int64_t d, float scale, float* out) {
  const int64_t d8 = d - d % 8;
  for (int64_t t = 0; t < nk; t++) {
    const uint16_t* k = K + t * ldk;
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t p = 0; p < d8; p++) a[p % 8] = std::fma(q[p], f16_to_f32_scalar(k[p]), a[p % 8]);
    float s = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
    for (int64_t p = d8; p < d; p++) s = std::fma(q[p], f16_to_f32_scalar(k[p]), s);
    out[t] = scale * s;
  }
}

void kv_f16_attn_pv_ref(const float* w, const uint16_t* V, int64_t ldv, int64_t nk, int64_t d, float* out) {
  for (int64_t t = 0; t < nk; t++)
    for (int64_t p = 0; p < d; p++) out[p] = std::fma(w[t], f16_to_f32_scalar(V[t * ldv + p]), out[p]);
}

namespace {
const KvF16Kernels kRef = {.store = kv_f16_store_ref, .load = kv_f16_load_ref, .dot_rows = kv_f16_dot_rows_ref,
                           .attn_pv = kv_f16_attn_pv_ref};
#if defined(__x86_64__)
// AVX-512 runs the AVX2 code: the f16 loads are the bound, not the vector width
const KvF16Kernels kAvx2 = {.store = kv_f16_store_avx2, .load = kv_f16_load_avx2, .dot_rows = kv_f16_dot_rows_avx2,
                            .attn_pv = kv_f16_attn_pv_avx2};
#endif
}  // namespace

const KvF16Kernels& kv_f16_kernels(const char* variant) {
#if defined(__x86_64__)
  if (!std::strcmp(variant, "avx2") || !std::strcmp(variant, "avx512")) return kAvx2;
#endif
  (void)variant;
  return kRef;
}

}  // namespace lowbit
