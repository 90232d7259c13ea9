// N-API glue for saving and loading stored weights (weights_io.h). NativeModel
// (addon.cc) forwards its listWeights / exportWeight / exportWeightBuffer /
// importWeight methods here; weightLayout and canShard are module functions.
#pragma once
#include <napi.h>

#include "model.h"
#include "weights.h"

namespace lowbit {

// A weight format spec from JS (src/native.ts NativeWeightFormat): a format
// name without parameters ("vector", "f32", "bf16", "q8", "q4_0", "q8_0", a
// K-quant's), or { format, group?, asym?, amplifier? } with amplifier
// "heuristic" | "max" | a power of two (integer scales; absent: float scales).
// Throws a TypeError for an unknown name or a field of the wrong type; the
// values are the format's check_spec's (make_weight_checked).
WSpec spec_from_js(Napi::Env env, Napi::Value v);

// () -> { names: string[], aliases: { name: target } }
Napi::Value ListWeights(const Model& m, const Napi::CallbackInfo& info);
// (name) -> { format, rows, cols, kp, group, asym, actScale, buffers: [{ name, dtype, bytes }] }
Napi::Value ExportWeight(const Model& m, const Napi::CallbackInfo& info);
// (name, buffer, into: Uint8Array of exactly the buffer's size): copies the bytes
Napi::Value ExportWeightBuffer(const Model& m, const Napi::CallbackInfo& info);
// (name, meta, buffers: { [buffer]: Uint8Array }, shard?: { axis: "rows" | "cols", start, count }):
// validates every size, adds the weight (with a shard: only that part of it, weights_shard.h)
Napi::Value ImportWeight(Model& m, const Napi::CallbackInfo& info);
// formatLayout(spec, rows, cols) -> meta: how a weight loaded with `spec` ("vector", "bf16", { format: "q4", group: 128 }, ...) is stored
Napi::Value FormatLayout(const Napi::CallbackInfo& info);
// canShard(format) -> whether a stored weight of this format ("vector", "q8", ...) can be split over ranks
Napi::Value CanShard(const Napi::CallbackInfo& info);
// weightLayout(meta, name?) -> [{ name, dtype, bytes }]: the buffers a weight with this meta must have
Napi::Value WeightLayout(const Napi::CallbackInfo& info);

}  // namespace lowbit
