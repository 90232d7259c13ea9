// N-API surface. JS owns the model graph, formats and generation; this file
// only validates what crosses the boundary and forwards to Model.
//
//   new NativeModel({threads, kernels, nLayers, nKvHeads, headDim, nCtx, ropeTheta})
//   .mapFile(path) -> file id: maps a model file read-only for the model's lifetime
//   .addWeight(name, srcDtype, bytes: Uint8Array | { file, offset, length }, rows, cols, format, actScale?, grid?, rowAmax?)
//      (a mapped range: formats that keep the source bytes view them in place)
//   .aliasWeight(name, target) / .setGraph(ops[], outputName)
//   .forward(tokens: Int32Array, positions: Int32Array, all: boolean, targets?: Int32Array, out?: Float32Array)
//       -> Promise<{ data: Float32Array, rows: number, nativeMs: number }>
//      (with `out`, of exactly the result's length, the result is written into it
//       and `data` is `out`: the decode loop reuses one buffer, no garbage per step)
//   .cacheSize(slot?) / .cachePositions(slot?) / .rollback(n, slot?) / .drop(start, count, shift, slot?) / .clearCache(slot?)
//   .setSlots(n): KV slots 0..n-1 (continuous batching; slot 0 is forward()'s)
//   .forwardBatch(slots: Int32Array, counts: Int32Array, all: Uint8Array, tokens: Int32Array, positions: Int32Array, out?: Float32Array)
//       -> Promise<{ data, rows, nativeMs }>: sequence i is counts[i] consecutive tokens appended to slot slots[i];
//      its rows of the result are its last row's logits, or every row's where all[i] (model.h forward_batch)
//   .info() / .dispose()
//   .listWeights() / .exportWeight(name) / .exportWeightBuffer(name, buffer, into) / .importWeight(name, meta, buffers, shard?)
//      (saved quantized models, a rank's shard of one under tensor parallelism: addon_io.cc)
//   .ggmlBytes(name) -> Uint8Array (a q4_0 / q8_0 weight as GGUF blocks) and
//   ggmlQuantize(type, data, rows, cols) -> Uint8Array (GGUF blocks): addon_ggml.cc
#include <napi.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>

#include "addon_dequant.h"
#include "addon_ggml.h"
#include "addon_gptq.h"
#include "addon_io.h"
#include "addon_tp.h"
#include "addon_util.h"
#include "addon_worker.h"
#include "formats/q4a8.h"
#include "bandwidth.h"
#include "peak.h"
#include "buffer.h"
#include "comm.h"
#include "cpu.h"
#include "model.h"
#include "tp_step.h"

namespace lowbit {

namespace {

// A forward step on a libuv worker thread, resolving to { data, rows, nativeMs }: with `out`
// (exactly the result's length) the logits are written into it and `data` is `out`.
class StepWorker : public ModelWorker {
 public:
  StepWorker(Napi::Env env, std::shared_ptr<Model> model, Napi::Float32Array out) : ModelWorker(env, std::move(model)) {
    if (!out.IsEmpty()) {
      out_ref_ = Napi::Persistent(out);
      out_ptr_ = out.Data();
      out_len_ = out.ElementLength();
    }
  }

 protected:
  // the step itself: its result and output row count
  virtual std::vector<float> step(Model& model, int* rows) = 0;

  void run(Model& model) override {
    auto t0 = std::chrono::steady_clock::now();
    out_ = step(model, &rows_);
    if (out_ptr_) {
      if (out_.size() != out_len_) throw std::length_error("out has the wrong length for this forward step");
      std::memcpy(out_ptr_, out_.data(), out_len_ * sizeof(float));
    }
    ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  Napi::Value resolve(Napi::Env env) override {
    Napi::Object res = Napi::Object::New(env);
    if (out_ptr_) {
      res.Set("data", out_ref_.Value());
    } else {
      auto* vec = new std::vector<float>(std::move(out_));
      Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, vec->data(), vec->size() * sizeof(float),
                                                    [](Napi::Env, void*, std::vector<float>* v) { delete v; }, vec);
      res.Set("data", Napi::Float32Array::New(env, vec->size(), ab, 0));
    }
    res.Set("rows", rows_);
    res.Set("nativeMs", ms_);
    return res;
  }

 private:
  std::vector<float> out_;
  Napi::Reference<Napi::Float32Array> out_ref_;
  float* out_ptr_ = nullptr;
  size_t out_len_ = 0;
  int rows_ = 0;
  double ms_ = 0;
};

// One sequence's step (slot 0), or rank 0's of a tensor-parallel job.
class ForwardWorker : public StepWorker {
 public:
  ForwardWorker(Napi::Env env, std::shared_ptr<Model> model, std::vector<int32_t> tokens,
                std::vector<int32_t> positions, bool all, std::vector<int32_t> targets, bool has_targets,
                Napi::Float32Array out, bool lead)
      : StepWorker(env, std::move(model), out),
        lead_(lead),
        tokens_(std::move(tokens)),
        positions_(std::move(positions)),
        targets_(std::move(targets)),
        all_(all),
        has_targets_(has_targets) {}

 protected:
  std::vector<float> step(Model& model, int* rows) override {
    const LogitsMode mode = all_ ? LogitsMode::All : LogitsMode::Last;
    const int32_t* tg = has_targets_ ? targets_.data() : nullptr;
    return lead_ ? lead_forward(model, tokens_.data(), positions_.data(), (int)tokens_.size(), mode, tg, rows)
                 : model.forward(tokens_.data(), positions_.data(), (int)tokens_.size(), mode, tg, rows);
  }

 private:
  bool lead_;  // tensor-parallel rank 0: the step is broadcast first (tp_step.h)
  std::vector<int32_t> tokens_, positions_, targets_;
  bool all_, has_targets_;
};

// A batched step (Model::forward_batch): several sequences, each in its KV slot.
class BatchWorker : public StepWorker {
 public:
  BatchWorker(Napi::Env env, std::shared_ptr<Model> model, std::vector<int32_t> tokens, std::vector<int32_t> positions,
              std::vector<Segment> segs, Napi::Float32Array out)
      : StepWorker(env, std::move(model), out), tokens_(std::move(tokens)), positions_(std::move(positions)), segs_(std::move(segs)) {}

 protected:
  std::vector<float> step(Model& model, int* rows) override {
    return model.forward_batch(tokens_.data(), positions_.data(), segs_, rows);
  }

 private:
  std::vector<int32_t> tokens_, positions_;
  std::vector<Segment> segs_;
};

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {InstanceMethod("addWeight", &NativeModel::AddWeight),
                        InstanceMethod("mapFile", &NativeModel::MapFile),
                        InstanceMethod("replaceWeight", &NativeModel::ReplaceWeight),
                        InstanceMethod("aliasWeight", &NativeModel::AliasWeight),
                        InstanceMethod("setGraph", &NativeModel::SetGraph),
                        InstanceMethod("forward", &NativeModel::Forward),
                        InstanceMethod("forwardBatch", &NativeModel::ForwardBatch),
                        InstanceMethod("setSlots", &NativeModel::SetSlots),
                        InstanceMethod("cacheSize", &NativeModel::CacheSize),
                        InstanceMethod("cachePositions", &NativeModel::CachePositions),
                        InstanceMethod("rollback", &NativeModel::Rollback),
                        InstanceMethod("drop", &NativeModel::Drop),
                        InstanceMethod("clearCache", &NativeModel::ClearCache),
                        InstanceMethod("info", &NativeModel::Info),
                        InstanceMethod("weightStats", &NativeModel::WeightStats),
                        InstanceMethod("collectStats", &NativeModel::CollectStats),
                        InstanceMethod("activationStats", &NativeModel::ActivationStats),
                        InstanceMethod("activationDetail", &NativeModel::ActivationDetail),
                        InstanceMethod("activationHessians", &NativeModel::ActivationHessians),
                        InstanceMethod("listWeights", &NativeModel::ListWeights),
                        InstanceMethod("exportWeight", &NativeModel::ExportWeight),
                        InstanceMethod("exportWeightBuffer", &NativeModel::ExportWeightBuffer),
                        InstanceMethod("importWeight", &NativeModel::ImportWeight),
                        InstanceMethod("ggmlBytes", &NativeModel::GgmlBytes),
                        InstanceMethod("follow", &NativeModel::Follow),
                        InstanceMethod("dispose", &NativeModel::Dispose)});
  }

  NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
    Napi::Env env = info.Env();
    Napi::Object o = arg_object(info, 0, "options");
    ModelParams p;
    p.threads = get_int(o, "threads", 1, 256);
    p.kernels = get_string(o, "kernels");
    p.n_layers = get_int(o, "nLayers", 1, 4096);
    p.n_kv_heads = get_int(o, "nKvHeads", 1, 4096);
    p.head_dim = get_int(o, "headDim", 2, 4096);
    p.n_ctx = get_int(o, "nCtx", 1, 1 << 24);
    p.rope_theta = (float)get_number(o, "ropeTheta");
    if (o.Has("ropeFreqScale") && !o.Get("ropeFreqScale").IsUndefined()) p.rope_freq_scale = (float)get_number(o, "ropeFreqScale");
    if (o.Has("ropeDims") && !o.Get("ropeDims").IsUndefined()) p.rope_dims = get_int(o, "ropeDims", 0, 4096);
    if (o.Has("kvType") && !o.Get("kvType").IsUndefined()) {
      const std::string t = get_string(o, "kvType");
      if (t == "f16") p.kv_type = KvType::F16;
      else if (t == "q8_0") p.kv_type = KvType::Q8_0;
      else if (t != "f32") throw Napi::TypeError::New(env, "kvType must be \"f32\", \"f16\" or \"q8_0\"");
    }
    if (o.Has("ropeThetaLayers") && !o.Get("ropeThetaLayers").IsUndefined()) {
      Napi::Value v = o.Get("ropeThetaLayers");
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        throw Napi::TypeError::New(env, "ropeThetaLayers must be a Float32Array");
      Napi::Float32Array f = v.As<Napi::Float32Array>();
      p.layer_rope_theta.assign(f.Data(), f.Data() + f.ElementLength());
    }
    auto f32s = [&](const char* key, std::vector<float>* out) {
      if (!o.Has(key) || o.Get(key).IsUndefined()) return;
      Napi::Value v = o.Get(key);
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        throw Napi::TypeError::New(env, std::string(key) + " must be a Float32Array");
      Napi::Float32Array f = v.As<Napi::Float32Array>();
      out->assign(f.Data(), f.Data() + f.ElementLength());
    };
    f32s("ropeFreqFactors", &p.rope_freq_factors);
    f32s("ropeFreqScaleLayers", &p.layer_rope_freq_scale);
    f32s("ropeFreqFactorsLong", &p.rope_freq_factors_long);
    if (o.Has("ropeLongFrom") && !o.Get("ropeLongFrom").IsUndefined()) p.rope_long_from = get_int(o, "ropeLongFrom", 1, 1 << 30);
    if (o.Has("ropeAttnFactor") && !o.Get("ropeAttnFactor").IsUndefined()) p.rope_attn_factor = (float)get_number(o, "ropeAttnFactor");
    // tp: this model is one rank's shard (MPI initialized first: mpiInit); rank 0 leads, the others follow()
    const bool tp = o.Has("tp") && o.Get("tp").ToBoolean().Value();
    js_errors(env, [&] {
      if (tp && !comm::initialized()) throw std::runtime_error("tp needs MPI initialized first (mpiInit; the MPI build: npm run build:mpi)");
      model_ = std::make_shared<Model>(p);
    });
    lead_ = tp && comm::rank() == 0;
    follower_ = tp && !lead_;
    if (lead_) lead_opened();
  }
  ~NativeModel() override {
    if (lead_ && model_) lead_closed();
  }

 private:
  Model& model(Napi::Env env, bool for_write = true) {
    if (!model_) throw Napi::Error::New(env, "model is disposed");
    if (for_write && follower_ && model_->busy.load()) throw Napi::Error::New(env, "this rank's model follows rank 0 (tensor parallelism)");
    if (for_write && model_->busy.load()) throw Napi::Error::New(env, "model is busy with a forward step");
    return *model_;
  }

  Napi::Value AddWeight(const Napi::CallbackInfo& info) { return AddOrReplace(info, false); }
  // replaceWeight(name, dtype, bytes, rows, cols, format): addWeight's arguments
  // for a loaded weight of that shape; setGraph must follow (model.h)
  Napi::Value ReplaceWeight(const Napi::CallbackInfo& info) {
    if (model(info.Env()).busy.load()) throw Napi::Error::New(info.Env(), "cannot replace a weight during a forward step");
    return AddOrReplace(info, true);
  }

  Napi::Value AddOrReplace(const Napi::CallbackInfo& info, bool replace) {
    Model& m = model(info.Env());
    std::string name = arg_string(info, 0, "name");
    std::string dtype = arg_string(info, 1, "dtype");
    // bytes: a Uint8Array, or { file, offset, length }: a range of a file mapFile mapped
    const uint8_t* data = nullptr;
    size_t nbytes = 0;
    bool mapped = false;
    if (info.Length() > 2 && info[2].IsObject() && !info[2].IsTypedArray()) {
      Napi::Object r = info[2].As<Napi::Object>();
      const Napi::Value fv = r.Get("file"), ov = r.Get("offset"), lv = r.Get("length");
      if (!fv.IsNumber() || !ov.IsNumber() || !lv.IsNumber())
        throw Napi::TypeError::New(info.Env(), "bytes must be a Uint8Array or { file, offset, length } numbers");
      const double fid = fv.As<Napi::Number>().DoubleValue(), off = ov.As<Napi::Number>().DoubleValue(),
                   len = lv.As<Napi::Number>().DoubleValue();
      if (!(off >= 0 && len >= 0 && off <= 9007199254740991.0 && len <= 9007199254740991.0) || off != (double)(uint64_t)off ||
          len != (double)(uint64_t)len || fid != (double)(int)fid)
        throw Napi::RangeError::New(info.Env(), "bytes: file, offset and length must be non-negative integers");
      try {
        data = m.file((int)fid).range((uint64_t)off, (uint64_t)len);
      } catch (const std::exception& e) {
        throw Napi::RangeError::New(info.Env(), e.what());
      }
      nbytes = (size_t)len;
      mapped = true;
    } else {
      Napi::Uint8Array bytes = arg_typed<Napi::Uint8Array>(info, 2, "bytes");
      data = bytes.Data();
      nbytes = bytes.ByteLength();
    }
    int64_t rows = arg_int(info, 3, "rows", 1, (int64_t)1 << 40), cols = arg_int(info, 4, "cols", 1, (int64_t)1 << 40);
    if (info.Length() < 6) throw Napi::TypeError::New(info.Env(), "format must be a format name or spec");
    WSpec spec = spec_from_js(info.Env(), info[5]);  // the typed spec, checked once
    // optional 7th argument: static activation scale (q8 only); a non-number is rejected as -1
    const bool has_sc = info.Length() > 6 && !info[6].IsUndefined();
    const double sc = has_sc && info[6].IsNumber() ? info[6].As<Napi::Number>().DoubleValue() : -1;
    // optional 8th argument: a chosen int4 grid { scales, offsets: Float32Array [rows * groups] } (GPTQ: gptq.h)
    Q4Grid grid;
    const bool has_grid = info.Length() > 7 && !info[7].IsUndefined();
    if (has_grid) {
      if (!info[7].IsObject()) throw Napi::TypeError::New(info.Env(), "grid must be an object");
      Napi::Object g = info[7].As<Napi::Object>();
      for (const char* k : {"scales", "offsets"}) {
        Napi::Value v = g.Get(k);
        if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
          throw Napi::TypeError::New(info.Env(), std::string("grid.") + k + " must be a Float32Array");
      }
      Napi::Float32Array gs = g.Get("scales").As<Napi::Float32Array>(), go = g.Get("offsets").As<Napi::Float32Array>();
      if (gs.ElementLength() != go.ElementLength()) throw Napi::RangeError::New(info.Env(), "grid.scales and grid.offsets differ in length");
      grid = {gs.Data(), go.Data(), gs.ElementLength()};
      spec.grid = &grid;
    }
    // optional 9th argument: q8's whole-row max |w| of each row, Float32Array [rows] (row-parallel shards)
    if (info.Length() > 8 && !info[8].IsUndefined()) {
      if (!info[8].IsTypedArray() || info[8].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        throw Napi::TypeError::New(info.Env(), "rowAmax must be a Float32Array");
      Napi::Float32Array ra = info[8].As<Napi::Float32Array>();
      if (!spec.format || spec.format->id != WFormat::Q8) throw Napi::TypeError::New(info.Env(), "rowAmax applies to q8 weights only");
      if ((int64_t)ra.ElementLength() != rows) throw Napi::RangeError::New(info.Env(), "rowAmax must have one value per row");
      for (size_t j = 0; j < ra.ElementLength(); j++)
        if (!(std::isfinite(ra[j]) && ra[j] >= 0)) throw Napi::RangeError::New(info.Env(), "rowAmax values must be finite and >= 0");
      spec.row_amax = ra.Data();
    }
    try {
      auto w = make_weight_checked(name, dtype, data, nbytes, rows, cols, spec, has_sc ? &sc : nullptr, mapped);
      if (replace) m.replace_weight(std::move(w));
      else m.add_weight(std::move(w));
    } catch (const WeightArgTypeError& e) {
      throw Napi::TypeError::New(info.Env(), e.what());
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
    return info.Env().Undefined();
  }

  Napi::Value MapFile(const Napi::CallbackInfo& info) {
    Model& m = model(info.Env());
    const std::string path = arg_string(info, 0, "path");
    try {
      return Napi::Number::New(info.Env(), m.map_file(path));
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }

  Napi::Value AliasWeight(const Napi::CallbackInfo& info) {
    js_errors(info.Env(), [&] { model(info.Env()).alias_weight(arg_string(info, 0, "name"), arg_string(info, 1, "target")); });
    return info.Env().Undefined();
  }

  Napi::Value SetGraph(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "ops must be an array");
    Napi::Array arr = info[0].As<Napi::Array>();
    std::vector<OpSpec> specs;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value v = arr.Get(i);
      if (!v.IsObject()) throw Napi::TypeError::New(env, "op must be an object");
      Napi::Object o = v.As<Napi::Object>();
      OpSpec s;
      s.op = get_string(o, "op");
      s.a = opt_string(o, "a");
      s.b = opt_string(o, "b");
      s.out = opt_string(o, "out");
      s.weight = opt_string(o, "weight");
      s.layer = opt_int(o, "layer", -1);
      s.heads = opt_int(o, "heads", 0);
      s.eps = (float)opt_number(o, "eps", 0);
      s.bias = opt_string(o, "bias");
      s.mode = opt_string(o, "mode");
      s.dims = opt_int(o, "dims", 0);
      s.window = opt_int(o, "window", 0);
      s.offset = opt_int(o, "offset", 0);
      s.scale = (float)opt_number(o, "scale", 0);
      s.softcap = (float)opt_number(o, "softcap", 0);
      s.alibi = (float)opt_number(o, "alibi", 0);
      s.vocab = opt_int(o, "vocab", 0);
      s.alibi_heads = opt_int(o, "alibiHeads", 0);
      specs.push_back(s);
    }
    js_errors(env, [&] { model(env).set_graph(specs, arg_string(info, 1, "output")); });
    return env.Undefined();
  }

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    model(env);
    if (follower_) throw Napi::Error::New(env, "this rank's model follows rank 0 (tensor parallelism): call follow()");
    Napi::Int32Array tok = arg_typed<Napi::Int32Array>(info, 0, "tokens");
    Napi::Int32Array pos = arg_typed<Napi::Int32Array>(info, 1, "positions");
    if (tok.ElementLength() != pos.ElementLength()) throw Napi::RangeError::New(env, "tokens and positions differ in length");
    if (tok.ElementLength() == 0) throw Napi::RangeError::New(env, "forward needs at least one token");
    bool all = info.Length() > 2 && info[2].ToBoolean().Value();
    std::vector<int32_t> targets;
    bool has_targets = info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsNull();
    if (has_targets) {
      Napi::Int32Array t = arg_typed<Napi::Int32Array>(info, 3, "targets");
      size_t need = all ? tok.ElementLength() : 1;
      if (t.ElementLength() != need) throw Napi::RangeError::New(env, "targets must have one id per output row");
      targets.assign(t.Data(), t.Data() + need);
    }
    Napi::Float32Array out;
    if (info.Length() > 4 && !info[4].IsUndefined() && !info[4].IsNull()) {
      out = arg_typed<Napi::Float32Array>(info, 4, "out");
      size_t rows = all ? tok.ElementLength() : 1;
      size_t want = has_targets ? rows : rows * (size_t)model_->vocab();
      if (out.ElementLength() != want) throw Napi::RangeError::New(env, "out must have exactly " + std::to_string(want) + " elements");
    }
    model_->busy.store(true);
    auto* w = new ForwardWorker(env, model_, std::vector<int32_t>(tok.Data(), tok.Data() + tok.ElementLength()),
                                std::vector<int32_t>(pos.Data(), pos.Data() + pos.ElementLength()), all,
                                std::move(targets), has_targets, out, lead_);
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }

  // The KV slot named by argument i (absent or undefined: slot 0).
  KVCache& slot_arg(const Napi::CallbackInfo& info, size_t i, bool for_write = true) {
    Model& m = model(info.Env(), for_write);
    if (info.Length() <= i || info[i].IsUndefined()) return m.cache();
    const int s = (int)check_int(info.Env(), info[i], "slot", 0, m.slots() - 1);
    return m.cache(s);
  }

  Napi::Value CacheSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), slot_arg(info, 0, false).size());
  }

  Napi::Value CachePositions(const Napi::CallbackInfo& info) {
    KVCache& c = slot_arg(info, 0);
    Napi::Int32Array a = Napi::Int32Array::New(info.Env(), c.size());
    std::memcpy(a.Data(), c.positions(), c.size() * sizeof(int32_t));
    return a;
  }

  Napi::Value Rollback(const Napi::CallbackInfo& info) {
    KVCache& c = slot_arg(info, 1);
    try {
      const int n = (int)arg_int(info, 0, "n", 0, c.size());
      if (lead_) lead_rollback(*model_, n);
      else c.rollback(n);
    } catch (const std::exception& e) {
      throw Napi::RangeError::New(info.Env(), e.what());
    }
    return info.Env().Undefined();
  }

  Napi::Value Drop(const Napi::CallbackInfo& info) {
    KVCache& c = slot_arg(info, 3);
    try {
      const int start = (int)arg_int(info, 0, "start", 0, c.size()), count = (int)arg_int(info, 1, "count", 0, c.size());
      const int shift = (int)arg_int(info, 2, "shift", -(1 << 24), 1 << 24);
      if (lead_) lead_drop(*model_, start, count, shift);
      else c.drop(start, count, shift);
    } catch (const std::exception& e) {
      throw Napi::RangeError::New(info.Env(), e.what());
    }
    return info.Env().Undefined();
  }

  Napi::Value ClearCache(const Napi::CallbackInfo& info) {
    KVCache& c = slot_arg(info, 0);
    if (lead_) lead_clear(*model_);
    else c.clear();
    return info.Env().Undefined();
  }

  Napi::Value SetSlots(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Model& m = model(env);
    const int n = (int)arg_int(info, 0, "slots", 1, 4096);
    if ((lead_ || follower_) && n != 1) throw Napi::Error::New(env, "a tensor-parallel model has one KV slot");
    js_errors(env, [&] { m.set_slots(n); });
    return env.Undefined();
  }

  Napi::Value ForwardBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    model(env);
    if (lead_ || follower_) throw Napi::Error::New(env, "a tensor-parallel model runs one sequence: use forward()");
    Napi::Int32Array sl = arg_typed<Napi::Int32Array>(info, 0, "slots");
    Napi::Int32Array cn = arg_typed<Napi::Int32Array>(info, 1, "counts");
    Napi::Uint8Array al = arg_typed<Napi::Uint8Array>(info, 2, "all");
    Napi::Int32Array tok = arg_typed<Napi::Int32Array>(info, 3, "tokens");
    Napi::Int32Array pos = arg_typed<Napi::Int32Array>(info, 4, "positions");
    const size_t k = sl.ElementLength();
    if (k == 0) throw Napi::RangeError::New(env, "a batched step needs at least one sequence");
    if (cn.ElementLength() != k || al.ElementLength() != k)
      throw Napi::RangeError::New(env, "slots, counts and all differ in length");
    if (tok.ElementLength() != pos.ElementLength()) throw Napi::RangeError::New(env, "tokens and positions differ in length");
    std::vector<Segment> segs(k);
    int64_t total = 0, rows = 0;
    for (size_t i = 0; i < k; i++) {
      if (cn[i] < 1) throw Napi::RangeError::New(env, "every count must be >= 1");
      segs[i] = Segment{sl[i], cn[i], al[i] != 0};
      total += cn[i];
      rows += al[i] ? cn[i] : 1;
    }
    if (total != (int64_t)tok.ElementLength()) throw Napi::RangeError::New(env, "the counts must sum to the number of tokens");
    Napi::Float32Array out;
    if (info.Length() > 5 && !info[5].IsUndefined() && !info[5].IsNull()) {
      out = arg_typed<Napi::Float32Array>(info, 5, "out");
      const size_t want = (size_t)rows * (size_t)model_->vocab();
      if (out.ElementLength() != want) throw Napi::RangeError::New(env, "out must have exactly " + std::to_string(want) + " elements");
    }
    model_->busy.store(true);
    auto* w = new BatchWorker(env, model_, std::vector<int32_t>(tok.Data(), tok.Data() + tok.ElementLength()),
                              std::vector<int32_t>(pos.Data(), pos.Data() + pos.ElementLength()), std::move(segs), out);
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Model& m = model(info.Env(), false);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("kernels", m.kernels().name);
    o.Set("threads", m.threads());
    o.Set("weightBytes", (double)m.weight_bytes());
    o.Set("mappedBytes", (double)m.mapped_weight_bytes());
    o.Set("cacheBytes", (double)m.cache_bytes());
    o.Set("slots", m.slots());
    o.Set("kvType", kv_type_name(m.cache().type()));
    o.Set("nCtx", m.cache().capacity());
    return o;
  }

  // Per matrix: format, shape, and for w4a8 the group size, the Integer Scale
  // amplifier and int32 bound, and the squared weight error sums.
  Napi::Value WeightStats(const Napi::CallbackInfo& info) {
    Model& m = model(info.Env(), false);
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    for (const auto& kv : m.weights()) {
      const Weight& w = *kv.second;
      if (!w.matrix) continue;
      Napi::Object e = Napi::Object::New(env);
      e.Set("format", w.fmt->name);
      e.Set("rows", (double)w.rows);
      e.Set("cols", (double)w.cols);
      e.Set("bytes", (double)w.bytes());
      if (w.format == WFormat::Q4A8) {
        const Q4A8Weight& q = as_q4a8(w);
        e.Set("group", (double)q.group);
        e.Set("amplifier", q.amplifier);
        e.Set("isBound", (double)q.is_bound);
        if (q.sse_float >= 0) e.Set("sseFloat", q.sse_float);
        if (q.sse_int >= 0) e.Set("sseInt", q.sse_int);
      }
      o.Set(kv.first, e);
    }
    return o;
  }

  // collectStats(on, { histograms?, sampleStride?, sampleCap?, hessian?, prefix? }): act_stats.h
  Napi::Value CollectStats(const Napi::CallbackInfo& info) {
    Model& m = model(info.Env());
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsBoolean()) throw Napi::TypeError::New(env, "on must be a boolean");
    ActStatsOptions o;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      if (!info[1].IsObject()) throw Napi::TypeError::New(env, "stats options must be an object");
      Napi::Object opt = info[1].As<Napi::Object>();
      auto count = [&](const char* key, int64_t max) -> int64_t {
        Napi::Value v = opt.Get(key);
        if (v.IsUndefined()) return 0;
        const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
        if (!(d >= 0 && d <= (double)max) || d != std::floor(d))
          throw Napi::RangeError::New(env, std::string(key) + " must be an integer in [0, " + std::to_string(max) + "]");
        return (int64_t)d;
      };
      o.histograms = opt.Get("histograms").ToBoolean().Value();
      o.sample_stride = count("sampleStride", 1LL << 40);
      o.sample_cap = count("sampleCap", 1LL << 24);
      o.hessian = opt.Get("hessian").ToBoolean().Value();
      Napi::Value pre = opt.Get("prefix");
      if (!pre.IsUndefined()) {
        if (!pre.IsString()) throw Napi::TypeError::New(env, "prefix must be a string");
        o.prefix = pre.As<Napi::String>().Utf8Value();
      }
    }
    const bool on = info[0].As<Napi::Boolean>().Value();
    m.set_collect_stats(on, o);
    if (on) m.clear_stats();
    return env.Undefined();
  }

  static Napi::Float64Array to_f64(Napi::Env env, const std::vector<double>& v) {
    Napi::Float64Array a = Napi::Float64Array::New(env, v.size());
    std::copy(v.begin(), v.end(), a.Data());
    return a;
  }

  // weight name -> the ActStats entry of its input (a fused matmul's weights share one)
  template <class F>
  static void each_stats(const Model& m, F f) {
    for (const auto& kv : m.activation_stats()) f(kv.first, kv.second);
    for (const auto& kv : m.activation_stats_aliases()) f(kv.first, m.activation_stats().at(kv.second));
  }

  Napi::Value ActivationStats(const Napi::CallbackInfo& info) {
    Model& m = model(info.Env());
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    each_stats(m, [&](const std::string& name, const ActStats& s) {
      Napi::Float32Array a = Napi::Float32Array::New(env, s.colmax.size());
      std::copy(s.colmax.begin(), s.colmax.end(), a.Data());
      o.Set(name, a);
    });
    return o;
  }

  // weight name -> { cols, rowsSeen, hist, tokmax (Float64Array, empty without
  // histograms), sample (Float32Array [rows, cols]) }
  Napi::Value ActivationDetail(const Napi::CallbackInfo& info) {
    Model& m = model(info.Env());
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    auto f64 = [&](const std::vector<double>& v) { return to_f64(env, v); };
    each_stats(m, [&](const std::string& name, const ActStats& s) {
      Napi::Object e = Napi::Object::New(env);
      e.Set("cols", (double)s.cols);
      e.Set("rowsSeen", (double)s.rows_seen);
      e.Set("hist", f64(s.hist));
      e.Set("tokmax", f64(s.tokmax));
      Napi::Float32Array a = Napi::Float32Array::New(env, s.sample.size());
      std::copy(s.sample.begin(), s.sample.end(), a.Data());
      e.Set("sample", a);
      o.Set(name, e);
    });
    return o;
  }

  // weight name -> { cols, rowsSeen, hessian: Float64Array [cols * cols] (X^T X),
  // absSum: Float64Array [cols] } of the inputs recorded with hessian on (act_hessian.h)
  Napi::Value ActivationHessians(const Napi::CallbackInfo& info) {
    Model& m = model(info.Env());
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    auto f64 = [&](const std::vector<double>& v) { return to_f64(env, v); };
    // one object per input; the weights of a fused matmul share it (no copy per alias)
    for (const auto& kv : m.activation_stats()) {
      const ActStats& s = kv.second;
      if (s.hess.empty()) continue;
      Napi::Object e = Napi::Object::New(env);
      e.Set("cols", (double)s.cols);
      e.Set("rowsSeen", (double)s.rows_seen);
      e.Set("hessian", f64(s.hess));
      e.Set("absSum", f64(s.abssum));
      o.Set(kv.first, e);
    }
    for (const auto& kv : m.activation_stats_aliases())
      if (o.Has(kv.second)) o.Set(kv.first, o.Get(kv.second));
    return o;
  }

  Napi::Value ListWeights(const Napi::CallbackInfo& info) { return lowbit::ListWeights(model(info.Env(), false), info); }
  Napi::Value ExportWeight(const Napi::CallbackInfo& info) { return lowbit::ExportWeight(model(info.Env(), false), info); }
  Napi::Value ExportWeightBuffer(const Napi::CallbackInfo& info) {
    return lowbit::ExportWeightBuffer(model(info.Env(), false), info);
  }
  Napi::Value ImportWeight(const Napi::CallbackInfo& info) { return lowbit::ImportWeight(model(info.Env()), info); }
  Napi::Value GgmlBytes(const Napi::CallbackInfo& info) { return GgmlWeightBytes(model(info.Env(), false), info); }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (model_ && model_->busy.load()) throw Napi::Error::New(info.Env(), "cannot dispose during a forward step");
    if (lead_ && model_) lead_closed();  // the followers' follow() ends
    model_.reset();  // an in-flight worker would hold its own reference
    return info.Env().Undefined();
  }

  // ranks > 0 of a tensor-parallel job: rank 0's steps until it stops (tp_step.h)
  Napi::Value Follow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    model(env);
    if (!follower_) throw Napi::Error::New(env, "follow() is for a tp model on a rank > 0");
    return FollowModel(env, model_);
  }

  std::shared_ptr<Model> model_;
  bool lead_ = false, follower_ = false;
};

Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("features", cpu_features_string());
  o.Set("physicalCores", cpu().physical_cores);
  o.Set("logicalCores", cpu().logical_cores);
  o.Set("kernels", kernels_best().name);
  return o;
}

// argmax over a Float32Array (lowest index on ties; NaN never wins unless all
// are NaN): the per-token hot loop of greedy sampling, ~10x faster than JS.
Napi::Value Argmax(const Napi::CallbackInfo& info) {
  Napi::Float32Array x = arg_typed<Napi::Float32Array>(info, 0, "x");
  const float* p = x.Data();
  const size_t n = x.ElementLength();
  size_t best = 0;
  float bv = -INFINITY;
  for (size_t i = 0; i < n; i++)
    if (p[i] > bv) {
      bv = p[i];
      best = i;
    }
  return Napi::Number::New(info.Env(), (double)best);
}

// The largest softmax probability of a Float32Array of logits, 1 / sum(exp(x - max)):
// the draft's confidence in assisted generation (about 20 us for a 32k vocabulary).
// NaN when no entry is finite.
Napi::Value TopProb(const Napi::CallbackInfo& info) {
  Napi::Float32Array x = arg_typed<Napi::Float32Array>(info, 0, "x");
  const int64_t n = (int64_t)x.ElementLength();
  const KernelTable& kt = kernels_best();
  const float mx = n ? kt.max_f32(x.Data(), n) : -INFINITY;
  if (!std::isfinite(mx)) return Napi::Number::New(info.Env(), NAN);
  thread_local AlignedBuf buf;
  buf.reserve((size_t)n * sizeof(float));
  std::memcpy(buf.data(), x.Data(), (size_t)n * sizeof(float));
  return Napi::Number::New(info.Env(), 1.0 / kt.exp_sum_f32(buf.as<float>(), n, mx));
}

Napi::Value MeasureBandwidth(const Napi::CallbackInfo& info) {
  int threads = (int)arg_int(info, 0, "threads", 1, 256);
  int mbytes = (int)arg_int(info, 1, "mbytes", 1, 1 << 16);
  int reps = (int)arg_int(info, 2, "reps", 1, 1000);
  return Napi::Number::New(info.Env(), measure_read_bandwidth(threads, mbytes, reps));
}

// measureComputePeak(kind: "fp32" | "bf16" | "int8", threads, ms, reps) -> { gops, isa }
Napi::Value MeasureComputePeak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "kind must be \"fp32\", \"bf16\" or \"int8\"");
  const std::string k = info[0].As<Napi::String>().Utf8Value();
  PeakKind kind;
  if (k == "fp32") kind = PeakKind::Fp32Fma;
  else if (k == "bf16") kind = PeakKind::Bf16Dot;
  else if (k == "int8") kind = PeakKind::Int8Dot;
  else throw Napi::TypeError::New(env, "kind must be \"fp32\", \"bf16\" or \"int8\"");
  const int threads = (int)arg_int(info, 1, "threads", 1, 256);
  const int ms = (int)arg_int(info, 2, "ms", 1, 10000);
  const int reps = (int)arg_int(info, 3, "reps", 1, 100);
  const PeakResult r = measure_compute_peak(kind, threads, ms, reps);
  Napi::Object o = Napi::Object::New(env);
  o.Set("gops", r.gops);
  o.Set("isa", r.isa);
  return o;
}

}  // namespace

}  // namespace lowbit

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  using namespace lowbit;
  exports.Set("NativeModel", NativeModel::Init(env));
  export_functions(env, exports,
                   {{"cpuInfo", CpuInfo}, {"measureBandwidth", MeasureBandwidth},
                    {"measureComputePeak", MeasureComputePeak}, {"argmax", Argmax}, {"topProb", TopProb},
                    {"weightLayout", WeightLayout}, {"formatLayout", FormatLayout}, {"canShard", CanShard},
                    {"ggmlDequantize", GgmlDequantize}, {"ggmlQuantize", GgmlQuantize},
                    {"gptqQuantize", GptqQuantize}, {"q4OutputError", Q4OutputError}});
  InitTp(env, exports);
  return exports;
}

NODE_API_MODULE(lowbit, InitModule)
