// Standalone check of the Q4_0 / Q8_0 kernels (kernels/ggml*.cc): every SIMD
// variant bit for bit against the scalar reference (activation quantization
// and both matmuls), then decode (m = 1, memory-bound, GB/s of weights) and
// prefill (m = 64, GOPS) timings on 1..T threads next to w4a8-g32 and w8a8 on
// the same shape. Variants: avx2, avx512 and amx where the CPU has them. No
// Node needed (for the device's AVX-512 / AMX Xeon):
//   make -C native/bench ggml_check && native/bench/ggml_check [seed] [threads]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "cpu.h"
#include "ggml_quants.h"
#include "kernels/kernels.h"
#include "threadpool.h"

using namespace lowbit;

namespace {

std::vector<const KernelTable*> simd_variants() {
  std::vector<const KernelTable*> v;
  for (const char* n : {"avx2", "avx512", "amx"})
    if (const KernelTable* t = kernels_by_name(n)) v.push_back(t);
  return v;
}

// Packed weights of a random [n, k] matrix of GGUF blocks, and quantized activations.
struct Problem {
  GgmlType type;
  int64_t m, n, k, nb;
  std::vector<uint8_t> codes;
  std::vector<uint16_t> scales;
  std::vector<float> x, ad;
  std::vector<int8_t> a;
  std::vector<int32_t> as;
};

Problem make(GgmlType type, int64_t m, int64_t n, int64_t k, std::mt19937& rng) {
  Problem p{type, m, n, k, k / 32, {}, {}, {}, {}, {}, {}};
  std::normal_distribution<float> g(0.0f, 1.0f);
  const int64_t n8 = pad_to(n, 8), bb = ggml_block_bytes(type);
  p.codes.assign(n8 * p.nb * ggml_code_bytes(type), 0);
  p.scales.assign(n8 * p.nb, 0);
  std::vector<float> row(k);
  std::vector<uint8_t> blocks(p.nb * bb);
  for (int64_t j = 0; j < n; j++) {
    for (auto& v : row) v = 0.02f * g(rng);
    ggml_quantize_row(type, row.data(), k, blocks.data());
    ggml_pack_row(type, blocks.data(), j, p.nb, p.codes.data(), p.scales.data());
  }
  p.x.resize(m * k);
  for (auto& v : p.x) v = g(rng) * (rng() % 50 == 0 ? 30.0f : 1.0f);
  p.a.resize(m * k);
  p.ad.resize(m * p.nb);
  p.as.resize(m * p.nb);
  for (int64_t i = 0; i < m; i++)
    kernels_ref().quantize_q8_0_act(p.x.data() + i * k, k, p.a.data() + i * k, p.ad.data() + i * p.nb, p.as.data() + i * p.nb);
  return p;
}

void run(const KernelTable& kt, const Problem& p, float* C, int64_t m, int64_t j0, int64_t j1) {
  if (p.type == GgmlType::Q4_0)
    kt.matmul_q4_0(p.a.data(), p.k, p.ad.data(), p.as.data(), p.codes.data(), p.scales.data(), C, p.n, m, j0, j1, p.k);
  else
    kt.matmul_q8_0(p.a.data(), p.k, p.ad.data(), p.as.data(), reinterpret_cast<const int8_t*>(p.codes.data()),
                   p.scales.data(), C, p.n, m, j0, j1, p.k);
}

int check(std::mt19937& rng) {
  int failures = 0;
  long outputs = 0;
  for (const KernelTable* v : simd_variants()) {
    for (int64_t k : {32, 96, 160, 2048}) {  // activation quantization
      Problem p = make(GgmlType::Q8_0, 3, 1, k, rng);
      std::vector<int8_t> q(3 * k);
      std::vector<float> d(3 * p.nb);
      std::vector<int32_t> s(3 * p.nb);
      for (int64_t i = 0; i < 3; i++) v->quantize_q8_0_act(p.x.data() + i * k, k, q.data() + i * k, d.data() + i * p.nb, s.data() + i * p.nb);
      if (q != p.a || std::memcmp(d.data(), p.ad.data(), d.size() * 4) || s != p.as) {
        failures++;
        std::printf("FAIL %s quantize_q8_0_act k%ld\n", v->name, (long)k);
      }
    }
    for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0})
      for (int64_t m : {1, 2, 3, 4, 5, 9, 16, 21, 32, 50, 128, 149})  // (amx: tiles of 16 rows, from 128 rows)
        for (int64_t n : {1, 7, 8, 13, 37})
          for (int64_t k : {32, 96, 160, 288}) {
            Problem p = make(t, m, n, k, rng);
            const int64_t j0 = 8 * (int64_t)(rng() % (n / 8 + 1)), j1 = j0 + (int64_t)(rng() % (n - j0 + 1));
            std::vector<float> r(m * n, 0), g(m * n, 0);
            run(kernels_ref(), p, r.data(), m, j0, j1);
            run(*v, p, g.data(), m, j0, j1);
            outputs += m * n;
            if (std::memcmp(r.data(), g.data(), r.size() * 4) && failures++ < 10)
              std::printf("FAIL %s %s m%ld n%ld k%ld j[%ld,%ld)\n", v->name, t == GgmlType::Q4_0 ? "q4_0" : "q8_0", (long)m,
                          (long)n, (long)k, (long)j0, (long)j1);
          }
  }
  std::printf("check: %ld matmul outputs and the activation quantizer compared bit for bit with ref, %d failures\n", outputs, failures);
  return failures;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// fn(rep, j0, j1) with the n columns split over the thread pool in blocks of 16
// (as matmul.cc does); median seconds per call.
template <class F>
double timed(ThreadPool& pool, int64_t n, int reps, F fn) {
  std::vector<double> t;
  for (int r = 0; r < reps; r++) {
    const double t0 = now();
    pool.run([&](int tid, int nth) {
      long b0, b1;
      split_range((n + 15) / 16, nth, tid, &b0, &b1);
      if (b0 < b1) fn(r, (int64_t)b0 * 16, std::min<int64_t>(n, (int64_t)b1 * 16));
    });
    t.push_back(now() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void bench(int max_threads, std::mt19937& rng) {
  // [5632, 2048] (a 1.1B model's FFN), 16 matrices cycled so decode streams from DRAM.
  const int64_t n = 5632, k = 2048, nmat = 16, mp = 64;
  std::printf("\nweights [%ld, %ld], %ld matrices cycled for decode; prefill m = %ld\n", (long)n, (long)k, (long)nmat, (long)mp);
  std::printf("| variant | threads | format | MB/matrix | decode ms | decode GB/s | prefill ms | prefill GOPS |\n|---|---|---|---|---|---|---|---|\n");
  // w4a8-g32 (float scales) and w8a8 buffers of the same shape (values irrelevant for timing)
  std::vector<std::vector<uint8_t>> w4(nmat, std::vector<uint8_t>(n * k / 2, 0x37));
  std::vector<float> s4(n * (k / 32), 0.01f), sa(mp, 0.01f), sw(n, 0.01f);
  std::vector<int32_t> isum(mp * (k / 32), 3), wsum(n, 5);
  std::vector<std::vector<int8_t>> w8(nmat, std::vector<int8_t>(n * k, 3));
  std::vector<int8_t> a8(mp * k, 7);
  for (const KernelTable* v : simd_variants())
    for (int th = 1; th <= max_threads; th *= 2) {
      ThreadPool pool(th);
      std::vector<float> C(mp * n);
      for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0}) {
        std::vector<Problem> mats;
        for (int i = 0; i < nmat; i++) mats.push_back(make(t, i == 0 ? mp : 1, n, k, rng));
        const double mb = (double)n * (k / 32) * ggml_block_bytes(t) / 1e6;
        const double td = timed(pool, n, 4 * nmat, [&](int r, int64_t j0, int64_t j1) { run(*v, mats[r % nmat], C.data(), 1, j0, j1); });
        const double tp = timed(pool, n, 5, [&](int, int64_t j0, int64_t j1) { run(*v, mats[0], C.data(), mp, j0, j1); });
        std::printf("| %s | %d | %s | %.2f | %.3f | %.1f | %.2f | %.0f |\n", v->name, th, t == GgmlType::Q4_0 ? "q4_0" : "q8_0", mb,
                    td * 1e3, mb / 1e3 / td, tp * 1e3, 2.0 * mp * n * k / tp / 1e9);
      }
      const double mb4 = ((double)n * k / 2 + (double)n * (k / 32) * 4) / 1e6, mb8 = ((double)n * k + n * 8.0) / 1e6;
      const double td4 = timed(pool, n, 4 * nmat, [&](int r, int64_t j0, int64_t j1) {
        v->matmul_q4a8(a8.data(), k, sa.data(), isum.data(), w4[r % nmat].data(), s4.data(), C.data(), n, 1, j0, j1, k, 32);
      });
      const double tp4 = timed(pool, n, 5, [&](int, int64_t j0, int64_t j1) {
        v->matmul_q4a8(a8.data(), k, sa.data(), isum.data(), w4[0].data(), s4.data(), C.data(), n, mp, j0, j1, k, 32);
      });
      std::printf("| %s | %d | w4a8-g32 | %.2f | %.3f | %.1f | %.2f | %.0f |\n", v->name, th, mb4, td4 * 1e3, mb4 / 1e3 / td4,
                  tp4 * 1e3, 2.0 * mp * n * k / tp4 / 1e9);
      const double td8 = timed(pool, n, 4 * nmat, [&](int r, int64_t j0, int64_t j1) {
        v->matmul_q8(a8.data(), k, sa.data(), w8[r % nmat].data(), sw.data(), wsum.data(), C.data(), n, 1, j0, j1, k, nullptr);
      });
      const double tp8 = timed(pool, n, 5, [&](int, int64_t j0, int64_t j1) {
        v->matmul_q8(a8.data(), k, sa.data(), w8[0].data(), sw.data(), wsum.data(), C.data(), n, mp, j0, j1, k, nullptr);
      });
      std::printf("| %s | %d | w8a8 | %.2f | %.3f | %.1f | %.2f | %.0f |\n", v->name, th, mb8, td8 * 1e3, mb8 / 1e3 / td8,
                  tp8 * 1e3, 2.0 * mp * n * k / tp8 / 1e9);
    }
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned seed = argc > 1 ? (unsigned)std::strtoul(argv[1], nullptr, 10) : 1234u;
  const int threads = argc > 2 ? std::atoi(argv[2]) : (int)std::thread::hardware_concurrency();
  std::printf("seed %u, cpu: %s\n", seed, cpu_features_string().c_str());
  std::mt19937 rng(seed);
  const int failures = check(rng);
  if (threads > 0) bench(threads, rng);
  return failures ? 1 : 0;
}
