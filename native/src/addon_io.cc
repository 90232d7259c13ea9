#include "addon_io.h"

#include <cmath>
#include <cstring>
#include <set>

#include "addon_util.h"
#include "weights_io.h"
#include "weights_shard.h"

namespace lowbit {

namespace {

const Weight& find_weight(const Model& m, Napi::Env env, const std::string& name) {
  auto it = m.weights().find(name);
  if (it == m.weights().end()) throw Napi::Error::New(env, "no weight named '" + name + "'");
  return *it->second;
}

WeightMeta meta_from_js(Napi::Object o) {
  Napi::Env env = o.Env();
  WeightMeta m;
  m.format = get_string(o, "format");
  m.rows = check_int(env, o.Get("rows"), "rows", 0, (int64_t)1 << 50);
  m.cols = check_int(env, o.Get("cols"), "cols", 0, (int64_t)1 << 50);
  m.kp = check_int(env, o.Get("kp"), "kp", 0, (int64_t)1 << 50);
  m.group = check_int(env, o.Get("group"), "group", 0, (int64_t)1 << 50);
  Napi::Value a = o.Get("asym");
  if (!a.IsBoolean()) throw Napi::TypeError::New(env, "asym must be a boolean");
  m.asym = a.As<Napi::Boolean>().Value();
  const double sc = get_number(o, "actScale");
  if (std::fabs(sc) > 3.0e38) throw Napi::RangeError::New(env, "actScale out of range");
  m.act_scale = (float)sc;
  m.amplifier = opt_number(o, "amplifier", 0);
  return m;
}

Napi::Object meta_to_js(Napi::Env env, const WeightMeta& meta) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("format", meta.format);
  o.Set("rows", (double)meta.rows);
  o.Set("cols", (double)meta.cols);
  o.Set("kp", (double)meta.kp);
  o.Set("group", (double)meta.group);
  o.Set("asym", meta.asym);
  o.Set("actScale", (double)meta.act_scale);
  o.Set("amplifier", meta.amplifier);
  return o;
}

Napi::Array buffers_to_js(Napi::Env env, const std::vector<WeightBuffer>& bufs) {
  Napi::Array arr = Napi::Array::New(env, bufs.size());
  for (uint32_t i = 0; i < bufs.size(); i++) {
    Napi::Object b = Napi::Object::New(env);
    b.Set("name", bufs[i].name);
    b.Set("dtype", bufs[i].dtype);
    b.Set("bytes", (double)bufs[i].bytes);
    arr.Set(i, b);
  }
  return arr;
}

}  // namespace

WSpec spec_from_js(Napi::Env env, Napi::Value v) {
  WSpec s;
  auto named = [&](const std::string& name) {
    if (name == "vector") {  // a plain f32 [1, n] (norm weights, biases)
      s.matrix = false;
      s.format = weight_format("f32");
      return;
    }
    s.format = weight_format(name);
    if (!s.format) throw Napi::TypeError::New(env, "unknown weight format");
  };
  if (v.IsString()) {  // a format without parameters, by name
    named(v.As<Napi::String>().Utf8Value());
    // a format with parameters (q4, q4a8) needs the object form
    if (s.format->check_spec != plain_check_spec) throw Napi::TypeError::New(env, "unknown weight format");
    return s;
  }
  if (!v.IsObject() || v.IsArray()) throw Napi::TypeError::New(env, "format must be a format name or spec");
  Napi::Object o = v.As<Napi::Object>();
  if (!o.Get("format").IsString()) throw Napi::TypeError::New(env, "format.format must be a string");
  named(o.Get("format").As<Napi::String>().Utf8Value());
  for (const char* k : {"group", "asym", "amplifier"})
    if (o.Has(k) && !o.Get(k).IsUndefined() && !s.matrix) throw Napi::TypeError::New(env, std::string("a vector takes no ") + k);
  if (o.Has("group") && !o.Get("group").IsUndefined()) s.group = check_int(env, o.Get("group"), "format.group", 0, 1 << 20);
  if (o.Has("asym") && !o.Get("asym").IsUndefined()) {
    if (!o.Get("asym").IsBoolean()) throw Napi::TypeError::New(env, "format.asym must be a boolean");
    s.asym = o.Get("asym").As<Napi::Boolean>().Value();
  }
  if (o.Has("amplifier") && !o.Get("amplifier").IsUndefined()) {
    Napi::Value a = o.Get("amplifier");
    s.iscale = true;
    if (a.IsString() && a.As<Napi::String>().Utf8Value() == "heuristic") s.amp = kAmpHeuristic;
    else if (a.IsString() && a.As<Napi::String>().Utf8Value() == "max") s.amp = kAmpMax;
    else if (a.IsNumber()) s.amp = a.As<Napi::Number>().DoubleValue();
    else throw Napi::TypeError::New(env, "format.amplifier must be \"heuristic\", \"max\" or a power of two");
  }
  if (const char* why = s.format->check_spec(s)) throw Napi::TypeError::New(env, why);
  return s;
}

Napi::Value ListWeights(const Model& m, const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array names = Napi::Array::New(env, m.weights().size());
  uint32_t i = 0;
  for (const auto& kv : m.weights()) names.Set(i++, kv.first);
  Napi::Object aliases = Napi::Object::New(env);
  for (const auto& kv : m.aliases()) aliases.Set(kv.first, kv.second);
  Napi::Object o = Napi::Object::New(env);
  o.Set("names", names);
  o.Set("aliases", aliases);
  return o;
}

Napi::Value ExportWeight(const Model& m, const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Weight& w = find_weight(m, env, arg_string(info, 0, "name"));
  WeightMeta meta = weight_meta(w);
  std::vector<WeightBuffer> bufs;
  try {
    weight_buffers(w);  // a format without a save declaration fails here, saying where to add it
    bufs = check_weight_meta(w.name, meta);  // also proves the declared sizes match the weight
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  Napi::Object o = meta_to_js(env, meta);
  o.Set("buffers", buffers_to_js(env, bufs));
  return o;
}

Napi::Value ExportWeightBuffer(const Model& m, const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Weight& w = find_weight(m, env, arg_string(info, 0, "name"));
  const std::string which = arg_string(info, 1, "buffer");
  Napi::Uint8Array into = arg_typed<Napi::Uint8Array>(info, 2, "into");
  for (const WeightBuffer& b : weight_buffers(w)) {
    if (which != b.name) continue;
    if (into.ByteLength() != b.bytes)
      throw Napi::RangeError::New(env, w.name + "." + which + " has " + std::to_string(b.bytes) + " bytes; into has " +
                                           std::to_string(into.ByteLength()));
    std::memcpy(into.Data(), b.buf->data(), b.bytes);
    return env.Undefined();
  }
  throw Napi::Error::New(env, w.name + " has no buffer '" + which + "'");
}

Napi::Value ImportWeight(Model& m, const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = arg_string(info, 0, "name");
  WeightMeta meta = meta_from_js(arg_object(info, 1, "meta"));
  Napi::Object given = arg_object(info, 2, "buffers");
  // tensor parallelism: keep only this rank's part ({ axis: "rows" | "cols", start, count })
  const bool sharded = info.Length() > 3 && !info[3].IsUndefined();
  WeightShard shard;
  if (sharded) {
    Napi::Object o = arg_object(info, 3, "shard");
    const std::string axis = get_string(o, "axis");
    if (axis != "rows" && axis != "cols") throw Napi::TypeError::New(env, "shard.axis must be \"rows\" or \"cols\"");
    shard.cols = axis == "cols";
    shard.start = check_int(env, o.Get("start"), "shard.start", 0, (int64_t)1 << 40);
    shard.count = check_int(env, o.Get("count"), "shard.count", 1, (int64_t)1 << 40);
  }
  try {
    std::vector<WeightBuffer> want = check_weight_meta(name, meta);
    std::set<std::string> names;
    std::vector<RawBuffer> raw;
    for (const WeightBuffer& b : want) {
      names.insert(b.name);
      Napi::Value v = given.Get(b.name);
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
        throw std::invalid_argument(name + "." + b.name + " is missing (format " + meta.format + " needs it)");
      Napi::Uint8Array a = v.As<Napi::Uint8Array>();
      raw.push_back({a.Data(), a.ByteLength()});
    }
    Napi::Array keys = given.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); i++) {
      std::string k = keys.Get(i).ToString().Utf8Value();
      if (!names.count(k)) throw std::invalid_argument(name + "." + k + ": format " + meta.format + " has no such buffer");
    }
    std::unique_ptr<Weight> w = import_weight(name, meta, raw);
    m.add_weight(sharded ? shard_weight(*w, shard) : std::move(w));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return env.Undefined();
}

Napi::Value FormatLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) throw Napi::TypeError::New(env, "format must be a format name or spec");
  const WSpec spec = spec_from_js(env, info[0]);
  const int64_t rows = arg_int(info, 1, "rows", 1, (int64_t)1 << 40), cols = arg_int(info, 2, "cols", 1, (int64_t)1 << 40);
  try {
    return meta_to_js(env, format_layout(spec, rows, cols));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

Napi::Value CanShard(const Napi::CallbackInfo& info) {
  const std::string name = arg_string(info, 0, "format");
  const WeightFormat* f = weight_format(name == "vector" ? "f32" : name);
  return Napi::Boolean::New(info.Env(), f && f->shard);
}

Napi::Value WeightLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WeightMeta meta = meta_from_js(arg_object(info, 0, "meta"));
  const std::string name = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "weight";
  try {
    return buffers_to_js(env, check_weight_meta(name, meta));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace lowbit
