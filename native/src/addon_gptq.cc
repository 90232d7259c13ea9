#include "addon_gptq.h"

#include <cstring>
#include <mutex>
#include <vector>

#include "addon_io.h"
#include "addon_util.h"
#include "gptq.h"
#include "kernels/ggml.h"
#include "weights.h"

namespace lowbit {

namespace {

// The GPTQ grid of a native format spec, for a matrix of `cols` inputs.
GptqGrid grid_of(Napi::Env env, Napi::Value format, int64_t cols) {
  const WSpec w = spec_from_js(env, format);
  const WFormat id = w.format ? w.format->id : WFormat::F32;
  GptqGrid g;
  if (id == WFormat::KQuant && std::strcmp(w.format->name, "q4_k") == 0) {
    if (cols % 256) throw Napi::RangeError::New(env, "q4_k needs cols to be a multiple of 256");
    g.q4_k = true;
    g.group = 32;
    return g;
  }
  if (!(id == WFormat::Q4 || id == WFormat::Q4A8 || id == WFormat::Q4_0))
    throw Napi::TypeError::New(env, "format must be an int4 format (q4, q4a8, q4_0, q4_k)");
  g.q4_0 = id == WFormat::Q4_0;
  g.asym = w.asym;
  g.group = g.q4_0 ? kQK : w.group ? w.group : (cols + 31) / 32 * 32;
  if (g.q4_0 && cols % kQK) throw Napi::RangeError::New(env, "q4_0 needs cols to be a multiple of 32");
  return g;
}

struct Args {
  Napi::Float32Array W;
  Napi::Float64Array H;
  int64_t rows, cols;
  GptqGrid g;
};

Args args(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a{arg_typed<Napi::Float32Array>(info, 0, "W"), arg_typed<Napi::Float64Array>(info, 3, "H"),
         arg_int(info, 1, "rows", 1, (int64_t)1 << 31), arg_int(info, 2, "cols", 1, (int64_t)1 << 16), {}};
  if ((double)a.W.ElementLength() != (double)a.rows * (double)a.cols) throw Napi::RangeError::New(env, "W must hold rows * cols values");
  if ((double)a.H.ElementLength() != (double)a.cols * (double)a.cols) throw Napi::RangeError::New(env, "H must hold cols * cols values");
  if (info.Length() < 5) throw Napi::TypeError::New(env, "format must be a format name or spec");
  a.g = grid_of(env, info[4], a.cols);
  return a;
}

}  // namespace

Napi::Value GptqQuantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a = args(info);
  Napi::Object o = arg_object(info, 5, "options");
  GptqOptions go;
  go.act_order = o.Get("actOrder").ToBoolean().Value();
  go.damp = opt_number(o, "damp", 0.01);
  if (!(go.damp > 0 && go.damp <= 1)) throw Napi::RangeError::New(env, "damp must be in (0, 1]");
  auto pool = ThreadPool::shared(get_int(o, "threads", 1, 256));
  const int64_t ng = gptq_groups(a.cols, a.g);
  Napi::Float32Array w = Napi::Float32Array::New(env, (size_t)(a.rows * a.cols));
  Napi::Float32Array s = Napi::Float32Array::New(env, (size_t)(a.rows * ng)), off = Napi::Float32Array::New(env, (size_t)(a.rows * ng));
  std::copy(a.W.Data(), a.W.Data() + a.rows * a.cols, w.Data());
  Napi::Uint8Array kb;
  if (a.g.q4_k) kb = Napi::Uint8Array::New(env, (size_t)(a.rows * (a.cols / 256) * 144));
  try {
    std::lock_guard<std::mutex> step(pool->step_lock());  // not while a model's step runs on the pool
    gptq_quantize(*pool, w.Data(), a.rows, a.cols, a.H.Data(), a.g, go, s.Data(), off.Data(), a.g.q4_k ? kb.Data() : nullptr);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("weights", w);
  r.Set("scales", s);
  r.Set("offsets", off);
  if (a.g.q4_0) {  // GGUF Q4_0 blocks: f16 d, qs[16] (low nibbles: values 0..15, high: 16..31)
    Napi::Uint8Array b = Napi::Uint8Array::New(env, (size_t)(a.rows * ng * 18));
    for (int64_t j = 0; j < a.rows; j++)
      for (int64_t gi = 0; gi < ng; gi++) {
        uint8_t* blk = b.Data() + (j * ng + gi) * 18;
        const float d = s.Data()[j * ng + gi], od = off.Data()[j * ng + gi];
        const uint16_t h = f32_to_f16_scalar(d);
        blk[0] = (uint8_t)(h & 255), blk[1] = (uint8_t)(h >> 8);
        const float* x = w.Data() + j * a.cols + gi * 32;
        for (int t = 0; t < 16; t++) blk[2 + t] = (uint8_t)(gptq_code(x[t], d, od, a.g) | gptq_code(x[t + 16], d, od, a.g) << 4);
      }
    r.Set("blocks", b);
  }
  if (a.g.q4_k) r.Set("blocks", kb);  // GGUF Q4_K blocks (q4_k.h), rows of cols / 256
  return r;
}

Napi::Value Q4OutputError(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args a = args(info);
  const float* s = nullptr;
  if (info.Length() > 5 && !info[5].IsUndefined()) {
    Napi::Float32Array sa = arg_typed<Napi::Float32Array>(info, 5, "s");
    if ((int64_t)sa.ElementLength() != a.cols) throw Napi::RangeError::New(env, "s must hold cols values");
    s = sa.Data();
  }
  Napi::Object o = arg_object(info, 6, "options");
  auto pool = ThreadPool::shared(get_int(o, "threads", 1, 256));
  const KernelTable* kt = kernels_by_name(get_string(o, "kernels").c_str());
  if (!kt) throw Napi::Error::New(env, "kernels variant not supported on this CPU");
  std::lock_guard<std::mutex> step(pool->step_lock());
  return Napi::Number::New(env, q4_output_error(*pool, *kt, a.W.Data(), a.rows, a.cols, a.H.Data(), s, a.g));
}

}  // namespace lowbit
