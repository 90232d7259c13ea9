#include "bandwidth.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "buffer.h"
#include "threadpool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace lowbit {

namespace {
// Sums 64-bit words with 4 independent chains (the compiler vectorises it
// with the baseline ISA; it reads far faster than memory delivers).
uint64_t read_sum(const uint64_t* p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) {
    a += p[i];
    b ^= p[i + 1];
    c += p[i + 2];
    d ^= p[i + 3];
  }
  return a + b + c + d;
}
}  // namespace

double measure_read_bandwidth(int threads, int mbytes, int reps) {
  const size_t bytes = (size_t)mbytes << 20;
  AlignedBuf buf(bytes);
  std::memset(buf.data(), 1, bytes);  // fault pages in
  ThreadPool pool(threads);
  const size_t words = bytes / 8;
  std::atomic<uint64_t> sink{0};
  double best = 0;
  for (int r = 0; r < reps; r++) {
    auto t0 = std::chrono::steady_clock::now();
    pool.run([&](int tid, int nth) {
      long w0, w1;
      split_range((long)words, nth, tid, &w0, &w1);
      uint64_t s = read_sum(buf.as<uint64_t>() + w0, (size_t)(w1 - w0));
      sink.fetch_add(s, std::memory_order_relaxed);
    });
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    (void)sink.load();
    double gbs = (double)bytes / sec / 1e9;
    if (gbs > best) best = gbs;
  }
  return best;
}

}  // namespace lowbit
