// N-API glue for saving and loading stored weights (weights_io.h). NativeModel
// (addon.cc) forwards its listWeights / exportWeight / exportWeightBuffer /
// importWeight methods here; weightLayout is a module function.
#pragma once
#include <napi.h>

#include "model.h"

namespace lowbit {

// () -> { names: string[], aliases: { name: target } }
Napi::Value ListWeights(const Model& m, const Napi::CallbackInfo& info);
// (name) -> { format, rows, cols, kp, group, asym, actScale, buffers: [{ name, dtype, bytes }] }
Napi::Value ExportWeight(const Model& m, const Napi::CallbackInfo& info);
// (name, buffer, into: Uint8Array of exactly the buffer's size): copies the bytes
Napi::Value ExportWeightBuffer(const Model& m, const Napi::CallbackInfo& info);
// (name, meta, buffers: { [buffer]: Uint8Array }): validates every size, adds the weight
Napi::Value ImportWeight(Model& m, const Napi::CallbackInfo& info);
// formatLayout(format, rows, cols) -> meta: how a weight loaded in `format` ("vector", "bf16", "q4-g128", ...) is stored
Napi::Value FormatLayout(const Napi::CallbackInfo& info);
// weightLayout(meta, name?) -> [{ name, dtype, bytes }]: the buffers a weight with this meta must have
Napi::Value WeightLayout(const Napi::CallbackInfo& info);

}  // namespace lowbit
