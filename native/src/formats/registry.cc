// The format tables (designated initializers: a GNU extension in C++17 that
// g++ and clang accept; the build does not use -pedantic):
//  - the weight-format table (formats/format.h): one row per storage format,
//    lowbit's own (f32, bf16, q8, q4, q4a8), llama.cpp's Q4_0 / Q8_0, and one
//    row per K-quant type made from the K-quant table;
//  - the K-quant table (formats/kquant.h): one row per GGUF K-quant type,
//    kernels per instruction set in named fields.
#include <cstring>
#include <vector>

#include "formats/bf16.h"
#include "formats/f32.h"
#include "formats/format.h"
#include "formats/ggml_blocks.h"
#include "formats/kquant_weight.h"
#include "formats/q4.h"
#include "formats/q4a8.h"
#include "formats/q8.h"
#include "weights_io.h"

#include "formats/kquant.h"
#include "formats/q2_k.h"
#include "formats/q3_k.h"
#include "formats/q4_k.h"
#include "formats/q5_k.h"
#include "formats/q6_k.h"
// the legacy block-32 and IQ4 types (activations Q8_0 / Q8_1 / Q8_K: .act)
#include "formats/iq4_nl.h"
#include "formats/iq4_xs.h"
#include "formats/q4_1.h"
#include "formats/q5_0.h"
#include "formats/q5_1.h"

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
     .quantize_row = nullptr, .ref = {.matmul = matmul_q2_k_ref}, KQ_SIMD(q2_k) .pack = q2_k_pack,
     .unpack_row = q2_k_unpack_row, .pack_rows = kPackRows},
    {.name = "q3_k", .ggml_name = "Q3_K", .ggml_type = 11, .block_elems = kQK_K, .block_bytes = sizeof(BlockQ3K),
     .gemm4 = false, .dequantize_row = q3_k_dequantize_row,
     .quantize_row = nullptr, .ref = {.matmul = matmul_q3_k_ref}, KQ_SIMD(q3_k) .pack = q3_k_pack,
     .unpack_row = q3_k_unpack_row, .pack_rows = kPackRows},
    {.name = "q4_k", .ggml_name = "Q4_K", .ggml_type = 12, .block_elems = kQK_K, .block_bytes = sizeof(BlockQ4K),
     .gemm4 = true, .dequantize_row = q4_k_dequantize_row,
     .quantize_row = q4_k_quantize_row, .ref = {.matmul = matmul_q4_k_ref}, KQ_SIMD(q4_k) .pack = q4_k_pack,
     .unpack_row = q4_k_unpack_row, .pack_rows = kPackRows},
    {.name = "q5_k", .ggml_name = "Q5_K", .ggml_type = 13, .block_elems = kQK_K, .block_bytes = sizeof(BlockQ5K),
     .gemm4 = false, .dequantize_row = q5_k_dequantize_row,
     .quantize_row = q5_k_quantize_row, .ref = {.matmul = matmul_q5_k_ref}, KQ_SIMD(q5_k)},
    {.name = "q6_k", .ggml_name = "Q6_K", .ggml_type = 14, .block_elems = kQK_K, .block_bytes = sizeof(BlockQ6K),
     .gemm4 = false, .dequantize_row = q6_k_dequantize_row,
     .quantize_row = q6_k_quantize_row, .ref = {.matmul = matmul_q6_k_ref}, KQ_SIMD(q6_k)},
    {.name = "q4_1", .ggml_name = "Q4_1", .ggml_type = 3, .block_elems = 32, .block_bytes = Q4_1Spec::kBytes,
     .gemm4 = false, .dequantize_row = q4_1_dequantize_row, .ref = {.matmul = matmul_q4_1_ref}, KQ_SIMD(q4_1) .act = kActQ8_1,
     .pack = legacy_pack<Q4_1Spec>, .unpack_row = legacy_unpack_row<Q4_1Spec>, .pack_rows = kPackRows},
    {.name = "q5_0", .ggml_name = "Q5_0", .ggml_type = 6, .block_elems = 32, .block_bytes = Q5_0Spec::kBytes,
     .gemm4 = false, .dequantize_row = q5_0_dequantize_row, .ref = {.matmul = matmul_q5_0_ref}, KQ_SIMD(q5_0) .act = kActQ8_0,
     .pack = legacy_pack<Q5_0Spec>, .unpack_row = legacy_unpack_row<Q5_0Spec>, .pack_rows = kPackRows},
    {.name = "q5_1", .ggml_name = "Q5_1", .ggml_type = 7, .block_elems = 32, .block_bytes = Q5_1Spec::kBytes,
     .gemm4 = false, .dequantize_row = q5_1_dequantize_row, .ref = {.matmul = matmul_q5_1_ref}, KQ_SIMD(q5_1) .act = kActQ8_1,
     .pack = legacy_pack<Q5_1Spec>, .unpack_row = legacy_unpack_row<Q5_1Spec>, .pack_rows = kPackRows},
    {.name = "iq4_nl", .ggml_name = "IQ4_NL", .ggml_type = 20, .block_elems = 32, .block_bytes = sizeof(BlockIQ4NL),
     .gemm4 = false, .dequantize_row = iq4_nl_dequantize_row, .ref = {.matmul = matmul_iq4_nl_ref}, KQ_SIMD(iq4_nl) .act = kActQ8_0,
     .pack = iq4_nl_pack, .unpack_row = iq4_nl_unpack_row, .pack_rows = kPackRows},
    {.name = "iq4_xs", .ggml_name = "IQ4_XS", .ggml_type = 23, .block_elems = kQK_K, .block_bytes = sizeof(BlockIQ4XS),
     .gemm4 = false, .dequantize_row = iq4_xs_dequantize_row, .ref = {.matmul = matmul_iq4_xs_ref}, KQ_SIMD(iq4_xs) .act = kActQ8_K,
     .pack = iq4_xs_pack, .unpack_row = iq4_xs_unpack_row, .pack_rows = kPackRows},
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

namespace {
std::unique_ptr<Weight> plain_create() { return std::make_unique<Weight>(); }

const WeightFormat kWeightFormats[] = {
    {.name = "f32", .id = WFormat::F32, .create = plain_create, .check_spec = plain_check_spec, .layout = f32_layout,
     .fill = f32_fill, .bytes = f32_bytes, .row_f32 = f32_row, .buffers = f32_buffers, .meta_spec = plain_meta_spec,
     .meta = nullptr, .check_import = nullptr, .shard = f32_shard, .ops = kF32Ops},
    {.name = "bf16", .id = WFormat::BF16, .create = plain_create, .check_spec = plain_check_spec, .layout = bf16_layout,
     .fill = bf16_fill, .bytes = bf16_bytes, .row_f32 = bf16_row, .buffers = bf16_buffers, .meta_spec = plain_meta_spec,
     .meta = nullptr, .check_import = nullptr, .shard = bf16_shard, .ops = kBF16Ops},
    {.name = "q8", .id = WFormat::Q8, .create = q8_create, .check_spec = plain_check_spec, .layout = q8_layout,
     .fill = q8_fill, .bytes = q8_bytes, .row_f32 = nullptr, .buffers = q8_buffers, .meta_spec = plain_meta_spec,
     .meta = q8_meta, .check_import = q8_check_import, .shard = q8_shard, .ops = kQ8Ops, .same_act = q8_same_act, .static_act_scale = true},
    {.name = "q4", .id = WFormat::Q4, .create = q4_create, .check_spec = q4_check_spec, .layout = q4_layout,
     .fill = q4_fill, .bytes = q4_bytes, .row_f32 = nullptr, .buffers = q4_buffers, .meta_spec = q4_meta_spec,
     .meta = q4_meta, .check_import = nullptr, .shard = q4_shard, .ops = kQ4Ops, .same_act = q4_same_act},
    {.name = "q4a8", .id = WFormat::Q4A8, .create = q4a8_create, .check_spec = q4a8_check_spec, .layout = q4a8_layout,
     .fill = q4a8_fill, .bytes = q4a8_bytes, .row_f32 = nullptr, .buffers = q4a8_buffers, .meta_spec = q4a8_meta_spec,
     .meta = q4a8_meta, .check_import = q4a8_check_import, .shard = q4a8_shard, .ops = kQ4A8Ops, .same_act = q4a8_same_act},
    {.name = "q4_0", .id = WFormat::Q4_0, .create = ggml_blocks_create, .check_spec = plain_check_spec,
     .layout = ggml_blocks_layout, .fill = ggml_blocks_fill, .bytes = ggml_blocks_bytes, .row_f32 = ggml_blocks_row,
     .buffers = ggml_blocks_buffers, .meta_spec = plain_meta_spec, .meta = nullptr, .check_import = nullptr,
     .shard = ggml_blocks_shard, .ops = kGgmlBlockOps},
    {.name = "q8_0", .id = WFormat::Q8_0, .create = ggml_blocks_create, .check_spec = plain_check_spec,
     .layout = ggml_blocks_layout, .fill = ggml_blocks_fill, .bytes = ggml_blocks_bytes, .row_f32 = ggml_blocks_row,
     .buffers = ggml_blocks_buffers, .meta_spec = plain_meta_spec, .meta = nullptr, .check_import = nullptr,
     .shard = ggml_blocks_shard, .ops = kGgmlBlockOps},
};

// The K-quant family's rows: one per K-quant type, all with the family's
// functions (formats/kquant_weight.h). Not saved: no buffers, no meta.
std::vector<WeightFormat> make_kquant_rows() {
  int n = 0;
  const KQuantFormat* kq = kquant_formats(&n);
  std::vector<WeightFormat> rows;
  for (int i = 0; i < n; i++)
    rows.push_back({.name = kq[i].name, .id = WFormat::KQuant, .create = plain_create, .check_spec = plain_check_spec,
                    .layout = kquant_layout, .fill = kquant_fill, .bytes = kquant_bytes, .row_f32 = kquant_row,
                    .buffers = nullptr, .meta_spec = plain_meta_spec, .meta = nullptr, .check_import = nullptr,
                    .ops = kKQuantOps, .same_act = kquant_same_act, .static_act_scale = false, .kq = &kq[i],
                    .stores_source = !kq[i].pack});
  return rows;
}
const std::vector<WeightFormat>& kquant_rows() {
  static const std::vector<WeightFormat> rows = make_kquant_rows();
  return rows;
}
}  // namespace

const WeightFormat* weight_format(const std::string& name) {
  for (const WeightFormat& f : kWeightFormats)
    if (name == f.name) return &f;
  for (const WeightFormat& f : kquant_rows())
    if (name == f.name) return &f;
  return nullptr;
}

const WeightFormat& weight_format(WFormat id) {
  for (const WeightFormat& f : kWeightFormats)
    if (f.id == id) return f;
  throw std::logic_error("weight_format: no single row for this id");
}

const WeightFormat& kquant_weight_format(const KQuantFormat& kq) {
  for (const WeightFormat& f : kquant_rows())
    if (f.kq == &kq) return f;
  throw std::logic_error("kquant_weight_format: not a row of the K-quant table");
}

const KQuantKernels& kquant_kernels(const KQuantFormat& f, const char* variant) {
  if (!std::strcmp(variant, "avx512")) return f.avx512;
  if (!std::strcmp(variant, "avx2")) return f.avx2;
  return f.ref;
}

}  // namespace lowbit
