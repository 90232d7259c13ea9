// The K-quant format table: one row per type, kernels per instruction set in
// named fields (designated initializers: a GNU extension in C++17 that g++ and
// clang accept; the build does not use -pedantic).
#include <cstring>

#include "formats/kquant.h"
#include "formats/q2_k.h"
#include "formats/q3_k.h"
#include "formats/q4_k.h"
#include "formats/q5_k.h"
#include "formats/q6_k.h"

namespace lowbit {

namespace {
#if defined(__x86_64__)
#define KQ_SIMD(type) .avx2 = {.matmul = matmul_##type##_avx2}, .avx512 = {.matmul = matmul_##type##_avx512},
#else
#define KQ_SIMD(type) .avx2 = {.matmul = matmul_##type##_ref}, .avx512 = {.matmul = matmul_##type##_ref},
#endif

const KQuantFormat kFormats[] = {
    {.name = "q2_k", .ggml_name = "Q2_K", .ggml_type = 10, .block_elems = kQK_K, .block_bytes = sizeof(BlockQ2K),
     .gemm4 = false, .dequantize_row = q2_k_dequantize_row,
     .quantize_row = nullptr, .ref = {.matmul = matmul_q2_k_ref}, KQ_SIMD(q2_k)},
    {.name = "q3_k", .ggml_name = "Q3_K", .ggml_type = 11, .block_elems = kQK_K, .block_bytes = sizeof(BlockQ3K),
     .gemm4 = false, .dequantize_row = q3_k_dequantize_row,
     .quantize_row = nullptr, .ref = {.matmul = matmul_q3_k_ref}, KQ_SIMD(q3_k)},
    {.name = "q4_k", .ggml_name = "Q4_K", .ggml_type = 12, .block_elems = kQK_K, .block_bytes = sizeof(BlockQ4K),
     .gemm4 = true, .dequantize_row = q4_k_dequantize_row,
     .quantize_row = q4_k_quantize_row, .ref = {.matmul = matmul_q4_k_ref}, KQ_SIMD(q4_k)},
    {.name = "q5_k", .ggml_name = "Q5_K", .ggml_type = 13, .block_elems = kQK_K, .block_bytes = sizeof(BlockQ5K),
     .gemm4 = false, .dequantize_row = q5_k_dequantize_row,
     .quantize_row = q5_k_quantize_row, .ref = {.matmul = matmul_q5_k_ref}, KQ_SIMD(q5_k)},
    {.name = "q6_k", .ggml_name = "Q6_K", .ggml_type = 14, .block_elems = kQK_K, .block_bytes = sizeof(BlockQ6K),
     .gemm4 = false, .dequantize_row = q6_k_dequantize_row,
     .quantize_row = q6_k_quantize_row, .ref = {.matmul = matmul_q6_k_ref}, KQ_SIMD(q6_k)},
};
#undef KQ_SIMD
}  // namespace

const KQuantFormat* kquant_format(const char* name) {
  for (const KQuantFormat& f : kFormats)
    if (!std::strcmp(name, f.name) || !std::strcmp(name, f.ggml_name)) return &f;
  return nullptr;
}

const KQuantFormat* kquant_formats(int* count) {
  *count = (int)(sizeof(kFormats) / sizeof(kFormats[0]));
  return kFormats;
}

const KQuantKernels& kquant_kernels(const KQuantFormat& f, const char* variant) {
  if (!std::strcmp(variant, "avx512")) return f.avx512;
  if (!std::strcmp(variant, "avx2")) return f.avx2;
  return f.ref;
}

}  // namespace lowbit
