// Save / load of weights in their stored form: the packed, already quantized
// buffers of a Weight plus the few numbers that describe them, so a quantized
// model can be written to disk and read back without the source checkpoint or
// any recalibration (src/saved/*.ts writes them as safetensors tensors).
//
// Every storage format declares, in weight_buffers() (weights_io.cc), which
// buffers a Weight of that format owns and their exact byte sizes. Save and
// load use only that list; load rejects any buffer whose size differs from it.
// Everything else comes from existing code: the format's name from
// wformat_name(), its kp / group rules from make_weight() (a one-row template
// is built to check a file's kp and group), its total size from Weight::bytes()
// (which the declared buffers must add up to). Scalar fields of Weight beyond
// WeightMeta (act_scale is one) are saved only if added to WeightMeta.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "weights.h"

namespace lowbit {

// The scalar description of a stored weight (everything but the buffers).
struct WeightMeta {
  std::string format;  // "vector" (plain f32 [1, n]) or wformat_name(): "f32", "bf16", "q8", "q4", "q4a8", "q4_0", "q8_0"
  int64_t rows = 0, cols = 0;
  int64_t kp = 0;     // padded columns of the packed layout (= cols for vectors)
  int64_t group = 0;  // q4: group size along k (= kp per channel); 0 otherwise
  bool asym = false;  // q4: asymmetric groups
  float act_scale = 0;  // q8: static activation scale (0 = per token)
  double amplifier = 0;  // q4a8: Integer Scale amplifier (a power of two), 0 = float scales
};

// One buffer of a stored weight.
struct WeightBuffer {
  const char* name;   // "data", "scales", "offsets", "wsum" (tensor name suffix in the file)
  const char* dtype;  // safetensors element type: "F32", "BF16", "F16", "I8", "U8", "I32"
  size_t bytes;       // exact size
  AlignedBuf Weight::*member;
};

WeightMeta weight_meta(const Weight& w);

// The buffers of w's storage format with their exact sizes for w's shape
// (rows, cols, kp, group). THE place a new storage format declares its buffers
// for save/load. Throws std::invalid_argument for a format without a declaration.
std::vector<WeightBuffer> weight_buffers(const Weight& w);

// Checks a WeightMeta read from a file: the format is known, the shape is sane,
// and kp / group / asym / act_scale are exactly what make_weight produces for
// that format and shape. Returns the buffers a weight with this meta must have.
// Throws std::invalid_argument naming `name` and the inconsistency.
std::vector<WeightBuffer> check_weight_meta(const std::string& name, const WeightMeta& m);

// The meta make_weight gives a [rows, cols] weight loaded in `format` ("vector"
// or a parse_wformat string such as "q4-g128-asym"): what a saved weight of
// that format must say. Throws std::invalid_argument for an unknown format.
WeightMeta format_layout(const std::string& format, int64_t rows, int64_t cols);

// A weight from its meta and the raw bytes of each buffer (in the order of
// check_weight_meta's list; every size must match exactly).
struct RawBuffer {
  const void* data;
  size_t bytes;
};
std::unique_ptr<Weight> import_weight(const std::string& name, const WeightMeta& m, const std::vector<RawBuffer>& bufs);

}  // namespace lowbit
