// Argument checking helpers for the N-API boundary: every value from JS is
// type- and range-checked here, so native code never sees a bad pointer/size.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace lowbit {

// f(), with a C++ exception it throws turned into a JS Error of the same message.
template <class F>
auto js_errors(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// exports[name] = a JS function calling fn, for each entry.
struct JsFunction {
  const char* name;
  Napi::Value (*fn)(const Napi::CallbackInfo&);
};
inline void export_functions(Napi::Env env, Napi::Object exports, std::initializer_list<JsFunction> fns) {
  for (const JsFunction& f : fns) exports.Set(f.name, Napi::Function::New(env, f.fn));
}

inline Napi::Object arg_object(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsObject()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be an object");
  return info[i].As<Napi::Object>();
}

inline std::string arg_string(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

inline int64_t check_int(Napi::Env env, Napi::Value v, const std::string& what, int64_t lo, int64_t hi) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, what + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < (double)lo || d > (double)hi)
    throw Napi::RangeError::New(env, what + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return (int64_t)d;
}

inline int64_t arg_int(const Napi::CallbackInfo& info, size_t i, const char* what, int64_t lo, int64_t hi) {
  if (info.Length() <= i) throw Napi::TypeError::New(info.Env(), std::string(what) + " is required");
  return check_int(info.Env(), info[i], what, lo, hi);
}

template <class T>
struct TypedArrayTag;
template <>
struct TypedArrayTag<Napi::Float32Array> { static constexpr napi_typedarray_type value = napi_float32_array; };
template <>
struct TypedArrayTag<Napi::Float64Array> { static constexpr napi_typedarray_type value = napi_float64_array; };
template <>
struct TypedArrayTag<Napi::Int32Array> { static constexpr napi_typedarray_type value = napi_int32_array; };
template <>
struct TypedArrayTag<Napi::Uint16Array> { static constexpr napi_typedarray_type value = napi_uint16_array; };
template <>
struct TypedArrayTag<Napi::Uint8Array> { static constexpr napi_typedarray_type value = napi_uint8_array; };
template <>
struct TypedArrayTag<Napi::Int8Array> { static constexpr napi_typedarray_type value = napi_int8_array; };
template <>
struct TypedArrayTag<Napi::Int16Array> { static constexpr napi_typedarray_type value = napi_int16_array; };

template <class T>
T arg_typed(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsTypedArray()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a typed array");
  Napi::TypedArray ta = info[i].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != TypedArrayTag<T>::value)
    throw Napi::TypeError::New(info.Env(), std::string(what) + " has the wrong typed array type");
  return info[i].As<T>();
}

inline int get_int(Napi::Object o, const char* key, int lo, int hi) {
  return (int)check_int(o.Env(), o.Get(key), key, lo, hi);
}
inline int opt_int(Napi::Object o, const char* key, int dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  return (int)check_int(o.Env(), v, key, -(1 << 30), 1 << 30);
}
inline double get_number(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue()))
    throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a finite number");
  return v.As<Napi::Number>().DoubleValue();
}
inline double opt_number(Napi::Object o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  return get_number(o, key);
}
inline std::string get_string(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}
inline std::string opt_string(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return "";
  return get_string(o, key);
}

}  // namespace lowbit
