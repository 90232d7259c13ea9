// The test-only addon lowbit_test.node (addon_kernels.h): the kernel hooks
// the tests compare SIMD variants with, kept out of the production addon.
#include <napi.h>

#include "addon_kernels.h"

static Napi::Object InitTestModule(Napi::Env env, Napi::Object exports) {
  exports.Set("runKernel", Napi::Function::New(env, lowbit::RunKernel));
  return exports;
}

NODE_API_MODULE(lowbit_test, InitTestModule)
