// llama.cpp's Q4_0 / Q8_0 weight formats (GGUF blocks of 32 weights with one
// f16 scale) in the kernels' packed layout, and activations quantized to Q8_0
// blocks the way llama.cpp's CPU backend does before its integer dot products.
//
// GGUF blocks (ggml-common.h), QK = 32 weights each:
//   Q8_0: f16 d, int8 qs[32];  w[t] = d * qs[t]
//   Q4_0: f16 d, uint8 qs[16]; w[t] = d * ((qs[t] & 15) - 8), w[t + 16] = d * ((qs[t] >> 4) - 8)
//
// Packed layout (both formats, every kernel variant; weights.cc repacks raw
// GGUF blocks into it without changing a bit): rows in groups of 8 (zero rows
// with zero scales pad n to a multiple of 8), k = cols a multiple of 32, nb =
// k / 32 blocks per row.
//   codes:  row group g, block b at ((g * nb + b) * 8 * BB) with BB = the
//           block's code bytes (16 for Q4_0, 32 for Q8_0), as BB / 8 chunks of
//           64 bytes: chunk c holds code bytes [8c, 8c + 8) of the 8 rows, row r
//           at c * 64 + r * 8. The code bytes are GGUF's qs unchanged.
//   scales: f16 bits [n8 / 8][nb][8]: row group g, block b, row r at (g * nb + b) * 8 + r.
// A 64-byte chunk is one zmm (8 rows x 8 bytes) or two ymm (rows 0-3, 4-7); an
// activation chunk of 8 bytes is broadcast to every 64-bit lane, so each lane
// pair (2r, 2r + 1) accumulates row r without horizontal work inside a block.
//
// Activations (quantize_q8_0_act, llama.cpp's AVX2 quantize_row_q8_0): per
// block of 32, amax = max |x|, d = fp16(amax / 127) (round to nearest even),
// id = amax ? 127 / amax : 0 (f32; NOT 1 / d), q = round_half_even(x * id).
//
// Matmul, per output (i, j), with d[b] = f32(d_w[j, b]) * d_a[i, b] (one f32
// product) and blocks in order; each mirrors the kernel llama.cpp's x86 CPU
// backend runs for that weight type, bit for bit given the same activations
// (checked against its libraries: native/bench/ggml_oracle.cc):
//   matmul_q4_0 (llama.cpp's repacked q4_0_8x8 gemv / gemm, AVX2 and AVX-512):
//     acc = 0; for b: sumi = exact int32 dot of the block (codes u - 8)
//                     acc = fmaf((float)sumi, d[b], acc)
//   matmul_q8_0 (llamafile's tinyBLAS_Q0_AVX, and ggml_vec_dot_q8_0_q8_0):
//     eight f32 partial sums, partial l covering bytes [4l, 4l + 4) of every block:
//     s[l] = 0; for b: s[l] = fmaf((float)(exact dot of bytes 4l..4l+3), d[b], s[l])
//     C = ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))
// Every variant here computes exactly this, so SIMD equals the scalar
// reference bit for bit. Activation codes must be in [-127, 127] (the
// quantizer's range; the sign trick cannot negate -128).
//
// f32 ops (ggml_f32_ref.cc, ggml_f32_avx2.cc; the ref / avx2 / avx512 kernel
// tables all use them). Quantizing activations amplifies any rounding
// difference before a matmul (one ulp can move a code, and a code in a block
// with an outlier moves the logits by tenths), so the ops between matmuls
// follow llama.cpp's CPU backend as its AVX2 build computes them, checked
// tensor by tensor against its eval-callback dumps (docs/QUANTIZATION.md):
//   expf(x) (ggml_v_expf): z = fma(x, 0x1.715476p+0, 0x1.8p23), n = z - 0x1.8p23,
//     b = fma(-n, 0x1.7f7d1cp-20, fma(-n, 0x1.62e4p-1, x)), k = 2^n from z's
//     bits, j = fma(fma(fma(c5, b, c4), b*b, fma(c3, b, c2)), b*b, c1 * b),
//     e = fma(j, k, k) (|n| <= 126; beyond, 2^n in two factors);
//   dot_rows (ggml_vec_dot_f32): 32 f32 accumulators p[l], l = i mod 32, FMA
//     in order over the first d & ~31 elements, reduced as b[l] = (p[l] +
//     p[l+16]) + (p[l+8] + p[l+24]), c[l] = b[l] + b[l+4], (c0 + c1) + (c2 + c3);
//     the leftovers as its compiled loop (products added one by one in blocks
//     of 8 then 4, the last 0-3 fused); times scale (one rounding);
//   exp_sum (ggml_vec_soft_max_f32): e = expf(x - max), chunks of 8 (a partial
//     last chunk padded with zeros) summed as ((e0 + e4) + (e2 + e6)) + ((e1 +
//     e5) + (e3 + e7)), the chunk sums added in double;
//   attn_pv: per output dim, partial sums over t = l (mod lanes) by FMA in
//     order; lanes = 8 reduced as the chunks above (tinyBLAS, a batch of
//     queries), lanes = 32 as dot_rows (ggml_vec_dot_f32, one query);
//   silu_mul (ggml_vec_swiglu_f32): (g / (1 + expf(0 - g))) * u, libm's expf
//     for the last n % 8 elements of a row.
#pragma once
#include <cstdint>

namespace lowbit {

constexpr int64_t kQK = 32;        // weights per GGUF block
constexpr int64_t kGgmlRows = 8;   // rows interleaved per row group
constexpr int64_t kQ4_0Block = 18;  // GGUF bytes per block
constexpr int64_t kQ8_0Block = 34;

// Byte offset of code byte t (0 <= t < bb) of (row j, block b) in the packed codes.
inline int64_t ggml_code_offset(int64_t j, int64_t b, int64_t t, int64_t nb, int64_t bb) {
  return ((j / kGgmlRows) * nb + b) * kGgmlRows * bb + (t / 8) * 64 + (j % kGgmlRows) * 8 + t % 8;
}
// Index of (row j, block b) in the packed f16 scales.
inline int64_t ggml_scale_index(int64_t j, int64_t b, int64_t nb) {
  return ((j / kGgmlRows) * nb + b) * kGgmlRows + j % kGgmlRows;
}

// f32 -> f16 bits, round to nearest even (subnormals, overflow to inf, NaN ->
// 0x7e00 with the sign), as ggml's GGML_FP32_TO_FP16 and F16C's vcvtps2ph.
uint16_t f32_to_f16_scalar(float f);

// Kernel signatures (semantics above). A: int8 activation codes [m][lda];
// ad: [m][nb] activation block scales (f16-rounded, as f32); as: [m][nb] sums
// of each activation block's codes (the unsigned-code / offset corrections).
// W: packed codes, wd: packed f16 scales. Columns j in [j0, j1), j0 % 8 == 0.
using GgmlMatmulQ4_0 = void (*)(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, const uint8_t* W,
                                const uint16_t* wd, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                                int64_t k);
using GgmlMatmulQ8_0 = void (*)(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, const int8_t* W,
                                const uint16_t* wd, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1,
                                int64_t k);
// One activation row x[k] (k % 32 == 0) -> q[k], d[k / 32], s[k / 32].
using GgmlQuantizeAct = void (*)(const float* x, int64_t k, int8_t* q, float* d, int32_t* s);

void quantize_q8_0_act_ref(const float* x, int64_t k, int8_t* q, float* d, int32_t* s);
void matmul_q4_0_ref(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, const uint8_t* W,
                     const uint16_t* wd, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t k);
void matmul_q8_0_ref(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, const int8_t* W,
                     const uint16_t* wd, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t k);
// f32 ops with llama.cpp's numerics (semantics above; the KernelTable entries).
float ggml_expf_ref(float x);
void ggml_dot_rows_ref(const float* q, const float* K, int64_t ldk, int64_t nk, int64_t d, float scale, float* out);
double ggml_exp_sum_ref(float* x, int64_t n, float max);
void ggml_attn_pv_ref(const float* p, const float* V, int64_t ldv, int64_t nk, int64_t d, int lanes, float* out);
void ggml_silu_mul_ref(const float* g, const float* u, float* out, int64_t n);
// attn_pv in pieces (a batch of queries sharing V rows, ops.cc): acc adds rows
// t of this call into the lane partials part[lanes][d] at lane (lane0 + t) mod
// lanes (FMA in order, as attn_pv); reduce sums the lanes as attn_pv does. acc
// over consecutive row ranges (lane0 = the rows before) then reduce = attn_pv.
void ggml_attn_pv_acc_ref(const float* p, const float* V, int64_t ldv, int64_t nk, int64_t d, int lanes, int64_t lane0,
                          float* part);
void ggml_attn_pv_reduce_ref(const float* part, int64_t d, int lanes, float* out);
#if defined(__x86_64__)
void ggml_dot_rows_avx2(const float* q, const float* K, int64_t ldk, int64_t nk, int64_t d, float scale, float* out);
double ggml_exp_sum_avx2(float* x, int64_t n, float max);
void ggml_attn_pv_avx2(const float* p, const float* V, int64_t ldv, int64_t nk, int64_t d, int lanes, float* out);
void ggml_silu_mul_avx2(const float* g, const float* u, float* out, int64_t n);
void ggml_attn_pv_acc_avx2(const float* p, const float* V, int64_t ldv, int64_t nk, int64_t d, int lanes, int64_t lane0,
                           float* part);
void ggml_attn_pv_reduce_avx2(const float* part, int64_t d, int lanes, float* out);
void quantize_q8_0_act_avx2(const float* x, int64_t k, int8_t* q, float* d, int32_t* s);
void matmul_q4_0_avx2(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, const uint8_t* W,
                      const uint16_t* wd, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t k);
void matmul_q8_0_avx2(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, const int8_t* W,
                      const uint16_t* wd, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t k);
void matmul_q4_0_avx512(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, const uint8_t* W,
                        const uint16_t* wd, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t k);
void matmul_q8_0_avx512(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, const int8_t* W,
                        const uint16_t* wd, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t k);
#endif

}  // namespace lowbit
