// The test-only addon (binding.gyp target lowbit_test, build/Release/lowbit_test.node;
// loaded by the kernel tests through test/helpers/test-addon.ts, never by the
// library): runKernel(variant, name, args) runs one kernel of one variant on JS
// arrays (addon_kernels.cc; llama.cpp's formats: addon_kernels_ggml.cc).
#pragma once
#include <napi.h>

#include <string>

#include "addon_util.h"
#include "kernels/kernels.h"

namespace lowbit {

Napi::Value RunKernel(const Napi::CallbackInfo& info);
// runKernel's entries for llama.cpp's formats and the K-quants
bool IsGgmlKernel(const std::string& name);
Napi::Value RunGgmlKernel(Napi::Env env, const KernelTable& kt, const std::string& name, Napi::Object args);

// A typed array field of at least min_len elements (TypeError / RangeError otherwise).
template <class T>
T field(Napi::Object o, const char* key, size_t min_len) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != TypedArrayTag<T>::value)
    throw Napi::TypeError::New(o.Env(), std::string(key) + " has the wrong type");
  T a = v.As<T>();
  if (a.ElementLength() < min_len) throw Napi::RangeError::New(o.Env(), std::string(key) + " is too short");
  return a;
}
// A size field in [0, 2^26].
inline int64_t dim(Napi::Object o, const char* key) { return check_int(o.Env(), o.Get(key), key, 0, 1 << 26); }

}  // namespace lowbit
