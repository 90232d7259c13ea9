// N-API surface of tensor parallelism (comm.h, tp_step.h):
//   mpiAvailable() -> boolean (this addon was built with MPI: npm run build:mpi)
//   mpiInit() -> { rank, size } (MPI_Init once; throws in a build without MPI)
//   mpiAgree(lo: number, hi: number) -> boolean (every rank passed the same two 32-bit words)
//   mpiFinalize()
//   mpiGather(x: number) -> number[] (every rank's x, by rank)
//   mpiAbort(code) (MPI_Abort: every rank ends with this code)
//   NativeModel#follow() -> Promise<number> (ranks > 0: rank 0's steps until it stops)
#pragma once
#include <napi.h>

#include <memory>

#include "model.h"

namespace lowbit {

void InitTp(Napi::Env env, Napi::Object exports);
// A promise of follow(model) on a libuv worker (the steps executed).
Napi::Value FollowModel(Napi::Env env, std::shared_ptr<Model> model);
// A lead model (tp on rank 0) was created / went away (its Stop is sent then).
void lead_opened();
void lead_closed();

}  // namespace lowbit
