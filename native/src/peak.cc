#include "peak.h"

#include <atomic>
#include <chrono>
#include <cstdint>

#include "cpu.h"
#include "threadpool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace lowbit {

namespace {

#if defined(__x86_64__)
__attribute__((target("avx512f"))) float sum512(__m512 v) {
  alignas(64) float o[16];
  _mm512_store_ps(o, v);
  float s = 0;
  for (float x : o) s += x;
  return s;
}
__attribute__((target("avx512f"))) float sum512i(__m512i v) {
  alignas(64) int32_t o[16];
  _mm512_store_si512((__m512i*)o, v);
  int64_t s = 0;
  for (int32_t x : o) s += x;
  return (float)s;
}
#endif

// Each kernel runs `iters` rounds of 12 independent accumulator chains (enough to cover the
// multiply-add latency on two ports) and returns a value derived from them so nothing is
// optimised away. ops_per_round: 12 x the instruction's multiply-adds x 2.

#if defined(__x86_64__)
__attribute__((target("avx512f"))) float fma512(long iters) {
  __m512 a[12];
  const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-3f);
  for (int k = 0; k < 12; k++) a[k] = _mm512_set1_ps((float)k);
  for (long i = 0; i < iters; i++)
    for (int k = 0; k < 12; k++) a[k] = _mm512_fmadd_ps(a[k], x, y);
  __m512 s = a[0];
  for (int k = 1; k < 12; k++) s = _mm512_add_ps(s, a[k]);
  return sum512(s);
}

__attribute__((target("avx2,fma"))) float fma256(long iters) {
  __m256 a[12];
  const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-3f);
  for (int k = 0; k < 12; k++) a[k] = _mm256_set1_ps((float)k);
  for (long i = 0; i < iters; i++)
    for (int k = 0; k < 12; k++) a[k] = _mm256_fmadd_ps(a[k], x, y);
  __m256 s = a[0];
  for (int k = 1; k < 12; k++) s = _mm256_add_ps(s, a[k]);
  float o[8];
  _mm256_storeu_ps(o, s);
  return o[0] + o[1] + o[2] + o[3] + o[4] + o[5] + o[6] + o[7];
}

// vdpbf16ps: 32 bf16 products summed into 16 f32 lanes
__attribute__((target("avx512f,avx512bf16"))) float bf16dot512(long iters) {
  __m512 a[12];
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3a83);
  for (int k = 0; k < 12; k++) a[k] = _mm512_set1_ps((float)k);
  for (long i = 0; i < iters; i++)
    for (int k = 0; k < 12; k++) a[k] = _mm512_dpbf16_ps(a[k], x, y);
  __m512 s = a[0];
  for (int k = 1; k < 12; k++) s = _mm512_add_ps(s, a[k]);
  return sum512(s);
}

// vpdpbusd: 64 u8 x s8 products summed into 16 i32 lanes
__attribute__((target("avx512f,avx512vnni"))) float int8dot512(long iters) {
  __m512i a[12];
  const __m512i x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(-2);
  for (int k = 0; k < 12; k++) a[k] = _mm512_set1_epi32(k);
  for (long i = 0; i < iters; i++)
    for (int k = 0; k < 12; k++) a[k] = _mm512_dpbusd_epi32(a[k], x, y);
  __m512i s = a[0];
  for (int k = 1; k < 12; k++) s = _mm512_add_epi32(s, a[k]);
  return sum512i(s);
}

// AVX2 without VNNI: vpmaddubsw + vpmaddwd + vpaddd, 32 u8 x s8 products per 3 instructions
// (the int8 path lowbit's AVX2 kernels take)
__attribute__((target("avx2"))) float int8dot256(long iters) {
  __m256i a[12];
  const __m256i x = _mm256_set1_epi8(3), y = _mm256_set1_epi8(-2), one = _mm256_set1_epi16(1);
  for (int k = 0; k < 12; k++) a[k] = _mm256_set1_epi32(k);
  for (long i = 0; i < iters; i++)
    for (int k = 0; k < 12; k++) a[k] = _mm256_add_epi32(a[k], _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), one));
  __m256i s = a[0];
  for (int k = 1; k < 12; k++) s = _mm256_add_epi32(s, a[k]);
  int o[8];
  _mm256_storeu_si256((__m256i*)o, s);
  return (float)(o[0] + o[1] + o[2] + o[3] + o[4] + o[5] + o[6] + o[7]);
}
#endif

struct Kernel {
  float (*fn)(long);
  double ops_per_iter;  // per round of 12 instructions
  const char* isa;
};

Kernel pick(PeakKind kind) {
  const CpuFeatures& c = cpu();
#if defined(__x86_64__)
  switch (kind) {
    case PeakKind::Fp32Fma:
      if (c.avx512f) return {fma512, 12.0 * 16 * 2, "avx512 vfmadd (fp32)"};
      if (c.avx2 && c.fma) return {fma256, 12.0 * 8 * 2, "avx2 vfmadd (fp32)"};
      break;
    case PeakKind::Bf16Dot:
      if (c.avx512bf16) return {bf16dot512, 12.0 * 32 * 2, "avx512 vdpbf16ps (bf16)"};
      break;
    case PeakKind::Int8Dot:
      if (c.avx512vnni) return {int8dot512, 12.0 * 64 * 2, "avx512 vpdpbusd (int8)"};
      if (c.avx2) return {int8dot256, 12.0 * 32 * 2, "avx2 vpmaddubsw+vpmaddwd (int8)"};
      break;
  }
#endif
  (void)c;
  (void)kind;
  return {nullptr, 0, "none"};
}

}  // namespace

PeakResult measure_compute_peak(PeakKind kind, int threads, int ms, int reps) {
  const Kernel k = pick(kind);
  if (!k.fn) return {0.0, k.isa};
  // calibrate the round count to about `ms` on one thread
  long iters = 1 << 14;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    volatile float sink = k.fn(iters);
    (void)sink;
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (sec * 1000 >= ms / 4.0 || iters > (1L << 40)) {
      iters = (long)(iters * (ms / 1000.0) / (sec > 0 ? sec : 1e-9));
      if (iters < 1) iters = 1;
      break;
    }
    iters *= 4;
  }
  ThreadPool pool(threads);
  std::atomic<uint32_t> sink{0};
  double best = 0;
  for (int r = 0; r < reps; r++) {
    auto t0 = std::chrono::steady_clock::now();
    pool.run([&](int, int) {
      float v = k.fn(iters);
      sink.fetch_add((uint32_t)v, std::memory_order_relaxed);
    });
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double gops = (double)threads * (double)iters * k.ops_per_iter / sec / 1e9;
    if (gops > best) best = gops;
  }
  (void)sink.load();
  return {best, k.isa};
}

}  // namespace lowbit
