// Weight tensors owned by the native model, stored in a format chosen at load
// (the "repack" step: raw checkpoint bytes -> the format's layout). The
// formats are the rows of the format table (formats/format.h), one module
// each; this file is the format-independent part: source dtypes, make_weight
// (a table lookup), and helpers the modules share.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "buffer.h"
#include "formats/format.h"
#include "quantize.h"

namespace lowbit {

// "F32", "F16", "BF16", "Q4_0", "Q8_0"
bool parse_src_dtype(const std::string& s, SrcDtype* out);
// Bytes of a row-major [rows, cols] tensor of this dtype; throws
// std::invalid_argument (naming `name`) when a block dtype's cols is not a
// multiple of 32 or the size overflows.
size_t src_bytes(const std::string& name, SrcDtype d, int64_t rows, int64_t cols);
// Element i of raw checkpoint data as f32 (not for SrcDtype::KQuant).
float src_at(SrcDtype src, const void* data, size_t i);
// Row j of a raw [rows, cols] tensor as f32 into out[cols].
void src_row_f32(SrcDtype src, const void* data, int64_t j, int64_t cols, float* out);

// Whether w's activations are int8 rows with a per-token scale (q8 without a
// static scale, q4a8): tensor parallelism's row-parallel matmuls give them the
// whole row's scale (MatmulScratch::row_scale).
bool int8_per_token_act(const Weight& w);

// check_spec of a format without parameters: no group, asym or amplifier.
const char* plain_check_spec(const WSpec& s);

// A weight of spec's format for [rows, cols], laid out (kp and the format's
// parameters; its shape checks) but without storage.
std::unique_ptr<Weight> layout_weight(const std::string& name, const WSpec& spec, int64_t rows, int64_t cols);

// Converts raw checkpoint data to the target format (its row's layout and
// fill). Throws std::invalid_argument on a size mismatch or an impossible shape.
// source_outlives: `data` stays valid and unchanged for the weight's lifetime
// (a mapped file the model keeps), so a format that stores the source bytes
// unchanged (WeightFormat::stores_source) views them instead of copying.
std::unique_ptr<Weight> make_weight(const std::string& name, SrcDtype src, const void* data, size_t nbytes,
                                    int64_t rows, int64_t cols, const WSpec& target, bool source_outlives = false);

// A bad argument kind (an unknown dtype or format): the N-API wrapper throws
// it as a TypeError; every other std::exception becomes an Error.
struct WeightArgTypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// NativeModel.addWeight without N-API (addon.cc forwards to it after reading
// the typed spec; the fuzz harness native/fuzz/fuzz_make_weight.cc calls it
// directly): parses the dtype ("F32", ...), checks the spec (its row's
// check_spec), validates the byte length against the shape, converts, and
// applies the optional static activation scale (formats that take one: q8).
// Throws WeightArgTypeError or std::invalid_argument.
std::unique_ptr<Weight> make_weight_checked(const std::string& name, const std::string& dtype, const void* data,
                                            size_t nbytes, int64_t rows, int64_t cols, const WSpec& spec,
                                            const double* act_scale = nullptr, bool source_outlives = false);

// Packs a row-major [rows, cols] matrix of T into dst (zeroed, sized
// pad_to(rows, 4) * kp elements) with ch elements per chunk.
template <class T>
void pack_matrix(const T* src, int64_t rows, int64_t cols, T* dst, int64_t kp, int64_t ch) {
  for (int64_t j = 0; j < rows; j++)
    for (int64_t p0 = 0; p0 < cols; p0 += ch) {
      T* d = dst + ((j / 4) * (kp / ch) + p0 / ch) * 4 * ch + (j % 4) * ch;
      for (int64_t q = 0; q < ch && p0 + q < cols; q++) d[q] = src[j * cols + p0 + q];
    }
}

}  // namespace lowbit
