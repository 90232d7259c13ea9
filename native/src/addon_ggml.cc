// N-API glue for llama.cpp's Q4_0 / Q8_0 formats (kernels/ggml.h):
//   ggmlQuantize(type, data: Float32Array, rows, cols) -> Uint8Array of GGUF blocks
//   NativeModel.ggmlBytes(name) -> Uint8Array: a loaded q4_0 / q8_0 weight as GGUF blocks
//   (the test addon's runKernel entries for these formats: addon_kernels_ggml.cc)
#include "addon_ggml.h"

#include <algorithm>
#include <vector>

#include "addon_util.h"
#include "formats/ggml_blocks.h"
#include "formats/kquant.h"
#include "ggml_quants.h"
#include "kernels/ggml.h"
#include "weights.h"

namespace lowbit {

namespace {

GgmlType parse_type(Napi::Env env, const std::string& s) {
  if (s == "q4_0") return GgmlType::Q4_0;
  if (s == "q8_0") return GgmlType::Q8_0;
  throw Napi::TypeError::New(env, "type must be \"q4_0\", \"q8_0\", \"q5_0\", \"q5_1\", \"q4_k\", \"q5_k\" or \"q6_k\", got \"" + s + "\"");
}

}  // namespace

// A weight's codes and scales as GGUF blocks, row-major [rows][cols / 32].
Napi::Uint8Array gguf_blocks(Napi::Env env, const Weight& w) {
  const GgmlType t = as_ggml(w).type();
  const int64_t nb = w.cols / kQK, rb = nb * ggml_block_bytes(t);
  Napi::Uint8Array out = Napi::Uint8Array::New(env, (size_t)(w.rows * rb));
  for (int64_t j = 0; j < w.rows; j++)
    ggml_unpack_row(t, w.data.as<uint8_t>(), as_ggml(w).scales.as<uint16_t>(), j, nb, out.Data() + j * rb);
  return out;
}


Napi::Value GgmlQuantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = arg_string(info, 0, "type");
  const KQuantFormat* kq = kquant_format(name.c_str());
  if (kq && (name != kq->name || !kq->quantize_row)) kq = nullptr;  // "q4_k", "q5_k", "q6_k"
  // "q5_0" / "q5_1": written by GGUF export only (no native format holds them)
  void (*row_q)(const float*, int64_t, uint8_t*) =
      kq ? kq->quantize_row : name == "q5_0" ? ggml_quantize_row_q5_0 : name == "q5_1" ? ggml_quantize_row_q5_1 : nullptr;
  const GgmlType t = row_q ? GgmlType::Q8_0 : parse_type(env, name);
  Napi::Float32Array x = arg_typed<Napi::Float32Array>(info, 1, "data");
  const int64_t rows = arg_int(info, 2, "rows", 1, (int64_t)1 << 40), cols = arg_int(info, 3, "cols", 1, (int64_t)1 << 40);
  const int64_t qk = kq ? kq->block_elems : kQK;
  if (cols % qk)
    throw Napi::RangeError::New(env, "cols (" + std::to_string(cols) + ") must be a multiple of " + std::to_string(qk) +
                                         " (GGUF blocks of " + std::to_string(qk) + ")");
  if ((double)rows * (double)cols != (double)x.ElementLength())
    throw Napi::RangeError::New(env, "data has " + std::to_string(x.ElementLength()) + " elements, not rows * cols = " +
                                         std::to_string(rows) + " * " + std::to_string(cols));
  if (row_q) {  // K-quant super-blocks (formats/) or Q5_0 / Q5_1 blocks, row by row
    const int64_t rb = cols / qk * (kq ? kq->block_bytes : name == "q5_0" ? 22 : 24);
    Napi::Uint8Array out = Napi::Uint8Array::New(env, (size_t)(rows * rb));
    for (int64_t j = 0; j < rows; j++) row_q(x.Data() + j * cols, cols, out.Data() + j * rb);
    return out;
  }
  const int64_t rb = cols / kQK * ggml_block_bytes(t);
  Napi::Uint8Array out = Napi::Uint8Array::New(env, (size_t)(rows * rb));
  for (int64_t j = 0; j < rows; j++) ggml_quantize_row(t, x.Data() + j * cols, cols, out.Data() + j * rb);
  return out;
}

Napi::Value GgmlWeightBytes(const Model& m, const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = arg_string(info, 0, "name");
  auto al = m.aliases().find(name);
  if (al != m.aliases().end()) name = al->second;
  auto it = m.weights().find(name);
  if (it == m.weights().end()) throw Napi::Error::New(env, "no weight named '" + name + "'");
  if (!it->second->ggml())
    throw Napi::Error::New(env, name + " is stored as " + it->second->fmt->name + ", not q4_0 or q8_0");
  return gguf_blocks(env, *it->second);
}

}  // namespace lowbit
