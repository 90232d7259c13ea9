// The f16 KV cache's kernels (llama.cpp's `-ctk f16 -ctv f16`, its default):
// keys and values stored as IEEE half floats, queries, scores, softmax weights
// and outputs in f32. One table row per instruction set, picked by the
// kernel table's isa (kv_f16_kernels).
//
// Numerics (every variant computes exactly these, in this order):
//  - store: f32 -> f16 round to nearest even (F16C's conversion; the scalar
//    f32_to_f16_scalar of kernels/ggml.h).
//  - dot_rows: out[t] = scale * s_t, s_t = q . K_t over d elements: eight
//    running sums a[l] (l = 0..7) over columns p = 8c + l of the first
//    d - d % 8, each a[l] = fma(q[p], k[p], a[l]) in increasing p; then
//    s = ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)); then the tail
//    columns p >= d - d % 8 in order, s = fma(q[p], k[p], s).
//  - attn_pv: out[p] += sum over t of w[t] * V_t[p], per output column p in
//    increasing t: out[p] = fma(w[t], v[p], out[p]) (from the caller's out:
//    zeros, or the sums of the rows before, so cells can come in pieces).
// llama.cpp rounds the query and the softmax weights to f16 as well (its f16
// matmul's vec_dot_type); lowbit keeps them in f32, so f16 KV here differs
// from f32 KV only by the rounding of the stored keys and values.
#pragma once
#include <cstdint>

namespace lowbit {

struct KvF16Kernels {
  // y[0:n] = f16(x[0:n])
  void (*store)(const float* x, uint16_t* y, int64_t n);
  // y[0:n] = f32(x[0:n])
  void (*load)(const uint16_t* x, float* y, int64_t n);
  // out[t] = scale * q[0:d] . K[t*ldk : t*ldk + d], t in [0, nk)
  void (*dot_rows)(const float* q, const uint16_t* K, int64_t ldk, int64_t nk, int64_t d, float scale, float* out);
  // out[0:d] += sum_t w[t] * V[t*ldv : t*ldv + d], t in [0, nk)
  void (*attn_pv)(const float* w, const uint16_t* V, int64_t ldv, int64_t nk, int64_t d, float* out);
};

// The row of a kernel table's isa ("ref", "avx2", "avx512"); ref for an unknown name.
const KvF16Kernels& kv_f16_kernels(const char* variant);

void kv_f16_store_ref(const float* x, uint16_t* y, int64_t n);
void kv_f16_load_ref(const uint16_t* x, float* y, int64_t n);
void kv_f16_dot_rows_ref(const float* q, const uint16_t* K, int64_t ldk, int64_t nk, int64_t d, float scale, float* out);
void kv_f16_attn_pv_ref(const float* w, const uint16_t* V, int64_t ldv, int64_t nk, int64_t d, float* out);
#if defined(__x86_64__)
void kv_f16_store_avx2(const float* x, uint16_t* y, int64_t n);
void kv_f16_load_avx2(const uint16_t* x, float* y, int64_t n);
void kv_f16_dot_rows_avx2(const float* q, const uint16_t* K, int64_t ldk, int64_t nk, int64_t d, float scale, float* out);
void kv_f16_attn_pv_avx2(const float* w, const uint16_t* V, int64_t ldv, int64_t nk, int64_t d, float* out);
#endif

}  // namespace lowbit
