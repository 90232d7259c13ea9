// llama.cpp's K-quant weight formats (super-blocks of 256 weights), run on the
// GGUF blocks as they are in the file, with activations quantized to Q8_K as
// ggml's CPU backend does (the K-quants' vec_dot_type). One module per type
// (formats/q4_k.{h,cc}, formats/q6_k.{h,cc}; SIMD kernels in
// formats/<type>_avx2.cc and formats/<type>_avx512.cc), one table row per type
// (formats/registry.cc).
//
// Storage: the GGUF blocks unchanged, row-major [rows][cols / 256] blocks, so a
// weight takes exactly the file's tensor bytes and each row is one contiguous
// stream; or (KQuantFormat::pack: all but Q5_K, Q6_K) the same bytes
// moved into groups of 16 rows, one row per SIMD lane (each type's header
// states its layout).
//
// Activations (Q8_K, ggml-quants.c quantize_row_q8_K_ref; ggml-cpu's x86
// build uses that reference as its quantize_row_q8_K): per block of 256,
//   max = the first element of largest |x| (signed); all zero: d = 0, q = 0;
//   iscale = -127 / max (f32); q = min(127, round_half_even(iscale * x)) (the
//   product rounded to f32 first); d = 1 / iscale (f32, not f16-rounded);
//   bsums[g] = sum of the codes of elements [16g, 16g + 16).
// For a type that llama.cpp repacks (KQuantFormat::gemm4: Q4_K), the tokens
// of whole groups of 4 (i < m - m % 4) go through its 4-row quantizer
// (ggml_quantize_mat_q8_K_4x8, AVX2), which differs only when +max and -max
// both occur in a block: it then takes +max (the reference, the first); the
// rest through the reference. lowbit does the same (ties_positive); in a fused
// matmul mixing types, the first weight's type decides.
//
// Buffer of prepared activations for m rows of k (kquant_act_bytes): int8
// codes [m][k], then (64-byte aligned) f32 d [m][k / 256], then int16 bsums
// [m][k / 16], then int16 32-sums bsp [m][k / 32] (bsums[2s] + bsums[2s + 1]:
// the sums the sub-block mins of Q4_K / Q5_K multiply).
//
// The legacy block-32 types run in this table too (KQuantFormat::act): their
// activations are llama.cpp's vec_dot_type for them, Q8_0 (Q5_0, IQ4_NL) or
// Q8_1 (Q4_1, Q5_1), as its AVX2 quantize_row_q8_0 / quantize_row_q8_1 (and
// ggml_quantize_mat_q8_0_4x8, which gives the same blocks): per block of 32,
//   amax = max |x|; d = amax / 127 (f32); codes round_half_even(x * id) with
//   id = amax ? 127 / amax : 0 (f32; not 1 / d); stored d = fp16(d);
//   Q8_1 also s = fp16(d * sum of the codes) (d the f32 value, before fp16).
// Buffer (kquant_act_bytes(f, m, k)): int8 codes [m][k], then (64-byte
// aligned) f32 fp16-valued d [m][k / 32], then f32 fp16-valued s [m][k / 32];
// KAct::d and KAct::s point at them, one value per block of 32.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lowbit {

constexpr int64_t kQK_K = 256;  // weights per K-quant super-block

// Q8_K activations of m rows of k (k % 256 == 0): row i's codes at q + i * k,
// its block scales at d + i * (k / 256), its 16-sums at bsums + i * (k / 16).
struct KAct {
  const int8_t* q;
  const float* d;
  const int16_t* bsums;
  int64_t k;
  const int16_t* bsp;  // row i's 32-sums at bsp + i * (k / 32)
  const float* s = nullptr;  // Q8_1 (act = kActQ8_1): row i's block sums d * sum(codes) at s + i * (k / 32)
};

// The activation type a format's kernels take (ggml's vec_dot_type).
enum KActType : int { kActQ8_K = 0, kActQ8_0 = 1, kActQ8_1 = 2 };

size_t kquant_act_bytes(int64_t m, int64_t k);
// Views into a buffer of kquant_act_bytes(m, k).
KAct kquant_act_view(const void* buf, int64_t m, int64_t k);
// Quantizes rows [r0, r1) of A (lda floats apart) into the buffer (gemm4: the
// tie rule of llama.cpp's 4-row quantizer for rows < m - m % 4).
void kquant_prepare(const float* A, int64_t lda, int64_t m, int64_t k, int64_t r0, int64_t r1, void* buf, bool gemm4);
// bsp[s] = bsums[2s] + bsums[2s + 1] for the k / 32 sub-blocks of a row.
void kquant_pair_sums(const int16_t* bsums, int64_t k, int16_t* bsp);
// One row x[k] -> codes q[k], d[k / 256], bsums[k / 16] (the definition above;
// ties_positive: +max wins a tie of magnitudes).
void quantize_row_q8_K(const float* x, int64_t k, int8_t* q, float* d, int16_t* bsums, bool ties_positive = false);
// One row x[k] (k % 32 == 0) -> Q8_1 codes q[k], d[k / 32] and s[k / 32] (fp16 values as f32; the definition above).
void quantize_row_q8_1(const float* x, int64_t k, int8_t* q, float* d, float* s,
                       void (*q8_0)(const float*, int64_t, int8_t*, float*, int32_t*) = nullptr);

// C[i, j] for tokens i in [0, m) and weight rows j in [j0, j1): W holds the
// weight's rows of `row_bytes` (cols / 256 blocks each); C has ldc floats per
// token. The per-output arithmetic is the format's (its header).
using KMatmul = void (*)(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                         int64_t j0, int64_t j1);
// The function type of a KMatmul, to declare a format module's kernels in its
// header: KQ_DECLARE_MATMULS(q4_k) declares matmul_q4_k_ref and, on x86,
// matmul_q4_k_avx2 and matmul_q4_k_avx512.
using KMatmulFn = void(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                       int64_t j1);
#if defined(__x86_64__)
#define KQ_DECLARE_MATMULS(type) KMatmulFn matmul_##type##_ref, matmul_##type##_avx2, matmul_##type##_avx512
#else
#define KQ_DECLARE_MATMULS(type) KMatmulFn matmul_##type##_ref
#endif
// Row r of the weight (cols values) -> f32, as ggml's dequantize_row_<type>.
using KDequantRow = void (*)(const uint8_t* row, int64_t cols, float* out);
// x[k] (k % 256 == 0) -> k / 256 GGUF blocks, as ggml's quantize_row_<type>_ref.
using KQuantizeRow = void (*)(const float* x, int64_t k, uint8_t* out);

// A format whose kernels take its blocks in a packed layout of row groups
// (Q4_K: q4_k.h) names it: pack(rows, n, row_bytes, out) moves n GGUF rows
// into kquant_storage_bytes(f, n, row_bytes) bytes, unpack_row(packed, j,
// row_bytes, row) gives row j back; pack_rows rows per group (the last group
// zero-padded; column ranges given to the matmul start at a multiple of it).
using KPack = void (*)(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out);
using KUnpackRow = void (*)(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row);

// The kernels of one instruction-set variant of a format.
struct KQuantKernels {
  KMatmul matmul;
};

// One row of the format table (formats/registry.cc).
struct KQuantFormat {
  const char* name;       // lowbit's native format name ("q4_k")
  const char* ggml_name;  // GGUF type name ("Q4_K")
  int ggml_type;          // ggml_type id
  int64_t block_elems;    // 256 (32 for the block-32 types)
  int64_t block_bytes;    // GGUF bytes per block
  // llama.cpp repacks this type on x86 and runs whole groups of 4 tokens as a
  // GEMM (its own summation order and activation tie rule; the kernels' tile
  // of 4 tokens reproduces it), the other tokens as a GEMV
  bool gemm4;
  KDequantRow dequantize_row;
  KQuantizeRow quantize_row;  // nullptr: lowbit does not write this type
  KQuantKernels ref, avx2, avx512;
  KActType act = kActQ8_K;  // activations: Q8_K (the K-quants, IQ4_XS; the default), Q8_0 or Q8_1 (block-32 types)
  KPack pack = nullptr;     // nullptr: the kernels take the GGUF rows as they are
  KUnpackRow unpack_row = nullptr;
  int64_t pack_rows = 1;
};

// Bytes of n rows in the format's storage (GGUF rows, or pack's groups), and
// the storage of n GGUF rows (a copy, or pack).
size_t kquant_storage_bytes(const KQuantFormat& f, int64_t n, int64_t row_bytes);
void kquant_store(const KQuantFormat& f, const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out);

// The activation buffer, its view and its preparation for the format's act
// type (Q8_K: the functions above with f.gemm4's tie rule).
size_t kquant_act_bytes(const KQuantFormat& f, int64_t m, int64_t k);
KAct kquant_act_view(const KQuantFormat& f, const void* buf, int64_t m, int64_t k);
// (q8_0: the Q8_0 quantizer to use, the kernel table's SIMD one; every variant gives the reference's bits)
void kquant_prepare(const KQuantFormat& f, const float* A, int64_t lda, int64_t m, int64_t k, int64_t r0, int64_t r1,
                    void* buf, void (*q8_0)(const float*, int64_t, int8_t*, float*, int32_t*) = nullptr);

// The table: the row named `name` (native format name or GGUF type name), or nullptr.
const KQuantFormat* kquant_format(const char* name);
// Every row, `count` of them.
const KQuantFormat* kquant_formats(int* count);
// The kernels of `f` for a kernel table's isa ("ref", "avx2", "avx512").
const KQuantKernels& kquant_kernels(const KQuantFormat& f, const char* variant);

// The scalar references' final sum of their eight f32 lanes, in the order of
// llama.cpp's AVX2 hsum_float_8 (kq_hsum8_f32 in kquant_x86.h).
inline float kq_lanes8_sum(const float acc[8]) {
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// f16 bits (little-endian, possibly unaligned) -> f32
inline uint16_t kq_read_u16(const uint8_t* p) { return (uint16_t)(p[0] | (p[1] << 8)); }

}  // namespace lowbit
