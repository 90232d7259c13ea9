// comm.h over MPI_COMM_WORLD (LOWBIT_MPI), or stubs that name the MPI build.
#include "comm.h"

#include <stdexcept>
#include <string>

#ifdef LOWBIT_MPI
#include <dlfcn.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#endif

namespace lowbit::comm {

#ifndef LOWBIT_MPI

namespace {
[[noreturn]] void unavailable() {
  throw std::runtime_error("tensor parallelism needs the MPI build of the addon (npm run build:mpi, started under mpirun)");
}
}  // namespace

bool available() { return false; }
void init() { unavailable(); }
bool initialized() { return false; }
void finalize() {}
int rank() { unavailable(); }
int size() { unavailable(); }
void all_reduce_sum(float*, size_t) { unavailable(); }
void all_reduce_max(float*, size_t) { unavailable(); }
void all_reduce_sum_i32(int32_t*, size_t) { unavailable(); }
void all_gather_cols(const float*, int64_t, int64_t, float*, std::vector<float>&) { unavailable(); }
void bcast(void*, size_t) { unavailable(); }
void bcast_idle(void*, size_t) { unavailable(); }
void all_min_max(uint64_t, uint64_t*, uint64_t*) { unavailable(); }
std::vector<double> all_gather_f64(double) { unavailable(); }
void abort_job(int) { unavailable(); }

#else

namespace {
bool g_init = false, g_final = false;
int g_rank = 0, g_size = 1;

void need_init() {
  if (!g_init || g_final) throw std::runtime_error("MPI is not initialized (start the job under mpirun with --tp)");
}
void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw std::runtime_error(std::string(what) + " failed (MPI error " + std::to_string(rc) + ")");
}
// MPI counts are int: split larger transfers.
constexpr size_t kChunk = (size_t)1 << 30;
}  // namespace

bool available() { return true; }
bool initialized() { return g_init && !g_final; }

void init() {
  if (g_init) {
    if (g_final) throw std::runtime_error("MPI was finalized and cannot be initialized again");
    return;
  }
  // Node loads this addon with RTLD_LOCAL; Open MPI's plugins (dlopened by
  // libmpi) need libmpi's symbols global, or MPI_Init fails to open them.
  dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
  if (provided < MPI_THREAD_SERIALIZED) throw std::runtime_error("MPI does not provide MPI_THREAD_SERIALIZED");
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  g_init = true;
}

void finalize() {
  if (!g_init || g_final) return;
  g_final = true;
  MPI_Finalize();
}

int rank() {
  need_init();
  return g_rank;
}
int size() {
  need_init();
  return g_size;
}

// x = op over the ranks of x, in place, in chunks of MPI's int counts
template <class T>
void all_reduce(T* x, size_t n, MPI_Datatype type, MPI_Op op) {
  need_init();
  if (g_size == 1) return;
  for (size_t at = 0; at < n; at += kChunk) {
    const int c = (int)std::min(kChunk, n - at);
    check(MPI_Allreduce(MPI_IN_PLACE, x + at, c, type, op, MPI_COMM_WORLD), "MPI_Allreduce");
  }
}

void all_reduce_sum(float* x, size_t n) { all_reduce(x, n, MPI_FLOAT, MPI_SUM); }

void all_reduce_max(float* x, size_t n) { all_reduce(x, n, MPI_FLOAT, MPI_MAX); }

void all_reduce_sum_i32(int32_t* x, size_t n) { all_reduce(x, n, MPI_INT32_T, MPI_SUM); }

void all_gather_cols(const float* part, int64_t rows, int64_t cols, float* out, std::vector<float>& scratch) {
  need_init();
  const size_t n = (size_t)rows * cols;
  if (n * g_size > ((size_t)1 << 31) - 1) throw std::runtime_error("all_gather: too many values for one MPI call");
  scratch.resize(n * g_size);
  check(MPI_Allgather(part, (int)n, MPI_FLOAT, scratch.data(), (int)n, MPI_FLOAT, MPI_COMM_WORLD), "MPI_Allgather");
  // scratch [rank][rows][cols] -> out [rows][rank][cols]
  for (int r = 0; r < g_size; r++)
    for (int64_t i = 0; i < rows; i++)
      std::memcpy(out + (i * g_size + r) * cols, scratch.data() + ((size_t)r * rows + i) * cols, cols * sizeof(float));
}

void bcast(void* data, size_t bytes) {
  need_init();
  for (size_t at = 0; at < bytes; at += kChunk) {
    const int c = (int)std::min(kChunk, bytes - at);
    check(MPI_Bcast((char*)data + at, c, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
  }
}

void bcast_idle(void* data, size_t bytes) {
  need_init();
  if (bytes > kChunk) throw std::runtime_error("bcast_idle: message too large");
  MPI_Request req;
  check(MPI_Ibcast(data, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD, &req), "MPI_Ibcast");
  // spin about 2 ms (a decode step's next header comes quickly), then sleep between polls
  auto t0 = std::chrono::steady_clock::now();
  for (int done = 0;;) {
    check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return;
    if (std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(2))
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void all_min_max(uint64_t v, uint64_t* mn, uint64_t* mx) {
  need_init();
  unsigned long long a = v, lo = 0, hi = 0;
  check(MPI_Allreduce(&a, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
  check(MPI_Allreduce(&a, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  *mn = lo;
  *mx = hi;
}

std::vector<double> all_gather_f64(double v) {
  need_init();
  std::vector<double> out(g_size);
  check(MPI_Allgather(&v, 1, MPI_DOUBLE, out.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD), "MPI_Allgather");
  return out;
}

void abort_job(int code) {
  need_init();
  MPI_Abort(MPI_COMM_WORLD, code);
}

#endif

}  // namespace lowbit::comm
