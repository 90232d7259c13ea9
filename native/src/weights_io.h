// Save / load of weights in their stored form: the packed, already quantized
// buffers of a Weight plus the few numbers that describe them, so a quantized
// model can be written to disk and read back without the source checkpoint or
// any recalibration (src/saved/*.ts writes them as safetensors tensors).
//
// Every storage format declares its save layout in its module: the row's
// `buffers` (which buffers a weight of that format owns and their exact byte
// sizes), `meta` / `meta_spec` (its scalar fields of WeightMeta, and their
// checks) and `check_import` (checks beyond sizes). Save and load use only
// those; load rejects any buffer whose size differs. The format's kp / group
// rules come from its `layout` (a one-row template is built to check a file's
// kp and group), its total size from its `bytes` (which the declared buffers
// must add up to). Scalar fields beyond WeightMeta are saved only if added to it.
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
  std::string format;  // "vector" (plain f32 [1, n]) or the row's name: "f32", "bf16", "q8", "q4", "q4a8", "q4_0", "q8_0"
  int64_t rows = 0, cols = 0;
  int64_t kp = 0;     // padded columns of the packed layout (= cols for vectors)
  int64_t group = 0;  // int4: group size along k (= kp per channel); 0 otherwise
  bool asym = false;  // q4: asymmetric groups
  float act_scale = 0;  // q8: static activation scale (0 = per token)
  double amplifier = 0;  // q4a8: Integer Scale amplifier (a power of two), 0 = float scales
};

// Bounds on shapes read from a file, far above any real model, that keep every
// size computation inside 64 bits and the template weight small.
constexpr int64_t kMaxSavedRows = (int64_t)1 << 31;
constexpr int64_t kMaxSavedCols = (int64_t)1 << 20;

// meta_spec of a format without parameters: group, asym and amplifier must be 0.
void plain_meta_spec(const WeightMeta& m, WSpec& s);

WeightMeta weight_meta(const Weight& w);

// The buffers of w's storage format with their exact sizes for w's shape (the
// row's `buffers`). Throws std::invalid_argument for a format that is not saved.
std::vector<WeightBuffer> weight_buffers(const Weight& w);

// Checks a WeightMeta read from a file: the format is known, the shape is sane,
// and kp / group / asym / act_scale are exactly what make_weight produces for
// that format and shape. Returns the buffers a weight with this meta must have
// (their `buf` null). Throws std::invalid_argument naming `name` and the inconsistency.
std::vector<WeightBuffer> check_weight_meta(const std::string& name, const WeightMeta& m);

// The spec a meta describes (its format row and parameters; its row's meta_spec
// checks the format's own fields); throws std::invalid_argument with the reason.
WSpec spec_of_meta(const WeightMeta& m);

// The meta make_weight gives a [rows, cols] weight loaded with `spec`: what a
// saved weight of that format must say. Throws std::invalid_argument for a bad spec.
WeightMeta format_layout(const WSpec& spec, int64_t rows, int64_t cols);

// A weight from its meta and the raw bytes of each buffer (in the order of
// check_weight_meta's list; every size must match exactly).
struct RawBuffer {
  const void* data;
  size_t bytes;
};
std::unique_ptr<Weight> import_weight(const std::string& name, const WeightMeta& m, const std::vector<RawBuffer>& bufs);

}  // namespace lowbit
