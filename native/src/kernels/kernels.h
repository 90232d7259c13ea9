// Kernel table: one struct of function pointers per instruction-set variant.
// `ref` is the plain scalar reference; SIMD variants must agree with it (tested
// from JS through the test-only addon's runKernel, native/src/addon_kernels.h). The variant is chosen
// at run time from CPUID (registry.cc) or forced by name.
//
// Matmul convention (all formats): C[i, j] = sum_p A[i, p] * W[j, p] for rows
// i in [0, m) and output columns j in [j0, j1) (threads split the j range;
// j0 is a multiple of 4). W is a [n, k] matrix (one row per output feature,
// the PyTorch/GGUF orientation) repacked at load into the *packed layout*:
//
//   rows in groups of 4 (zero rows pad n up to a multiple of 4); each row cut
//   in chunks of CH elements = 64 bytes (CH = 16 for f32, 32 for bf16; zeros
//   pad k up to kp, a multiple of CH); chunk c of the 4 rows of group g is
//   stored contiguously: W[g][c][row 0..3][0..CH).
//
// so a decode step (m = 1) reads every matrix as one sequential stream and a
// register tile sees 4 output rows per cache line group. Activation rows must
// be readable up to kp elements with zeros past k (matmul.cc pads them).
#pragma once
#include <cstdint>

#include "ggml.h"

namespace lowbit {

constexpr int64_t kGroupRows = 4;
constexpr int64_t kChunkBytes = 64;
// Elements per chunk for an element size; k padded to a multiple of it.
constexpr int64_t chunk_elems(int64_t elem_bytes) { return kChunkBytes / elem_bytes; }
constexpr int64_t pad_to(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
// Offset of element (row j, column p) in a packed matrix with kp padded columns.
inline int64_t packed_index(int64_t j, int64_t p, int64_t kp, int64_t ch) {
  return ((j / kGroupRows) * (kp / ch) + p / ch) * kGroupRows * ch + (j % kGroupRows) * ch + p % ch;
}

struct KernelTable {
  const char* name;
  // The instruction set ("ref", "avx2", "avx512") of the kernels kept outside
  // this table that run beside it: the format modules' (kquant_kernels) and the
  // f16 / q8_0 KV caches' (kv_f16_kernels, kv_q8_kernels). amx keeps avx512's.
  const char* isa;

  // C[m, j0:j1] = A[m, kp] . W[j0:j1, kp]^T ; packed f32 weights (CH = 16).
  void (*matmul_f32)(const float* A, int64_t lda, const float* W, float* C, int64_t ldc, int64_t m, int64_t j0,
                     int64_t j1, int64_t kp);
  // packed bf16 weights (CH = 32), bf16 activations, f32 accumulate.
  void (*matmul_bf16_bf16a)(const uint16_t* A, int64_t lda, const uint16_t* W, float* C, int64_t ldc, int64_t m,
                            int64_t j0, int64_t j1, int64_t kp);

  // Attention and SwiGLU compute exactly as llama.cpp's CPU backend (its AVX2
  // build) does, on every variant (kernels/ggml.h, "f32 ops"):
  // out[t] = dot(q[0:d], K[t*ldk : t*ldk+d]) * scale, t in [0, nk), summed in
  // ggml_vec_dot_f32's order
  void (*dot_rows_f32)(const float* q, const float* K, int64_t ldk, int64_t nk, int64_t d, float scale,
                       float* out);
  // out[0:d] = sum_t p[t] * V[t*ldv : t*ldv+d], t in [0, nk), summed in lanes
  // of t mod `lanes` (8: llamafile's tinyBLAS, a batch of queries; 32:
  // ggml_vec_dot_f32, one query)
  void (*attn_pv_f32)(const float* p, const float* V, int64_t ldv, int64_t nk, int64_t d, int lanes, float* out);
  // attn_pv_f32 in pieces over the V rows (kernels/ggml.h): a batch of queries
  // reads each block of V rows once for all of them
  void (*attn_pv_acc_f32)(const float* p, const float* V, int64_t ldv, int64_t nk, int64_t d, int lanes, int64_t lane0,
                          float* part);
  void (*attn_pv_reduce_f32)(const float* part, int64_t d, int lanes, float* out);
  // x[i] = exp(x[i] - max) in place (ggml's vector expf); returns the sum of
  // the results (chunks of 8 summed in f32, the chunk sums in double).
  double (*exp_sum_f32)(float* x, int64_t n, float max);
  float (*max_f32)(const float* x, int64_t n);
  // sum of squares (for RMSNorm)
  float (*sumsq_f32)(const float* x, int64_t n);
  // y[i] = x[i] * s * w[i]
  void (*scale_mul_f32)(const float* x, float s, const float* w, float* y, int64_t n);
  // out[i] = silu(g[i]) * u[i] as ggml_vec_swiglu_f32 over a row of n (the
  // vector expf for i < n - n % 8, libm's expf after)
  void (*silu_mul_f32)(const float* g, const float* u, float* out, int64_t n);
  // round-to-nearest-even conversions
  void (*f32_to_bf16)(const float* x, uint16_t* y, int64_t n);
  void (*bf16_to_f32)(const uint16_t* x, float* y, int64_t n);

  // ---- int8 weights x int8 activations (w8a8) ----
  // W: packed int8 (CH = 64), per-row scale sw[j] and per-row sum wsum[j] of
  // the int8 values (for the u8-offset form of VNNI). A: int8 rows of kp
  // (zeros past k), per-row scale sa[i]. Exact int32 dot products:
  //   C[i, j] = sa[i] * sw[j] * sum_p A[i, p] * W[j, p]
  // With D (int32 partial mode: a row-parallel shard's part of the dot
  // products, summed over the ranks and scaled after): D[i, j] = the int32 dot
  // product itself (leading dimension ldc); sa, sw and C are not read.
  void (*matmul_q8)(const int8_t* A, int64_t lda, const float* sa, const int8_t* W, const float* sw,
                    const int32_t* wsum, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp,
                    int32_t* D);
  // Symmetric per-row int8: s = max|x| / 127 (or the given static scale when
  // fixed > 0), q = clamp(round_half_even(x * (1 / s)), -127, 127), q padded
  // with zeros from k to kp; an all-zero row gives s = 0 and q = 0.
  void (*quantize_q8)(const float* x, int64_t k, int64_t kp, int8_t* q, float* s, float fixed);

  // ---- int4 weights, 16-bit activations (w4a16) ----
  // W: packed int4, CH = 32 elements = 16 bytes per row-chunk, the 4 rows of a
  // group's chunk stored together (64 bytes); in a row-chunk byte b holds
  // element b (low nibble) and element b + 16 (high nibble), q in [0, 15].
  // Group size G (a multiple of 32 dividing kp) along k: per (row j, group g)
  // scale s[j*ng + g] and offset o[j*ng + g], w = s*q + o (symmetric: o = -8s).
  // A: int16 rows of kp (quantize_a16: zeros past k) with one scale per (row
  // i, group g) sx[i*ng + g], so activation i, p is sx[i, g] * A[i, p];
  // asum[i*ng + g] = sx[i, g] * (float)(sum of A[i] over group g). With the
  // exact integer group dot d[i, j, g] = sum_{p in g} q[j, p] * A[i, p]:
  //   C[i, j] = sum_g ( (s[j,g] * sx[i,g]) * (float)d[i,j,g] + o[j,g] * asum[i,g] )
  // (kernels sum d in int32 in blocks of at most 4096 columns: 15 * 32767 *
  // 4096 < 2^31; prefill kernels compute the same sum in f32.)
  void (*matmul_q4)(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W,
                    const float* s, const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                    int64_t kp, int64_t group);
  // One activation row to w4a16 input, per group g of kp / group columns:
  // sx[g] = max|x| over the group's columns < k, divided by 32767;
  // q = clamp(round_half_even(x * (1 / sx[g])), -32767, 32767), zeros from k
  // to kp; asum[g] = sx[g] * (float)(exact sum of the group's q). A group whose
  // max is 0 or so small that 1 / sx overflows gets sx = 0, q = 0, asum = 0.
  void (*quantize_a16)(const float* x, int64_t k, int64_t kp, int64_t group, int16_t* q, float* sx, float* asum);

  // ---- int4 weights x int8 activations (w4a8) ----
  // W: packed int4 exactly as for matmul_q4, symmetric: the weight is
  // s * (q - 8). Scales of the 4 rows of a row group are stored together:
  // s[((j / 4) * ng + g) * 4 + j % 4] (rows padded to a multiple of 4).
  // A: int8 rows of kp (quantize_q8; zeros past k), per-row scale sa[i];
  // isum[i*ng + g] = sum of A[i] over group g. Per group an exact integer dot
  //   d[i, j, g] = sum_{p in g} (q[j, p] - 8) * A[i, p]
  // float scales (w4a8-gG):
  //   C[i, j] = sa[i] * sum_g s[j, g] * (float)d[i, j, g]
  void (*matmul_q4a8)(const int8_t* A, int64_t lda, const float* sa, const int32_t* isum, const uint8_t* W,
                      const float* s, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp,
                      int64_t group);
  // integer scales (w4a8-gG-is): si[] int32 in the same layout as s, and one
  // int-to-float conversion per output:
  //   C[i, j] = (float)(sum_g si[j, g] * d[i, j, g]) * (sa[i] * inv_alpha)
  // The int32 sum is computed with wrapping arithmetic, so it is exact
  // whenever the true sum fits in int32 (the loader picks the amplifier so
  // that it does for every possible int8 activation row: weights.cc).
  void (*matmul_q4a8_is)(const int8_t* A, int64_t lda, const float* sa, const int32_t* isum, const uint8_t* W,
                         const int32_t* si, float inv_alpha, float* C, int64_t ldc, int64_t m, int64_t j0,
                         int64_t j1, int64_t kp, int64_t group);

  // ---- llama.cpp's Q4_0 / Q8_0 weights x activations in Q8_0 blocks ----
  // Layout, activation quantization and the per-block numerics: kernels/ggml.h.
  GgmlQuantizeAct quantize_q8_0_act;
  GgmlMatmulQ4_0 matmul_q4_0;
  GgmlMatmulQ8_0 matmul_q8_0;
};

// The int4 packed layout (matmul_q4 above): byte offset of (row j, column p)
// in a matrix of kp padded columns, and whether p is that byte's high nibble.
inline int64_t q4_byte_index(int64_t j, int64_t p, int64_t kp) {
  return ((j / 4) * (kp / 32) + p / 32) * 64 + (j % 4) * 16 + (p % 32) % 16;
}
inline bool q4_is_high(int64_t p) { return (p % 32) >= 16; }
// Code q in [0, 15] of (row j, column p).
inline int q4_code_at(const uint8_t* W, int64_t j, int64_t p, int64_t kp) {
  const uint8_t byte = W[q4_byte_index(j, p, kp)];
  return q4_is_high(p) ? (byte >> 4) : (byte & 15);
}

// Offset of (row j, group g) in the row-group-major scale layout of w4a8.
inline int64_t q4a8_scale_index(int64_t j, int64_t g, int64_t ng) { return ((j / 4) * ng + g) * 4 + (j % 4); }

// Per-variant int4 kernels live in their own files (kernels/q4_*.cc).
void matmul_q4_ref(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W,
                   const float* s, const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                   int64_t kp, int64_t group);
void quantize_a16_ref(const float* x, int64_t k, int64_t kp, int64_t group, int16_t* q, float* sx, float* asum);
// Largest activation code of w4a16 and the most columns one int32 block of a
// kernel sums: 15 * 32767 * 4096 = 2013216768 < 2^31.
constexpr int32_t kA16Max = 32767;
constexpr int64_t kQ4BlockCols = 4096;
void matmul_q4a8_ref(const int8_t* A, int64_t lda, const float* sa, const int32_t* isum, const uint8_t* W,
                     const float* s, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp,
                     int64_t group);
void matmul_q4a8_is_ref(const int8_t* A, int64_t lda, const float* sa, const int32_t* isum, const uint8_t* W,
                        const int32_t* si, float inv_alpha, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                        int64_t kp, int64_t group);
#if defined(__x86_64__)
// int4 x int8 kernels (kernels/q4a8_*.cc)
void matmul_q4a8_avx2(const int8_t* A, int64_t lda, const float* sa, const int32_t* isum, const uint8_t* W,
                      const float* s, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp,
                      int64_t group);
void matmul_q4a8_is_avx2(const int8_t* A, int64_t lda, const float* sa, const int32_t* isum, const uint8_t* W,
                         const int32_t* si, float inv_alpha, float* C, int64_t ldc, int64_t m, int64_t j0,
                         int64_t j1, int64_t kp, int64_t group);
void matmul_q4a8_avx512(const int8_t* A, int64_t lda, const float* sa, const int32_t* isum, const uint8_t* W,
                        const float* s, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp,
                        int64_t group);
void matmul_q4a8_is_avx512(const int8_t* A, int64_t lda, const float* sa, const int32_t* isum, const uint8_t* W,
                           const int32_t* si, float inv_alpha, float* C, int64_t ldc, int64_t m, int64_t j0,
                           int64_t j1, int64_t kp, int64_t group);
// int8 kernels (kernels/q8_*.cc)
void matmul_q8_avx2(const int8_t* A, int64_t lda, const float* sa, const int8_t* W, const float* sw,
                    const int32_t* wsum, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp,
                    int32_t* D);
void quantize_q8_avx2(const float* x, int64_t k, int64_t kp, int8_t* q, float* s, float fixed);
void matmul_q8_avx512(const int8_t* A, int64_t lda, const float* sa, const int8_t* W, const float* sw,
                      const int32_t* wsum, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp,
                      int32_t* D);
void matmul_q4_avx2(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W,
                    const float* s, const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                    int64_t kp, int64_t group);
void quantize_a16_avx2(const float* x, int64_t k, int64_t kp, int64_t group, int16_t* q, float* sx, float* asum);
// their m >= 5 (prefill) paths, kernels/q4_gemm_*.cc
void gemm_q4_avx2(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W,
                  const float* s, const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp,
                  int64_t group);
void gemm_q4_avx512(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W,
                    const float* s, const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                    int64_t kp, int64_t group);
void matmul_q4_avx512(const int16_t* A, int64_t lda, const float* sx, const float* asum, const uint8_t* W,
                      const float* s, const float* o, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                      int64_t kp, int64_t group);
#endif

const KernelTable& kernels_ref();
#if defined(__x86_64__)
const KernelTable& kernels_avx2();
const KernelTable& kernels_avx512();
// avx512 with AMX prefill matmuls (kernels/amx.cc)
const KernelTable& kernels_amx();
#endif

// Best variant this CPU supports.
const KernelTable& kernels_best();
// Variant by name ("ref", "avx2", "avx512", "amx", "auto"); nullptr if unknown or not
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
