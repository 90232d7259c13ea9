// Standalone check of the w4a8 matmul variants (float and integer group
// scales) against the scalar references, plus decode (m = 1, memory-bound)
// and prefill (m = 64, compute-bound) timings on 1..T threads, float vs
// integer scales side by side. No Node needed (for the device's Xeon):
//   make -C native/bench q4a8_check && native/bench/q4a8_check [seed] [threads]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "bandwidth.h"
#include "cpu.h"
#include "kernels/kernels.h"
#include "threadpool.h"

using namespace lowbit;

namespace {

using FsFn = decltype(&matmul_q4a8_ref);
using IsFn = decltype(&matmul_q4a8_is_ref);
using Q4Fn = decltype(&matmul_q4_ref);
struct Variant {
  const char* name;
  FsFn fs;
  IsFn is;
  Q4Fn q4;  // w4a16 (int16 activations) on the same packed codes, for comparison
};

std::vector<Variant> variants() {
  std::vector<Variant> v;
  const CpuFeatures& f = cpu();
  if (f.avx2 && f.fma && f.f16c) v.push_back({"avx2", matmul_q4a8_avx2, matmul_q4a8_is_avx2, matmul_q4_avx2});
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni && f.avx512bf16)
    v.push_back({"avx512", matmul_q4a8_avx512, matmul_q4a8_is_avx512, matmul_q4_avx512});
  return v;
}

struct Problem {
  int64_t m, n, kp, group, ng;
  std::vector<int8_t> A;
  std::vector<float> sa, s;
  std::vector<int32_t> isum, si;
  std::vector<uint8_t> W;
};

Problem make(int64_t m, int64_t n, int64_t kp, int64_t group, std::mt19937& rng) {
  Problem p{m, n, kp, group, kp / group, {}, {}, {}, {}, {}, {}};
  std::uniform_int_distribution<int> a8(-127, 127), u4(0, 15), sc(0, 3000);
  std::uniform_real_distribution<float> uf(0.0f, 0.05f);
  p.A.resize(m * kp);
  for (auto& x : p.A) x = (int8_t)a8(rng);
  p.sa.resize(m);
  for (auto& x : p.sa) x = uf(rng);
  const int64_t np = pad_to(n, 4);
  p.W.assign(np * kp / 2, 0);
  for (int64_t j = 0; j < n; j++)
    for (int64_t q = 0; q < kp; q++) {
      const int v = u4(rng), c = (int)(q / 32), e = (int)(q % 32);
      p.W[((j / 4) * (kp / 32) + c) * 64 + (j % 4) * 16 + (e % 16)] |= e < 16 ? v : v << 4;
    }
  p.s.assign(np * p.ng, 0.0f);
  p.si.assign(np * p.ng, 0);
  for (int64_t j = 0; j < n; j++)
    for (int64_t g = 0; g < p.ng; g++) {
      p.s[q4a8_scale_index(j, g, p.ng)] = uf(rng);
      p.si[q4a8_scale_index(j, g, p.ng)] = sc(rng);
    }
  p.isum.assign(m * p.ng, 0);
  for (int64_t i = 0; i < m; i++)
    for (int64_t q = 0; q < kp; q++) p.isum[i * p.ng + q / group] += p.A[i * kp + q];
  return p;
}

int check(std::mt19937& rng) {
  int failures = 0, cases = 0;
  for (const Variant& v : variants())
    for (int64_t m : {1, 2, 3, 4, 5, 9})
      for (int64_t n : {1, 4, 7, 13, 37})
        for (auto kg : {std::pair<int64_t, int64_t>{32, 32}, {96, 32}, {128, 128}, {384, 128}, {640, 32}}) {
          Problem p = make(m, n, kg.first, kg.second, rng);
          const int64_t j0 = 4 * (rng() % (n / 4 + 1)), j1 = j0 + (int64_t)(rng() % (n - j0 + 1));
          std::vector<float> r(m * n, 0), g(m * n, 0), ri(m * n, 0), gi(m * n, 0);
          matmul_q4a8_ref(p.A.data(), p.kp, p.sa.data(), p.isum.data(), p.W.data(), p.s.data(), r.data(), n, m, j0, j1, p.kp, p.group);
          v.fs(p.A.data(), p.kp, p.sa.data(), p.isum.data(), p.W.data(), p.s.data(), g.data(), n, m, j0, j1, p.kp, p.group);
          matmul_q4a8_is_ref(p.A.data(), p.kp, p.sa.data(), p.isum.data(), p.W.data(), p.si.data(), 1.0f / 1024, ri.data(), n, m, j0, j1, p.kp, p.group);
          v.is(p.A.data(), p.kp, p.sa.data(), p.isum.data(), p.W.data(), p.si.data(), 1.0f / 1024, gi.data(), n, m, j0, j1, p.kp, p.group);
          for (int64_t e = 0; e < m * n; e++) {
            // float scales: lanes hold partial sums of u * a with |.| <= 15 * 127 * group per lane
            const float tol = 1e-5f * p.sa[e / n] * 0.05f * 15 * 127 * p.kp + 1e-6f;
            cases++;
            if (std::fabs(r[e] - g[e]) > tol || ri[e] != gi[e]) {
              if (failures++ < 10)
                std::printf("FAIL %s m%ld n%ld k%ld g%ld j[%ld,%ld) e%ld: fs %g vs %g, is %g vs %g\n", v.name, (long)m, (long)n,
                            (long)p.kp, (long)p.group, (long)j0, (long)j1, (long)e, r[e], g[e], ri[e], gi[e]);
            }
          }
        }
  std::printf("check: %d outputs compared (float scales within bound, integer scales bit-exact), %d failures\n", cases, failures);
  return failures;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Runs fn(rep, j0, j1) with the n columns split over lowbit's persistent
// thread pool (blocks of 16 columns, as matmul.cc does); returns seconds per
// call (median of reps).
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
  // A 1.1B-model-sized stream: 11 matrices of [5632, 2048] (~6 MB each at 4.5 bits), cycled, > L3.
  const int64_t n = 5632, kp = 2048, group = 128, nmat = 24;
  std::vector<Problem> mats;
  for (int i = 0; i < nmat; i++) mats.push_back(make(1, n, kp, group, rng));
  Problem pre = make(64, n, kp, group, rng);
  const double bytes = (double)n * kp / 2 + (double)n * (kp / group) * 4;
  std::printf("\nweights [%ld, %ld] group %ld: %.2f MB per matrix, %ld matrices cycled\n", (long)n, (long)kp, (long)group, bytes / 1e6, (long)nmat);
  // w4a16 on the same codes: int16 activations with per-group scales, per-(row, group) scale + offset ([rows][ng] each)
  std::vector<int16_t> a16(kp);
  std::vector<float> sx(kp / group, 1.0f / 32767), asum(kp / group), s16((size_t)n * (kp / group), 0.01f),
      o16((size_t)n * (kp / group), -0.08f);
  for (int64_t p = 0; p < kp; p++) a16[p] = (int16_t)(mats[0].A[p] * 258);
  for (int64_t p = 0; p < kp; p++) asum[p / group] += a16[p] * sx[p / group];
  const double bytes16 = (double)n * kp / 2 + (double)n * (kp / group) * 8;
  std::printf("read GB/s: the machine's read bandwidth on the same threads, measured right before each row (1 GiB, best of 3)\n");
  std::printf("| variant | threads | decode GB/s w4a8 float scales | decode GB/s w4a8 int scales | decode GB/s w4a16 | read GB/s | w4a16 / read | prefill m=64 GOPS float | prefill GOPS int |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const Variant& v : variants())
    for (int th = 1; th <= max_threads; th *= 2) {
      const double rd = measure_read_bandwidth(th, 1024, 3);
      ThreadPool pool(th);
      std::vector<float> C(64 * n);
      double dec[2], pf[2];
      for (int is = 0; is < 2; is++) {
        const double t = timed(pool, n, 5 * nmat, [&, is](int r, int64_t j0, int64_t j1) {
          const Problem& p = mats[r % nmat];
          if (is) v.is(p.A.data(), kp, p.sa.data(), p.isum.data(), p.W.data(), p.si.data(), 1.0f / 1024, C.data(), n, 1, j0, j1, kp, group);
          else v.fs(p.A.data(), kp, p.sa.data(), p.isum.data(), p.W.data(), p.s.data(), C.data(), n, 1, j0, j1, kp, group);
        });
        dec[is] = bytes / t / 1e9;
        const double tp = timed(pool, n, 5, [&, is](int, int64_t j0, int64_t j1) {
          if (is) v.is(pre.A.data(), kp, pre.sa.data(), pre.isum.data(), pre.W.data(), pre.si.data(), 1.0f / 1024, C.data(), n, 64, j0, j1, kp, group);
          else v.fs(pre.A.data(), kp, pre.sa.data(), pre.isum.data(), pre.W.data(), pre.s.data(), C.data(), n, 64, j0, j1, kp, group);
        });
        pf[is] = 2.0 * 64 * n * kp / tp / 1e9;
      }
      const double t16 = timed(pool, n, 5 * nmat, [&](int r, int64_t j0, int64_t j1) {
        const Problem& p = mats[r % nmat];
        v.q4(a16.data(), kp, sx.data(), asum.data(), p.W.data(), s16.data(), o16.data(), C.data(), n, 1, j0, j1, kp, group);
      });
      const double w16 = bytes16 / t16 / 1e9;
      std::printf("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.0f%% | %.0f | %.0f |\n", v.name, th, dec[0], dec[1], w16, rd,
                  100.0 * w16 / rd, pf[0], pf[1]);
    }
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned seed = argc > 1 ? (unsigned)std::strtoul(argv[1], nullptr, 10) : 1234u;
  const int threads = argc > 2 ? std::atoi(argv[2]) : (int)std::thread::hardware_concurrency();
  std::printf("seed %u, cpu: %s\n", seed, cpu_features_string().c_str());
  std::mt19937 rng(seed);
  const int failures = check(rng);
  bench(std::max(1, threads), rng);
  return failures ? 1 : 0;
}
