// Weight tensors owned by the native model, stored in a kernel format chosen
// at load (the "repack" step: raw checkpoint bytes -> kernel layout).
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "buffer.h"
#include "formats/kquant.h"
#include "quantize.h"

namespace lowbit {

// Storage formats of weights. Each has an entry in the matmul format table.
// Q4: int4 weights, f32 activations (w4a16). Q4A8: symmetric int4 weights,
// int8 activations (w4a8), with float or integer (amplified) group scales.
// Q4_0 / Q8_0: llama.cpp's GGUF blocks (kernels/ggml.h), activations quantized
// to Q8_0 blocks as llama.cpp's CPU backend does.
// KQuant: a llama.cpp K-quant type (Q4_K, Q6_K, ...) run on its GGUF blocks;
// which one is the format-table row (formats/kquant.h) in Weight::kq / WSpec::kq.
enum class WFormat : int { F32 = 0, BF16 = 1, Q8 = 2, Q4 = 3, Q4A8 = 4, Q4_0 = 5, Q8_0 = 6, KQuant = 7 };
// dtypes of raw checkpoint data handed over from JS; Q4_0 / Q8_0 are raw GGUF
// blocks (rows of cols / 32 blocks); KQuant: raw GGUF blocks of a K-quant type
// (rows of cols / 256 blocks), the type given by the target WSpec's kq.
enum class SrcDtype : int { F32 = 0, F16 = 1, BF16 = 2, Q4_0 = 3, Q8_0 = 4, KQuant = 5 };

// Storage format of a matrix: the element format plus, for int4, the group
// size along k (0 = per channel, i.e. one group of kp) and asymmetric offsets.
struct WSpec {
  WFormat format = WFormat::F32;
  int64_t group = 0;
  bool asym = false;
  // Q4A8 integer scales: amplifier request (kAmpHeuristic, kAmpMax or a
  // fixed power of two); 0 = float scales.
  bool iscale = false;
  double amp = 0;
  const KQuantFormat* kq = nullptr;  // format KQuant: the table row
};

const char* wformat_name(WFormat f);
// "f32", "bf16", "q8", "q4-g32", "q4-g128", "q4-ch", each q4 optionally "-asym";
// "q4a8-g32", "q4a8-g128", each optionally "-is" (heuristic amplifier),
// "-is-max" or "-is-<2^n>" (fixed amplifier, e.g. -is-1024); "q4_0", "q8_0";
// a K-quant table row's name ("q4_k", "q6_k").
bool parse_wformat(const std::string& s, WSpec* out);
// "F32", "F16", "BF16", "Q4_0", "Q8_0"
bool parse_src_dtype(const std::string& s, SrcDtype* out);
// Bytes of a row-major [rows, cols] tensor of this dtype; throws
// std::invalid_argument (naming `name`) when a block dtype's cols is not a
// multiple of 32 or the size overflows.
size_t src_bytes(const std::string& name, SrcDtype d, int64_t rows, int64_t cols);

size_t wformat_elem_bytes(WFormat f);

// A weight [rows, cols] (row = one output feature). Matrices are stored in the
// packed layout of kernels/kernels.h (kp = cols padded to whole chunks);
// vectors (norm weights, rows = 1) stay plain f32.
struct Weight {
  std::string name;
  WFormat format = WFormat::F32;
  bool matrix = true;
  int64_t rows = 0, cols = 0;
  int64_t kp = 0;  // padded columns of the packed layout (= cols for vectors)
  int64_t group = 0;  // q4: group size along k (divides kp)
  bool asym = false;  // q4: offsets are group minima, not -8 * scale
  float act_scale = 0;  // q8: static activation scale from calibration (0 = per token)
  double amplifier = 0;  // q4a8 integer scales: alpha (si = round(s * alpha)); 0 = float scales
  int64_t is_bound = 0;  // q4a8 integer scales: max over rows of the worst-case |int32 sum|
  // q4a8: squared weight error sums (over rows x cols) of the dequantized
  // matrix with float scales s * (q - 8) and with integer scales si / alpha * (q - 8)
  // (-1: unknown, e.g. a weight imported from a saved model)
  double sse_float = -1, sse_int = -1;
  const KQuantFormat* kq = nullptr;  // KQuant: the format-table row
  AlignedBuf data;     // q4_0 / q8_0: packed codes (kernels/ggml.h); KQuant: the GGUF blocks, row-major
  AlignedBuf scales;   // q8: [rows] ; q4: [rows][kp / group] ; q4a8 float scales: [rows/4][ng][4]
                       // q4_0 / q8_0: f16 block scales [rows/8][cols/32][8]
  AlignedBuf iscales;  // q4a8 integer scales: int32 [rows/4][ng][4]
  AlignedBuf offsets;  // q4: [rows][kp / group]
  AlignedBuf wsum;     // q8: [rows] int32 sums of the int8 weights
  int64_t ngroups() const { return group ? kp / group : 0; }
  bool ggml() const { return format == WFormat::Q4_0 || format == WFormat::Q8_0; }
  // KQuant: bytes of one row of GGUF blocks
  int64_t kq_row_bytes() const { return kq ? cols / kq->block_elems * kq->block_bytes : 0; }
  size_t bytes() const;
  // Row r widened to f32 into out[cols] (used by the embedding lookup).
  void row_f32(int64_t r, float* out) const;
};

// A chosen int4 grid (GPTQ / AWQ, gptq.h): per (row, group) scale s and
// offset o, row-major [rows][kp / group] as quantize_row_q4 writes them
// (w4a8: the float scales; the offsets are -8 s). n: elements of each.
struct Q4Grid {
  const float* s = nullptr;
  const float* o = nullptr;
  size_t n = 0;
};

// Converts raw checkpoint data to the target format, packing matrices.
// Throws std::invalid_argument on a size mismatch or an impossible shape.
// grid (q4 / q4a8 only): the codes are rounded on it instead of each group's RTN grid.
std::unique_ptr<Weight> make_weight(const std::string& name, SrcDtype src, const void* data, size_t nbytes,
                                    int64_t rows, int64_t cols, WSpec target, bool matrix = true,
                                    const Q4Grid* grid = nullptr);

// A bad argument kind (an unknown dtype or format name): the N-API wrapper
// throws it as a TypeError; every other std::exception becomes an Error.
struct WeightArgTypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// NativeModel.addWeight without N-API (addon.cc forwards to it; the fuzz
// harness native/fuzz/fuzz_make_weight.cc calls it directly): parses the dtype
// ("F32", ...) and format ("vector" or a parse_wformat string), validates the
// byte length against the shape, converts, and applies the optional static
// activation scale (q8 only). Throws WeightArgTypeError or std::invalid_argument.
std::unique_ptr<Weight> make_weight_checked(const std::string& name, const std::string& dtype, const void* data,
                                            size_t nbytes, int64_t rows, int64_t cols, const std::string& format,
                                            const double* act_scale = nullptr, const Q4Grid* grid = nullptr);

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
