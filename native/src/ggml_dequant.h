// Dequantization of ggml tensor data (as stored in GGUF files) to f32,
// following ggml's block layouts (ggml-common.h) and dequantize_row_* rules
// (ggml-quants.c), operation for operation so results are bit-identical to
// ggml's scalar reference. docs/GGUF.md ("Dequantization") lists the layouts.
//
// Data is a flat run of blocks; a block of `block_elems` values occupies
// `block_bytes` bytes, little-endian, with no alignment requirement. Element
// order is ggml's: block b holds elements [b * block_elems, (b + 1) * block_elems).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace lowbit {

// ggml_type ids (ggml.h enum ggml_type) of the types dequantized here.
enum GgmlTypeId : int {
  kGgmlF32 = 0,
  kGgmlF16 = 1,
  kGgmlQ4_0 = 2,
  kGgmlQ4_1 = 3,
  kGgmlQ5_0 = 6,
  kGgmlQ5_1 = 7,
  kGgmlQ8_0 = 8,
  kGgmlQ2_K = 10,
  kGgmlQ3_K = 11,
  kGgmlQ4_K = 12,
  kGgmlQ5_K = 13,
  kGgmlQ6_K = 14,
  kGgmlIQ4_NL = 20,
  kGgmlIQ4_XS = 23,
  kGgmlBF16 = 30,
};

struct GgmlBlockLayout {
  int64_t block_elems;  // values per block (1 for F32/F16/BF16, 32, or 256 for the K types and IQ4_XS)
  int64_t block_bytes;  // bytes per block
};

// Layout of a type this module dequantizes; false for any other id.
bool ggml_dequant_layout(int ggml_type, GgmlBlockLayout* out);

// Dequantizes `n` values of type `ggml_type` from `src` (exactly `src_bytes`
// bytes: n / block_elems blocks) into dst[0, n). Returns false, with a message
// in *err when err is not null, for an unsupported type, n < 0, n not a
// multiple of the block size, or src_bytes not the exact size of n values;
// nothing is written then. Plain scalar code, single-threaded.
bool ggml_dequantize(int ggml_type, const void* src, size_t src_bytes, float* dst, int64_t n,
                     std::string* err = nullptr);

}  // namespace lowbit
