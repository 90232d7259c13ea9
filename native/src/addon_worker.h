// A model's work on a libuv worker thread, settling a promise: run() executes
// there (a std::exception it throws rejects the promise with its message), the
// model's busy flag is released after it either way, and resolve() builds the
// resolved value on the JS thread.
#pragma once
#include <napi.h>

#include <exception>
#include <memory>

#include "model.h"

namespace lowbit {

class ModelWorker : public Napi::AsyncWorker {
 public:
  ModelWorker(Napi::Env env, std::shared_ptr<Model> model)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), model_(std::move(model)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      run(*model_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
    model_->busy.store(false);
  }
  void OnOK() override { deferred_.Resolve(resolve(Env())); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 protected:
  virtual void run(Model& model) = 0;
  virtual Napi::Value resolve(Napi::Env env) = 0;

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Model> model_;
};

}  // namespace lowbit
