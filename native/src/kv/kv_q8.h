// The q8_0 KV cache's kernels (llama.cpp's `-ctk q8_0 -ctv q8_0`): each cached
// row of d elements (d % 32 == 0) is d / 32 blocks of llama.cpp's block_q8_0
// layout (34 bytes: the f16 scale, then 32 int8 codes), a quarter of the f32
// cache's bytes plus 1/16. Queries, scores, softmax weights and outputs stay
// f32. One table row per instruction set, picked by the kernel table's isa
// (kv_q8_kernels).
//
// Numerics (every variant computes exactly these, in this order):
//  - store, per block of 32: a = max |x|, s = a / 127 (f32), i = s ? 1 / s : 0,
//    q = x * i rounded to nearest even (|q| <= 127), the scale stored as
//    f16(s) (round to nearest even). d = f32(the stored f16) is what a load
//    multiplies by: x' = d * q.
//  - dot_rows: out[t] = scale * s_t over eight running sums a[l] (l = 0..7) of
//    columns p = 8c + l: a[l] = fma(q[p] * d_b, (float)k[p], a[l]) in increasing
//    p (d_b: the scale of p's block; q[p] * d_b an f32 product), then
//    s = ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)).
//  - attn_pv: out[p] = fma(w[t] * d_{t,b}, (float)v_t[p], out[p]) in increasing
//    t per column p (from the caller's out, so cells can come in pieces).
#pragma once
#include <cstdint>

namespace lowbit {

constexpr int64_t kKvQ8Block = 32;
constexpr int64_t kKvQ8BlockBytes = 34;
// bytes of a cached row of d elements
inline int64_t kv_q8_row_bytes(int64_t d) { return d / kKvQ8Block * kKvQ8BlockBytes; }

struct KvQ8Kernels {
  // y = the n / 32 blocks of x[0:n]
  void (*store)(const float* x, uint8_t* y, int64_t n);
  // y[0:n] = the values of the blocks x
  void (*load)(const uint8_t* x, float* y, int64_t n);
  // out[t] = scale * q[0:d] . K_t, K_t at K + t * ldk bytes, t in [0, nk)
  void (*dot_rows)(const float* q, const uint8_t* K, int64_t ldk, int64_t nk, int64_t d, float scale, float* out);
  // out[0:d] += sum_t w[t] * V_t, V_t at V + t * ldv bytes, t in [0, nk)
  void (*attn_pv)(const float* w, const uint8_t* V, int64_t ldv, int64_t nk, int64_t d, float* out);
};

// The row of a kernel table's isa ("ref", "avx2", "avx512"); ref for an unknown name.
const KvQ8Kernels& kv_q8_kernels(const char* variant);

void kv_q8_store_ref(const float* x, uint8_t* y, int64_t n);
void kv_q8_load_ref(const uint8_t* x, float* y, int64_t n);
void kv_q8_dot_rows_ref(const float* q, const uint8_t* K, int64_t ldk, int64_t nk, int64_t d, float scale, float* out);
void kv_q8_attn_pv_ref(const float* w, const uint8_t* V, int64_t ldv, int64_t nk, int64_t d, float* out);
#if defined(__x86_64__)
void kv_q8_store_avx2(const float* x, uint8_t* y, int64_t n);
void kv_q8_load_avx2(const uint8_t* x, float* y, int64_t n);
void kv_q8_dot_rows_avx2(const float* q, const uint8_t* K, int64_t ldk, int64_t nk, int64_t d, float scale, float* out);
void kv_q8_attn_pv_avx2(const float* w, const uint8_t* V, int64_t ldv, int64_t nk, int64_t d, float* out);
#endif

}  // namespace lowbit
