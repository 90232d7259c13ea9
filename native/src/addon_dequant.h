// N-API entry for GGUF tensor dequantization (addon_dequant.cc):
//   ggmlDequantize(typeId: number, bytes: Uint8Array, out: Float32Array) -> out
// out.length values of ggml type `typeId` are decoded from `bytes`, which must
// be exactly their size; throws (nothing written) on an unsupported type or a
// size mismatch.
#pragma once
#include <napi.h>

namespace lowbit {

Napi::Value GgmlDequantize(const Napi::CallbackInfo& info);

}  // namespace lowbit
