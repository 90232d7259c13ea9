// N-API glue for GPTQ / AWQ (gptq.h), module-level functions:
//   gptqQuantize(W: Float32Array [rows * cols], rows, cols, H: Float64Array [cols * cols], format,
//                { actOrder?, damp?, threads }) -> { weights: Float32Array (dequantized),
//                scales: Float32Array, offsets: Float32Array [rows * groups], blocks?: Uint8Array (q4_0: GGUF blocks) }
//   q4OutputError(W, rows, cols, H, format, s: Float32Array [cols] | undefined, { threads, kernels }) -> number
// format: a native int4 format ("q4-g128", "q4-g32-asym", "q4-ch", "q4a8-g128[-is...]", "q4_0").
#pragma once
#include <napi.h>

namespace lowbit {

Napi::Value GptqQuantize(const Napi::CallbackInfo& info);
Napi::Value Q4OutputError(const Napi::CallbackInfo& info);

}  // namespace lowbit
