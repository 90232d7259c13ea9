// ggmlDequantize: see addon_ggml.h. Arguments are checked by addon_util.h;
// sizes by ggml_dequantize itself before anything is written.
#include "addon_dequant.h"

#include <string>

#include "addon_util.h"
#include "ggml_dequant.h"

namespace lowbit {

Napi::Value GgmlDequantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int type = (int)arg_int(info, 0, "typeId", 0, 1 << 20);
  Napi::Uint8Array bytes = arg_typed<Napi::Uint8Array>(info, 1, "bytes");
  Napi::Float32Array out = arg_typed<Napi::Float32Array>(info, 2, "out");
  std::string err;
  if (!ggml_dequantize(type, bytes.Data(), bytes.ByteLength(), out.Data(), (int64_t)out.ElementLength(), &err))
    throw Napi::RangeError::New(env, err);
  return out;
}

}  // namespace lowbit
