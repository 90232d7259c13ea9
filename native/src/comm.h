// Tensor-parallel communication between the ranks of an MPI job (Open MPI).
// Compiled into every build; only the MPI build (`npm run build:mpi`, which
// defines LOWBIT_MPI and links libmpi) implements it: elsewhere every call but
// available() throws std::runtime_error naming that build.
//
// Threads: MPI is initialized with MPI_THREAD_SERIALIZED; lowbit calls it from
// the JS thread (init, rollback / drop / clear headers) and from the libuv
// worker running a forward step, never both at once (the model's busy flag).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace lowbit::comm {

// Compiled with MPI (LOWBIT_MPI).
bool available();
// MPI_Init_thread once (idempotent); throws when not built with MPI.
void init();
bool initialized();
// MPI_Finalize once, if initialized (idempotent).
void finalize();
int rank();
int size();
// x[0..n) = sum over ranks of x[0..n), in place.
void all_reduce_sum(float* x, size_t n);
// x[0..n) = sum over ranks of x[0..n), in place: exact, in any order (int32 partial dot products).
void all_reduce_sum_i32(int32_t* x, size_t n);
// x[0..n) = max over ranks of x[0..n), in place.
void all_reduce_max(float* x, size_t n);
// part: [rows, cols] on every rank; out: [rows, cols * size()], rank r's part in columns [r * cols, (r + 1) * cols).
void all_gather_cols(const float* part, int64_t rows, int64_t cols, float* out, std::vector<float>& scratch);
// Rank 0's bytes to every rank (blocking).
void bcast(void* data, size_t bytes);
// As bcast, but a waiting rank sleeps between polls (a follower idle between
// requests costs no CPU). MPI_Ibcast: it matches only bcast_idle on the other ranks.
void bcast_idle(void* data, size_t bytes);
// The min and max over ranks of one 64-bit value (agreement checks: equal when every rank has v).
void all_min_max(uint64_t v, uint64_t* mn, uint64_t* mx);

// Every rank's value, by rank.
std::vector<double> all_gather_f64(double v);
// MPI_Abort: ends every rank of the job with this exit code (a rank that cannot go on).
void abort_job(int code);

}  // namespace lowbit::comm
