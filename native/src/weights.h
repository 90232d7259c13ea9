// Weight tensors owned by the native model, stored in a kernel format chosen
// at load (the "repack" step: raw checkpoint bytes -> kernel layout).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "buffer.h"

namespace lowbit {

// Storage formats of weights. Each has an entry in the matmul format table.
enum class WFormat : int { F32 = 0, BF16 = 1 };
// dtypes of raw checkpoint data handed over from JS.
enum class SrcDtype : int { F32 = 0, F16 = 1, BF16 = 2 };

const char* wformat_name(WFormat f);
bool parse_wformat(const std::string& s, WFormat* out);
bool parse_src_dtype(const std::string& s, SrcDtype* out);
size_t src_dtype_size(SrcDtype d);

// A 2-D weight [rows, cols] (row = one output feature); 1-D tensors have rows=1.
struct Weight {
  std::string name;
  WFormat format = WFormat::F32;
  int64_t rows = 0, cols = 0;
  AlignedBuf data;
  size_t bytes() const;
  // Row r widened to f32 into out[cols] (used by the embedding lookup).
  void row_f32(int64_t r, float* out) const;
};

// Converts `count` raw elements to the target format. Throws std::invalid_argument
// on a size mismatch.
std::unique_ptr<Weight> make_weight(const std::string& name, SrcDtype src, const void* data, size_t nbytes,
                                    int64_t rows, int64_t cols, WFormat target);

}  // namespace lowbit
