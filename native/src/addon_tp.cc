#include "addon_tp.h"

#include "addon_util.h"
#include "comm.h"
#include "tp_step.h"

namespace lowbit {

namespace {

int g_leads = 0;  // rank 0's tensor-parallel models that have not sent Stop

class FollowWorker : public Napi::AsyncWorker {
 public:
  FollowWorker(Napi::Env env, std::shared_ptr<Model> m)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), model_(std::move(m)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      steps_ = follow(*model_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
    model_->busy.store(false);
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), (double)steps_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Model> model_;
  int64_t steps_ = 0;
};

Napi::Value MpiAvailable(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), comm::available()); }

Napi::Value MpiInit(const Napi::CallbackInfo& info) {
  try {
    comm::init();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("rank", comm::rank());
    o.Set("size", comm::size());
    return o;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

Napi::Value MpiAgree(const Napi::CallbackInfo& info) {
  const uint64_t lo = (uint64_t)arg_int(info, 0, "lo", 0, 0xffffffffLL), hi = (uint64_t)arg_int(info, 1, "hi", 0, 0xffffffffLL);
  try {
    uint64_t mn = 0, mx = 0;
    comm::all_min_max(hi << 32 | lo, &mn, &mx);
    return Napi::Boolean::New(info.Env(), mn == mx);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

Napi::Value MpiGather(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "value must be a number");
  try {
    const std::vector<double> v = comm::all_gather_f64(info[0].As<Napi::Number>().DoubleValue());
    Napi::Array a = Napi::Array::New(info.Env(), v.size());
    for (size_t i = 0; i < v.size(); i++) a.Set((uint32_t)i, v[i]);
    return a;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
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
  exports.Set("mpiAvailable", Napi::Function::New(env, MpiAvailable));
  exports.Set("mpiInit", Napi::Function::New(env, MpiInit));
  exports.Set("mpiAgree", Napi::Function::New(env, MpiAgree));
  exports.Set("mpiFinalize", Napi::Function::New(env, MpiFinalize));
  exports.Set("mpiGather", Napi::Function::New(env, MpiGather));
  exports.Set("mpiAbort", Napi::Function::New(env, MpiAbort));
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
