#include "bandwidth.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "buffer.h"
#include "cpu.h"
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

#if defined(__x86_64__)
// 256-bit loads, 4 independent accumulators: enough to saturate memory.
__attribute__((target("avx2"))) uint64_t read_sum_avx2(const uint64_t* p, size_t n) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a = _mm256_add_epi64(a, _mm256_load_si256((const __m256i*)(p + i)));
    b = _mm256_xor_si256(b, _mm256_load_si256((const __m256i*)(p + i + 4)));
    c = _mm256_add_epi64(c, _mm256_load_si256((const __m256i*)(p + i + 8)));
    d = _mm256_xor_si256(d, _mm256_load_si256((const __m256i*)(p + i + 12)));
  }
  a = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
  uint64_t out[4];
  _mm256_storeu_si256((__m256i*)out, a);
  return out[0] + out[1] + out[2] + out[3];
}
#endif

uint64_t read_any(const uint64_t* p, size_t n) {
#if defined(__x86_64__)
  if (cpu().avx2) return read_sum_avx2(p, n);
#endif
  return read_sum(p, n);
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
      // ranges start on 32-byte boundaries (multiples of 4 words)
      w0 &= ~3L;
      w1 = tid == nth - 1 ? (long)words : (w1 & ~3L);
      uint64_t s = read_any(buf.as<uint64_t>() + w0, (size_t)(w1 - w0));
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
