#include "addon_tp.h"

#include "addon_util.h"
#include "addon_worker.h"
#include "comm.h"
#include "tp_step.h"
#include "weights.h"

#include <cmath>
#include <stdexcept>
#include <vector>

namespace lowbit {

namespace {

int g_leads = 0;  // rank 0's tensor-parallel models that have not sent Stop

// follow(model) on a libuv worker; resolves to the steps executed.
class FollowWorker : public ModelWorker {
 public:
  using ModelWorker::ModelWorker;

 protected:
  void run(Model& model) override { steps_ = follow(model); }
  Napi::Value resolve(Napi::Env env) override { return Napi::Number::New(env, (double)steps_); }

 private:
  int64_t steps_ = 0;
};

Napi::Value MpiAvailable(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), comm::available()); }

Napi::Value MpiInit(const Napi::CallbackInfo& info) {
  return js_errors(info.Env(), [&] {
    comm::init();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("rank", comm::rank());
    o.Set("size", comm::size());
    return o;
  });
}

Napi::Value MpiAgree(const Napi::CallbackInfo& info) {
  const uint64_t lo = (uint64_t)arg_int(info, 0, "lo", 0, 0xffffffffLL), hi = (uint64_t)arg_int(info, 1, "hi", 0, 0xffffffffLL);
  return js_errors(info.Env(), [&] {
    uint64_t mn = 0, mx = 0;
    comm::all_min_max(hi << 32 | lo, &mn, &mx);
    return Napi::Boolean::New(info.Env(), mn == mx);
  });
}

Napi::Value MpiGather(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "value must be a number");
  return js_errors(info.Env(), [&] {
    const std::vector<double> v = comm::all_gather_f64(info[0].As<Napi::Number>().DoubleValue());
    Napi::Array a = Napi::Array::New(info.Env(), v.size());
    for (size_t i = 0; i < v.size(); i++) a.Set((uint32_t)i, v[i]);
    return a;
  });
}

// Collective: (dtype, bytes, rows, cols) of this rank's columns of a row-major [rows, cols]
// tensor -> Float32Array [rows], each row's max |x| over every rank's columns (the whole
// row's: q8's weight scale of a row-parallel shard, addWeight's rowAmax).
Napi::Value MpiRowAmax(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string dtype = arg_string(info, 0, "dtype");
  Napi::Uint8Array bytes = arg_typed<Napi::Uint8Array>(info, 1, "bytes");
  const int64_t rows = arg_int(info, 2, "rows", 1, (int64_t)1 << 40), cols = arg_int(info, 3, "cols", 1, (int64_t)1 << 40);
  SrcDtype src;
  if (!parse_src_dtype(dtype, &src) || src == SrcDtype::KQuant) throw Napi::TypeError::New(env, "unsupported dtype " + dtype);
  return js_errors(env, [&]() -> Napi::Value {
    if (bytes.ByteLength() != src_bytes("rowAmax", src, rows, cols)) throw std::invalid_argument("bytes do not match rows x cols of " + dtype);
    Napi::Float32Array out = Napi::Float32Array::New(env, (size_t)rows);
    std::vector<float> row((size_t)cols);
    for (int64_t j = 0; j < rows; j++) {
      src_row_f32(src, bytes.Data(), j, cols, row.data());
      float amax = 0;
      for (float v : row) amax = std::fmax(amax, std::fabs(v));
      out[j] = amax;
    }
    comm::all_reduce_max(out.Data(), (size_t)rows);
    return out;
  });
}

Napi::Value MpiAbort(const Napi::CallbackInfo& info) {
  const int code = (int)arg_int(info, 0, "code", 0, 255);
  if (comm::initialized()) comm::abort_job(code);
  return info.Env().Undefined();
}

Napi::Value MpiFinalize(const Napi::CallbackInfo& info) {
  if (g_leads > 0) throw Napi::Error::New(info.Env(), "dispose the tensor-parallel model before mpiFinalize");
  comm::finalize();
  return info.Env().Undefined();
}

}  // namespace

void lead_opened() { g_leads++; }
void lead_closed() {
  if (g_leads > 0 && comm::initialized()) {
    g_leads--;
    lead_stop();
  }
}

Napi::Value FollowModel(Napi::Env env, std::shared_ptr<Model> model) {
  model->busy.store(true);
  auto* w = new FollowWorker(env, std::move(model));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

void InitTp(Napi::Env env, Napi::Object exports) {
  export_functions(env, exports,
                   {{"mpiAvailable", MpiAvailable}, {"mpiInit", MpiInit}, {"mpiAgree", MpiAgree},
                    {"mpiFinalize", MpiFinalize}, {"mpiGather", MpiGather}, {"mpiAbort", MpiAbort},
                    {"mpiRowAmax", MpiRowAmax}});
  // At exit: a lead model still open tells its followers to stop, then MPI ends
  // (a rank leaving without MPI_Finalize makes mpirun abort the job).
  napi_add_env_cleanup_hook(
      env,
      [](void*) {
        while (g_leads > 0 && comm::initialized()) lead_closed();
        comm::finalize();
      },
      nullptr);
}

}  // namespace lowbit
