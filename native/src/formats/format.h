// The weight-format table: one row per storage format, every format a module
// (native/src/formats/<format>.{h,cc}) that owns its storage struct, its
// packing, its activation preparation, its save layout and its row here; the
// rows are registered by name in formats/registry.cc with designated
// initializers. lowbit's own formats (f32, bf16, q8, q4, q4a8) and llama.cpp's
// Q4_0 / Q8_0 have one row each; the K-quant family (formats/kquant.h: Q4_K,
// Q6_K, ..., the legacy block-32 and IQ4 types) one row per type, sharing the
// family's functions, its type in WeightFormat::kq.
//
// A Weight is a small common header (name, format row, shape, padded columns,
// the main code buffer); a format whose storage needs more (scales, sums,
// group size, amplifier) derives its own struct from it (Q8Weight, Q4Weight,
// ...) and creates it in WeightFormat::create. Only the format's module reads
// those fields.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "buffer.h"
#include "formats/kquant.h"

namespace lowbit {

struct KernelTable;
struct Weight;
struct WeightFormat;
struct WeightMeta;
struct WeightShard;

// Format ids (graph.cc asks which kind of matrix an embedding is). The K-quant
// family shares KQuant; its rows differ in WeightFormat::kq.
enum class WFormat : int { F32 = 0, BF16 = 1, Q8 = 2, Q4 = 3, Q4A8 = 4, Q4_0 = 5, Q8_0 = 6, KQuant = 7 };
// dtypes of raw checkpoint data handed over from JS; Q4_0 / Q8_0 are raw GGUF
// blocks (rows of cols / 32 blocks); KQuant: raw GGUF blocks of a K-quant type
// (rows of cols / block_elems blocks), the type given by the target format's kq.
enum class SrcDtype : int { F32 = 0, F16 = 1, BF16 = 2, Q4_0 = 3, Q8_0 = 4, KQuant = 5 };

// A typed storage spec: the format row plus its parameters, each a separate
// field (the N-API boundary reads them from a JS object: addon_io.cc
// spec_from_js; a saved file's meta: weights_io.cc). Only int4 formats read
// group / asym, only q4a8 iscale / amp.
// A chosen int4 grid (GPTQ / AWQ, gptq.h): per (row, group) scale s and
// offset o, row-major [rows][kp / group] as quantize_row_q4 writes them
// (w4a8: the float scales; the offsets are -8 s). n: elements of each.
struct Q4Grid {
  const float* s = nullptr;
  const float* o = nullptr;
  size_t n = 0;
};

struct WSpec {
  const WeightFormat* format = nullptr;  // nullptr: f32
  bool matrix = true;                    // false: a plain f32 vector [1, n] ("vector": norm weights, biases)
  int64_t group = 0;                     // int4: group size along k (0 = per channel)
  bool asym = false;                     // q4: asymmetric groups
  // q4a8 integer scales: amplifier request (kAmpHeuristic, kAmpMax or a fixed
  // power of two); iscale false = float scales
  bool iscale = false;
  double amp = 0;
  float act_scale = 0;  // formats with static_act_scale (q8): the calibrated activation scale (0 = per token)
  const Q4Grid* grid = nullptr;  // q4 / q4a8: codes rounded on this grid instead of each group's RTN grid
  // q8: each row's max |w| over the whole row, [rows] (a row-parallel shard holds some of its
  // columns; its scale must be the whole row's, as one process has it)
  const float* row_amax = nullptr;
};

// One buffer of a stored weight (save layout): the tensor name suffix in the
// file, its safetensors element type, its exact size, and where it lives in
// the weight (nullptr where the list only describes a layout).
struct WeightBuffer {
  const char* name;   // "data", "scales", "offsets", "wsum", "iscales"
  const char* dtype;  // "F32", "BF16", "F16", "I8", "U8", "I32"
  size_t bytes;
  AlignedBuf* buf;
};

// The common header of a stored weight [rows, cols] (row = one output feature).
struct Weight {
  std::string name;
  const WeightFormat* fmt = nullptr;
  WFormat format = WFormat::F32;  // fmt->id
  bool matrix = true;
  int64_t rows = 0, cols = 0;
  int64_t kp = 0;  // padded columns of the packed layout (= cols for vectors and GGUF-block formats)
  AlignedBuf data;  // the codes / values in the format's layout
  virtual ~Weight() = default;
  size_t bytes() const;
  // Row r widened to f32 into out[cols] (used by the embedding lookup).
  void row_f32(int64_t r, float* out) const;
  bool ggml() const { return format == WFormat::Q4_0 || format == WFormat::Q8_0; }
};

// Activation preparation + kernel of a format (matmul.cc calls them). Kernels
// read activation rows of kp elements (zeros past k): `prepare` writes them when
// the format needs converted or padded activations; otherwise the kernel reads
// A in place. `w` is the first weight of a (possibly fused) matmul: all share
// format, k and the activation parameters (WeightFormat::same_act).
struct FormatOps {
  // bytes of prepared activations for m rows (0 = read A in place)
  size_t (*act_bytes)(const Weight& w, int64_t m);
  // converts rows [r0, r1) of A into the prepared buffer
  void (*prepare)(const KernelTable& kt, const Weight& w, const float* A, int64_t lda, int64_t m, int64_t r0,
                  int64_t r1, void* act);
  // computes C[:, j0:j1] (j0 a multiple of 4)
  void (*run)(const KernelTable& kt, const float* A, int64_t lda, const void* act, int64_t m, const Weight& W,
              float* C, int64_t ldc, int64_t j0, int64_t j1);
  // Formats whose dot products are exact integers (q8), for row-parallel shards under tensor
  // parallelism (matmul.h matmul_row_parallel): run_i32 writes the int32 dot products of the
  // prepared activations with W's rows, D[:, j0:j1] (a shard's part, summed over the ranks as
  // integers), then scale_i32 makes C[:, j0:j1] from the summed D exactly as run makes it from
  // one whole dot product. nullptr: the shards' float results are summed instead.
  void (*run_i32)(const KernelTable& kt, const void* act, int64_t m, const Weight& W, int32_t* D, int64_t ldd,
                  int64_t j0, int64_t j1) = nullptr;
  void (*scale_i32)(const void* act, int64_t m, const Weight& W, const int32_t* D, float* C, int64_t ldc, int64_t j0,
                    int64_t j1) = nullptr;
};

// One row of the table.
struct WeightFormat {
  const char* name;  // the format's name: the JS spec's `format`, the saved meta's `format`
  WFormat id;
  // the storage struct (Weight or the format's derived struct)
  std::unique_ptr<Weight> (*create)();
  // User-facing spec check (the N-API path only; saved files are checked by
  // meta_spec): nullptr when fine, else the reason.
  const char* (*check_spec)(const WSpec& s);
  // Lays out w (rows, cols, matrix set) for spec s: kp and the format's own
  // parameters; throws std::invalid_argument naming w.name on an impossible shape.
  void (*layout)(Weight& w, const WSpec& s);
  // Fills w's buffers from raw checkpoint data (already size-checked).
  void (*fill)(Weight& w, const WSpec& s, SrcDtype src, const void* data);
  size_t (*bytes)(const Weight& w);
  void (*row_f32)(const Weight& w, int64_t r, float* out);  // nullptr: no row lookup
  // Save layout: the buffers with their exact sizes for w's shape (nullptr: not saved).
  std::vector<WeightBuffer> (*buffers)(Weight& w);
  // Saved meta <-> spec: the format's own fields of the meta (group, asym,
  // amplifier) into s, checked (throws std::invalid_argument with the reason);
  // and back from a weight.
  void (*meta_spec)(const WeightMeta& m, WSpec& s);
  void (*meta)(const Weight& w, WeightMeta& m);  // nullptr: no own fields
  // Checks a weight read from a file beyond its buffer sizes (nullptr: none).
  void (*check_import)(Weight& w);
  // Tensor parallelism: the part of w a rank holds (rows or columns, the same
  // codes and scales; weights_shard.h). nullptr: the format cannot be split.
  std::unique_ptr<Weight> (*shard)(const Weight& w, const WeightShard& s) = nullptr;
  FormatOps ops;
  // Whether b's activations can be prepared as a's (fusing matmuls of one
  // input; the formats' ids are equal). nullptr: always.
  bool (*same_act)(const Weight& a, const Weight& b) = nullptr;
  bool static_act_scale = false;  // takes a static activation scale (q8: w8a8-sq-static)
  const KQuantFormat* kq = nullptr;  // the K-quant family: this row's GGUF type
  // fill stores the source bytes unchanged: a source that outlives the weight
  // (a mapped model file) can be borrowed as its storage instead of copied
  bool stores_source = false;
};

// The row named `name` ("f32", "q4a8", "q4_k", ...; K-quants by their native
// lower-case name), or nullptr.
const WeightFormat* weight_format(const std::string& name);
const WeightFormat& weight_format(WFormat id);  // not for KQuant (one row per type)
// The K-quant family's row for a K-quant type.
const WeightFormat& kquant_weight_format(const KQuantFormat& kq);

// Whether two matrices of one input can run as one fused matmul (same format
// and activation preparation).
bool shares_activations(const Weight& a, const Weight& b);

}  // namespace lowbit
