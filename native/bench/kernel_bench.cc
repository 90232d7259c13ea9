// Standalone kernel check + timing, no Node needed (used on hosts where only a
// C++ toolchain exists, e.g. to verify AVX-512/AMX variants):
//   make -C native/bench kernel_bench && native/bench/kernel_bench [--quick | --layer [reps [m,m,.. [threads]]]]
// For every available variant (avx2, avx512, amx) it compares each kernel with
// the scalar reference on random inputs (odd sizes included), then times
// matmuls of model shapes (decode m=1 and prefill m=512) with 1..N threads;
// --layer instead times a whole TinyLlama-1.1B layer's matmuls (q/k/v, o,
// gate/up, down: matmul_multi as the model runs them) at m = 32, 512, 1024 (or the
// list given) in bf16, w8a8 and Q4_0 on every thread count (or the one given),
// variants alternated.
#include <algorithm>
#include <chrono>
#include <functional>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cpu.h"
#include "kernels/kernels.h"
#include "matmul.h"
#include "threadpool.h"
#include "weights.h"

using namespace lowbit;

static std::mt19937 rng(std::random_device{}());
static std::vector<float> randv(size_t n, float lo = -1, float hi = 1) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
static std::vector<uint16_t> tobf16(const std::vector<float>& v) {
  std::vector<uint16_t> o(v.size());
  for (size_t i = 0; i < v.size(); i++) o[i] = f32_to_bf16_scalar(v[i]);
  return o;
}

static int failures = 0;
static void check(bool ok, const std::string& what) {
  if (!ok) {
    failures++;
    std::printf("FAIL %s\n", what.c_str());
  }
}

static void test_variant(const KernelTable& kt) {
  const KernelTable& ref = kernels_ref();
  for (int64_t m : {1, 2, 3, 4, 5, 9, 16, 35, 48, 130})  // (amx from 48 bf16 rows)
    for (int64_t n : {1, 3, 4, 5, 17, 33, 70})
      for (int64_t k : {1, 7, 16, 17, 33, 100, 257}) {
        auto A = randv(m * k), W = randv(n * k);
        auto Ab = tobf16(A), Wb = tobf16(W);
        std::vector<float> c1(m * n), c2(m * n), bound(m * n);
        int64_t j0 = n > 4 ? 4 : 0, j1 = n;
        // packed copies (zero padding) of A rows and W as the model stores them
        const int64_t kpf = pad_to(k, 16), kpb = pad_to(k, 32);
        std::vector<float> Ap(m * kpf, 0.f), Wp(pad_to(n, 4) * kpf, 0.f);
        std::vector<uint16_t> Abp(m * kpb, 0), Wbp(pad_to(n, 4) * kpb, 0);
        for (int64_t i = 0; i < m; i++) {
          std::copy(A.begin() + i * k, A.begin() + i * k + k, Ap.begin() + i * kpf);
          std::copy(Ab.begin() + i * k, Ab.begin() + i * k + k, Abp.begin() + i * kpb);
        }
        pack_matrix(W.data(), n, k, Wp.data(), kpf, 16);
        pack_matrix(Wb.data(), n, k, Wbp.data(), kpb, 32);
        for (int64_t i = 0; i < m; i++)
          for (int64_t j = 0; j < n; j++) {
            double b = 0;
            for (int64_t p = 0; p < k; p++) b += std::fabs(A[i * k + p] * W[j * k + p]);
            bound[i * n + j] = (float)(1e-5 * b + 1e-6);
          }
        ref.matmul_f32(Ap.data(), kpf, Wp.data(), c1.data(), n, m, j0, j1, kpf);
        kt.matmul_f32(Ap.data(), kpf, Wp.data(), c2.data(), n, m, j0, j1, kpf);
 for (int64_t i = 0; i < m; i++)
          for (int64_t j = j0; j < j1; j++) {
            double d = 0;
            for (int64_t p = 0; p < k; p++) d += (double)A[i * k + p] * W[j * k + p];
            check(std::fabs(c1[i * n + j] - d) <= bound[i * n + j] * 10, "ref packed matmul_f32 vs row-major");
          }
        for (int64_t i = 0; i < m * n; i++)
          check(std::fabs(c1[i] - c2[i]) <= bound[i], std::string(kt.name) + " matmul_f32 m" + std::to_string(m) +
                                                          " n" + std::to_string(n) + " k" + std::to_string(k));
        std::fill(c1.begin(), c1.end(), 0.f);
        std::fill(c2.begin(), c2.end(), 0.f);
        ref.matmul_bf16_bf16a(Abp.data(), kpb, Wbp.data(), c1.data(), n, m, j0, j1, kpb);
        kt.matmul_bf16_bf16a(Abp.data(), kpb, Wbp.data(), c2.data(), n, m, j0, j1, kpb);
        for (int64_t i = 0; i < m * n; i++)
          check(std::fabs(c1[i] - c2[i]) <= bound[i], std::string(kt.name) + " matmul_bf16 m" + std::to_string(m) +
                                                          " n" + std::to_string(n) + " k" + std::to_string(k));
      }
  // int8 (w8a8): exact integer dot products, so SIMD must equal ref bit for bit.
  std::uniform_int_distribution<int> i8(-127, 127);
  struct Q8Case { int64_t m, n, k; };
  std::vector<Q8Case> q8_cases;
  for (int64_t m : {1, 2, 3, 4, 5, 9, 16, 17, 32, 48, 70, 96, 130})  // (amx from 96 w8a8 rows)
    for (int64_t n : {1, 3, 4, 5, 17, 33, 70})
      for (int64_t k : {1, 31, 64, 65, 257}) q8_cases.push_back({m, n, k});
  q8_cases.push_back({33, 100, 20000});  // AMX: several column panels (512 KiB / kp columns each)
  for (Q8Case qc : q8_cases) {
      const int64_t m = qc.m, n = qc.n, k = qc.k;
      {
        const int64_t kp = pad_to(k, 64);
        std::vector<int8_t> A(m * kp, 0), Wr(n * k), Wp(pad_to(n, 4) * kp, 0);
        for (int64_t i = 0; i < m; i++)
          for (int64_t p = 0; p < k; p++) A[i * kp + p] = (int8_t)i8(rng);
        for (auto& w : Wr) w = (int8_t)i8(rng);
        pack_matrix(Wr.data(), n, k, Wp.data(), kp, 64);
        std::vector<int32_t> wsum(n, 0);
        for (int64_t j = 0; j < n; j++)
          for (int64_t p = 0; p < k; p++) wsum[j] += Wr[j * k + p];
        auto sa = randv(m, 0, 0.1f), sw = randv(n, 0, 0.1f);
        std::vector<float> c1(m * n, 0.f), c2(m * n, 0.f);
        std::vector<int32_t> d1(m * n, 0), d2(m * n, 0);
        const int64_t j0 = n > 4 ? 4 : 0;
        ref.matmul_q8(A.data(), kp, sa.data(), Wp.data(), sw.data(), wsum.data(), c1.data(), n, m, j0, n, kp, nullptr);
        kt.matmul_q8(A.data(), kp, sa.data(), Wp.data(), sw.data(), wsum.data(), c2.data(), n, m, j0, n, kp, nullptr);
        ref.matmul_q8(A.data(), kp, sa.data(), Wp.data(), sw.data(), wsum.data(), nullptr, n, m, j0, n, kp, d1.data());
        kt.matmul_q8(A.data(), kp, sa.data(), Wp.data(), sw.data(), wsum.data(), nullptr, n, m, j0, n, kp, d2.data());
        const std::string at = " m" + std::to_string(m) + " n" + std::to_string(n) + " k" + std::to_string(k);
        check(c1 == c2, std::string(kt.name) + " matmul_q8" + at);
        check(d1 == d2, std::string(kt.name) + " matmul_q8 int32" + at);
      }
  }
  for (int64_t n : {1, 7, 64, 65, 300}) {
    auto x = randv(n, -3, 3);
    const int64_t kp = pad_to(n, 64);
    std::vector<int8_t> q1(kp), q2(kp);
    float s1, s2;
    for (float fixed : {0.0f, 0.01f}) {
      ref.quantize_q8(x.data(), n, kp, q1.data(), &s1, fixed);
      kt.quantize_q8(x.data(), n, kp, q2.data(), &s2, fixed);
      check(q1 == q2 && s1 == s2, std::string(kt.name) + " quantize_q8 n" + std::to_string(n));
    }
  }
  for (int64_t n : {1, 5, 16, 17, 100, 1000}) {
    auto x = randv(n, -80, 0), y = randv(n, -20, 20), w = randv(n);
    auto e1 = x, e2 = x;
    float s1 = ref.exp_sum_f32(e1.data(), n, 0.f), s2 = kt.exp_sum_f32(e2.data(), n, 0.f);
    for (int64_t i = 0; i < n; i++) check(std::fabs(e1[i] - e2[i]) <= 4e-7f * e1[i] + 1e-38f, std::string(kt.name) + " exp");
    check(std::fabs(s1 - s2) <= 1e-5f * s1, std::string(kt.name) + " exp_sum");
    check(ref.max_f32(y.data(), n) == kt.max_f32(y.data(), n), std::string(kt.name) + " max");
    std::vector<float> o1(n), o2(n);
    ref.silu_mul_f32(y.data(), w.data(), o1.data(), n);
    kt.silu_mul_f32(y.data(), w.data(), o2.data(), n);
    for (int64_t i = 0; i < n; i++)
      check(std::fabs(o1[i] - o2[i]) <= 1e-6f * std::fabs(o1[i]) + 1e-30f, std::string(kt.name) + " silu_mul");
    for (int64_t i = 0; i < n && i < 8; i++) {  // specials: subnormals, ties, inf, nan
      const float sp[8] = {1e-40f, -3e-39f, 1.0f + 1.0f / 256, 1.0f + 3.0f / 256, INFINITY, -INFINITY, NAN, 0.0f};
      y[i] = sp[i];
    }
    std::vector<uint16_t> b1(n), b2(n);
    ref.f32_to_bf16(y.data(), b1.data(), n);
    kt.f32_to_bf16(y.data(), b2.data(), n);
    check(b1 == b2, std::string(kt.name) + " f32_to_bf16");
  }
}

static double time_ms(const std::function<void()>& f, int reps) {
  f();
  std::vector<double> t;
  for (int r = 0; r < reps; r++) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

static void bench(const KernelTable& kt, int threads, bool quick) {
  ThreadPool pool(threads);
  MatmulScratch scratch;
  struct Shape { int64_t n, k; };
  // tinycode-100m ffn_up-like and TinyLlama-1.1B ffn_up-like shapes
  for (Shape s : {Shape{2048, 768}, Shape{5632, 2048}}) {
    for (WFormat f : {WFormat::F32, WFormat::BF16}) {
      auto Wf = randv(s.n * s.k);
      WSpec spec;
      spec.format = &weight_format(f);
      auto W = make_weight("w", SrcDtype::F32, Wf.data(), Wf.size() * 4, s.n, s.k, spec);
      for (int64_t m : {(int64_t)1, (int64_t)(quick ? 128 : 512)}) {
        auto A = randv(m * s.k);
        std::vector<float> C(m * s.n);
        double ms = time_ms([&] { matmul(pool, kt, A.data(), s.k, m, *W, C.data(), s.n, scratch); }, m == 1 ? 50 : 5);
        double flops = 2.0 * m * s.n * s.k;
        std::printf("%-7s %-5s t=%d m=%-4lld n=%-5lld k=%-5lld %9.3f ms %8.1f GFLOP/s %7.1f GB/s(weights)\n", kt.name,
                    W->fmt->name, threads, (long long)m, (long long)s.n, (long long)s.k, ms, flops / ms / 1e6,
                    W->bytes() / ms / 1e6);
      }
    }
  }
}

// One TinyLlama-1.1B layer's matmuls (hidden 2048, 4 KV heads of 64, ffn 5632),
// grouped as the model runs them: q/k/v and gate/up share their activations.
static void bench_layer(const std::vector<const KernelTable*>& variants, const std::vector<int>& threads, int reps,
                        const std::vector<int64_t>& ms) {
  const int64_t h = 2048, kv = 256, ff = 5632;
  struct Group { std::vector<int64_t> rows; int64_t k; };
  const std::vector<Group> groups = {{{h, kv, kv}, h}, {{h}, h}, {{ff, ff}, h}, {{h}, ff}};
  double ops_per_row = 0;
  for (const Group& g : groups)
    for (int64_t n : g.rows) ops_per_row += 2.0 * n * g.k;
  for (WFormat f : {WFormat::BF16, WFormat::Q8, WFormat::Q4_0}) {
    std::vector<std::vector<std::unique_ptr<Weight>>> ws;
    for (const Group& g : groups) {
      ws.emplace_back();
      for (int64_t n : g.rows) {
        auto Wf = randv(n * g.k, -0.05f, 0.05f);
        WSpec spec;
        spec.format = &weight_format(f);
        ws.back().push_back(make_weight("w", SrcDtype::F32, Wf.data(), Wf.size() * 4, n, g.k, spec));
      }
    }
    for (int t : threads) {
      ThreadPool pool(t);
      MatmulScratch scratch;
      for (int64_t m : ms) {
        auto A = randv(m * ff);
        std::vector<float> C(m * ff * 2);
        auto layer = [&](const KernelTable& kt) {
          for (size_t gi = 0; gi < groups.size(); gi++) {
            const Weight* W[3];
            float* Cs[3];
            int64_t off = 0;
            for (size_t i = 0; i < ws[gi].size(); i++) W[i] = ws[gi][i].get(), Cs[i] = C.data() + off, off += m * groups[gi].rows[i];
            matmul_multi(pool, kt, A.data(), groups[gi].k, m, W, Cs, (int)ws[gi].size(), scratch);
          }
        };
        // variants alternated, `reps` rounds, the median per variant
        std::vector<std::vector<double>> t_ms(variants.size());
        for (auto* kt : variants) layer(*kt);  // warm-up
        for (int r = 0; r < reps; r++)
          for (size_t v = 0; v < variants.size(); v++) {
            auto t0 = std::chrono::steady_clock::now();
            layer(*variants[v]);
            t_ms[v].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
          }
        std::printf("layer %-5s t=%-2d m=%-5lld", ws[0][0]->fmt->name, t, (long long)m);
        double base = 0;
        for (size_t v = 0; v < variants.size(); v++) {
          std::sort(t_ms[v].begin(), t_ms[v].end());
          const double ms = t_ms[v][t_ms[v].size() / 2], gops = ops_per_row * m / ms / 1e6;
          if (v == 0) base = ms;
          std::printf("  %s %8.2f ms %7.0f GOP/s", variants[v]->name, ms, gops);
          if (v > 0) std::printf(" (%.2fx)", base / ms);
        }
        std::printf("\n");
        std::fflush(stdout);
      }
    }
  }
}

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const bool quick = mode == "--quick";
  std::printf("cpu: %s; physical cores %d\n", cpu_features_string().c_str(), cpu().physical_cores);
  if (mode == "--layer") {  // avx512 (or avx2) against amx where present
    std::vector<const KernelTable*> vs;
    for (const char* v : {"avx2", "avx512", "amx"})
      if (const KernelTable* kt = kernels_by_name(v)) vs.push_back(kt);
    if (vs.size() > 2) vs.erase(vs.begin());
    std::vector<int> threads;
    for (int t = 1; t <= cpu().physical_cores; t *= 2) threads.push_back(t);
    if (threads.back() != cpu().physical_cores) threads.push_back(cpu().physical_cores);
    std::vector<int64_t> ms;  // argv[3]: the row counts, comma-separated (default 32,512,1024)
    for (const char* p = argc > 3 ? argv[3] : "32,512,1024"; *p; p += *p == ',') ms.push_back(std::strtoll(p, const_cast<char**>(&p), 10));
    if (argc > 4) threads = {std::atoi(argv[4])};  // argv[4]: one thread count instead of 1, 2, 4, .. cores
    bench_layer(vs, threads, argc > 2 ? std::atoi(argv[2]) : 5, ms);
    return 0;
  }
  std::vector<const KernelTable*> variants;
  for (const char* v : {"avx2", "avx512", "amx"})
    if (const KernelTable* kt = kernels_by_name(v)) variants.push_back(kt);
    else std::printf("variant %s not supported on this CPU\n", v);
  for (auto* kt : variants) test_variant(*kt);
  std::printf("kernel checks: %d failures\n", failures);
  for (auto* kt : variants)
    for (int t = 1; t <= cpu().physical_cores; t *= 2) bench(*kt, t, quick);
  return failures ? 1 : 0;
}
