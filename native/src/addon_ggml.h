// N-API glue for llama.cpp's Q4_0 / Q8_0 formats (addon_ggml.cc).
#pragma once
#include <napi.h>

#include <string>

#include "kernels/kernels.h"
#include "model.h"

namespace lowbit {

// ggmlQuantize(type: "q4_0" | "q8_0" | "q5_0" | "q5_1" | "q4_k" | "q5_k" | "q6_k", data: Float32Array, rows, cols) -> Uint8Array:
// GGUF blocks from ggml's reference quantizers (byte-exact with llama-quantize without imatrix)
Napi::Value GgmlQuantize(const Napi::CallbackInfo& info);
// NativeModel.ggmlBytes(name) -> Uint8Array: a loaded q4_0 / q8_0 weight (or an alias of one)
// as GGUF blocks, row-major [rows][cols / 32] (for writing it to a GGUF file)
Napi::Value GgmlWeightBytes(const Model& m, const Napi::CallbackInfo& info);
// A loaded q4_0 / q8_0 weight's codes and scales as GGUF blocks, row-major [rows][cols / 32].
Napi::Uint8Array gguf_blocks(Napi::Env env, const Weight& w);

}  // namespace lowbit
