// Standalone check of the int4 (w4a16) matmul variants against matmul_q4_ref
// and of their activation quantizer against quantize_a16_ref (bit for bit),
// plus a small single-thread timing. Build and run:
//   make -C native/bench q4_check && native/bench/q4_check [seed]
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu.h"
#include "kernels/kernels.h"

using namespace lowbit;

namespace {

using Q4Fn = decltype(&matmul_q4_ref);
using QaFn = decltype(&quantize_a16_ref);

struct Variant {
  const char* name;
  Q4Fn fn;
  QaFn quant;
};

std::vector<Variant> available_variants() {
  std::vector<Variant> v;
#if defined(__x86_64__)
  const CpuFeatures& f = cpu();
  if (f.avx2 && f.fma && f.f16c) v.push_back({"avx2", matmul_q4_avx2, quantize_a16_avx2});
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni && f.avx512bf16)
    v.push_back({"avx512", matmul_q4_avx512, quantize_a16_avx2});
#endif
  return v;
}

// Packs q[n][kp] (values 0..15) into the int4 layout of kernels.h. The padding
// rows n..pad4(n) are zero per the spec, or random with `random_pad` (kernels
// must not let them leak into stored columns).
std::vector<uint8_t> pack_q4(const std::vector<uint8_t>& q, int64_t n, int64_t kp, std::mt19937& rng, bool random_pad) {
  const int64_t np = pad_to(n, 4), nch = kp / 32;
  std::vector<uint8_t> W(np * kp / 2, 0);
  for (int64_t j = 0; j < np; j++)
    for (int64_t p = 0; p < kp; p++) {
      int v = j < n ? q[j * kp + p] : (random_pad ? (int)(rng() & 15) : 0);
      const int64_t c = p / 32, e = p % 32;
      uint8_t& b = W[((j / 4) * nch + c) * 64 + (j % 4) * 16 + (e % 16)];
      b |= e < 16 ? v : v << 4;
    }
  return W;
}

struct Problem {
  int64_t m, n, kp, group, ng, lda, ldc;
  std::vector<uint8_t> q, W;
  std::vector<int16_t> A;  // activation codes, scales sx [m][ng], group sums asum [m][ng]
  std::vector<float> sx, asum, s, o;
};

Problem make_problem(std::mt19937& rng, int64_t m, int64_t n, int64_t kp, int64_t group) {
  Problem P;
  P.m = m, P.n = n, P.kp = kp, P.group = group, P.ng = kp / group;
  const int64_t lda_extra[] = {0, 5, 16};
  P.lda = kp + lda_extra[rng() % 3];
  P.ldc = n + (int64_t)(rng() % 4);
  std::uniform_real_distribution<float> us(-0.1f, 0.1f), uo(-1.0f, 1.0f), ux(0.1f / kA16Max, 2.0f / kA16Max);
  std::uniform_int_distribution<int> ua(-kA16Max, kA16Max);
  P.q.resize(n * kp);
  for (auto& x : P.q) x = (uint8_t)(rng() & 15);
  P.W = pack_q4(P.q, n, kp, rng, rng() & 1);
  P.A.assign(m * P.lda, 0);
  for (int64_t i = 0; i < m; i++)
    for (int64_t p = 0; p < kp; p++) P.A[i * P.lda + p] = (int16_t)(rng() % 50 == 0 ? (rng() & 1 ? -kA16Max : kA16Max) : ua(rng));
  // past-kp part of each row (inside lda) is garbage: kernels must not read it
  for (int64_t i = 0; i < m; i++)
    for (int64_t p = kp; p < P.lda; p++) P.A[i * P.lda + p] = -32768;
  P.sx.resize(m * P.ng);
  P.asum.resize(m * P.ng);
  for (int64_t i = 0; i < m; i++)
    for (int64_t g = 0; g < P.ng; g++) {
      int64_t t = 0;
      for (int64_t p = g * group; p < (g + 1) * group; p++) t += P.A[i * P.lda + p];
      P.sx[i * P.ng + g] = rng() % 16 == 0 ? 0.0f : ux(rng);
      P.asum[i * P.ng + g] = P.sx[i * P.ng + g] * (float)t;
    }
  // exactly n * ng scales/offsets: reading past row n-1 is a bug
  P.s.resize(n * P.ng);
  P.o.resize(n * P.ng);
  for (auto& x : P.s) x = (rng() % 8 == 0) ? 0.0f : us(rng);
  for (auto& x : P.o) x = (rng() % 8 == 0) ? 0.0f : uo(rng);
  return P;
}

// tol = 1e-5 * sum_g (|s_g sx_g| * sum_p |q_p a_p| + |o_g asum_g|) + 1e-6
double tolerance(const Problem& P, int64_t i, int64_t j) {
  double t = 0;
  for (int64_t g = 0; g < P.ng; g++) {
    double d = 0;
    for (int64_t p = g * P.group; p < (g + 1) * P.group; p++)
      d += std::fabs((double)P.q[j * P.kp + p] * P.A[i * P.lda + p]);
    t += std::fabs((double)P.s[j * P.ng + g] * P.sx[i * P.ng + g]) * d +
         std::fabs((double)P.o[j * P.ng + g] * P.asum[i * P.ng + g]);
  }
  return 1e-5 * t + 1e-6;
}

int run_case(const Variant& v, const Problem& P, int64_t j0, int64_t j1, float sentinel, int& printed) {
  // C plus a guard zone after the last row; everything outside [j0, j1) must
  // keep the sentinel.
  const int64_t guard = 64;
  std::vector<float> Cr(P.m * P.ldc + guard, sentinel), Cv(P.m * P.ldc + guard, sentinel);
  matmul_q4_ref(P.A.data(), P.lda, P.sx.data(), P.asum.data(), P.W.data(), P.s.data(), P.o.data(), Cr.data(), P.ldc,
                P.m, j0, j1, P.kp, P.group);
  v.fn(P.A.data(), P.lda, P.sx.data(), P.asum.data(), P.W.data(), P.s.data(), P.o.data(), Cv.data(), P.ldc, P.m, j0,
       j1, P.kp, P.group);
  int bad = 0;
  for (int64_t i = 0; i < P.m; i++)
    for (int64_t j = 0; j < P.ldc; j++) {
      const float x = Cv[i * P.ldc + j];
      bool ok;
      double tol = 0;
      if (j >= j0 && j < j1) {
        tol = tolerance(P, i, j);
        ok = std::isfinite(x) && std::fabs((double)x - Cr[i * P.ldc + j]) <= tol;
      } else {
        ok = std::memcmp(&x, &sentinel, sizeof x) == 0;  // untouched, bit for bit
      }
      if (!ok) {
        bad++;
        if (printed < 20) {
          printed++;
          std::printf("  FAIL %s m=%" PRId64 " n=%" PRId64 " kp=%" PRId64 " group=%" PRId64 " j=[%" PRId64
                      ",%" PRId64 ") lda=%" PRId64 " ldc=%" PRId64 ": C[%" PRId64 ",%" PRId64
                      "] = %.9g, ref %.9g, tol %.3g%s\n",
                      v.name, P.m, P.n, P.kp, P.group, j0, j1, P.lda, P.ldc, i, j, x, Cr[i * P.ldc + j], tol,
                      (j >= j0 && j < j1) ? "" : " (outside [j0,j1): must be untouched)");
        }
      }
    }
  for (int64_t e = P.m * P.ldc; e < P.m * P.ldc + guard; e++)
    if (std::memcmp(&Cv[e], &sentinel, sizeof sentinel) != 0) {
      if (printed < 20) {
        printed++;
        std::printf("  FAIL %s m=%" PRId64 " n=%" PRId64 " kp=%" PRId64 " group=%" PRId64 " j=[%" PRId64 ",%" PRId64
                    "): write past the end of C (element %" PRId64 ")\n",
                    v.name, P.m, P.n, P.kp, P.group, j0, j1, e);
      }
      bad++;
    }
  return bad;
}

// quantize_a16 of a variant vs the reference, bit for bit (codes, sx, asum).
int64_t check_quantizer(const Variant& v, std::mt19937& rng) {
  std::uniform_real_distribution<float> ux(-3.0f, 3.0f);
  int64_t bad = 0;
  for (int64_t group : {32, 128, 4096})
    for (int64_t k : {0, 1, 7, 9, 31, 33, 100, 257, 2048, 5000}) {
      const int64_t kp = pad_to(std::max<int64_t>(k, 1), group), ng = kp / group;
      std::vector<float> x(k);
      for (auto& e : x) e = rng() % 100 == 0 ? (rng() & 1 ? 0.0f : 13 * ux(rng)) : ux(rng);
      std::vector<int16_t> q1(kp), q2(kp);
      std::vector<float> s1(ng), s2(ng), a1(ng), a2(ng);
      quantize_a16_ref(x.data(), k, kp, group, q1.data(), s1.data(), a1.data());
      v.quant(x.data(), k, kp, group, q2.data(), s2.data(), a2.data());
      if (q1 != q2 || std::memcmp(s1.data(), s2.data(), ng * 4) || std::memcmp(a1.data(), a2.data(), ng * 4)) {
        std::printf("  FAIL %s quantize_a16 k=%" PRId64 " group=%" PRId64 "\n", v.name, k, group);
        bad++;
      }
    }
  return bad;
}

// Group dots past int32: every code 15, every activation +-32767, one group
// of kp (4096 is the largest int32-safe block; 8192 and 12288 need several).
int64_t check_int32_bound(const Variant& v) {
  int64_t bad = 0;
  for (int64_t kp : {4096, 8192, 12288})
    for (int64_t m : {1, 2, 3, 4, 5, 20})
      for (int sign : {1, -1}) {
        const int64_t n = 5;
        std::vector<int16_t> A(m * kp, (int16_t)(sign * kA16Max));
        std::vector<uint8_t> W(pad_to(n, 4) * kp / 2, 0xff);
        std::vector<float> sx(m, 1.0f / kA16Max), asum(m, 0.0f), s(n, 0.5f), o(n, 0.0f), C(m * n, 0.0f);
        v.fn(A.data(), kp, sx.data(), asum.data(), W.data(), s.data(), o.data(), C.data(), n, m, 0, n, kp, kp);
        const double want = sign * 0.5 * 15 * (double)kp;
        for (float c : C)
          if (std::fabs(c - want) > 1e-5 * std::fabs(want)) {
            std::printf("  FAIL %s int32 bound kp=%" PRId64 " m=%" PRId64 ": %g vs %g\n", v.name, kp, m, c, want);
            bad++;
            break;
          }
      }
  return bad;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median seconds per call; each sample times enough calls to last >= ~2 ms.
template <class F>
double median_time(F&& f, int samples = 15) {
  f();  // warm-up
  double t0 = now_s();
  f();
  const double one = std::max(now_s() - t0, 1e-7);
  const int iters = std::max(1, (int)(2e-3 / one));
  std::vector<double> ts;
  for (int s = 0; s < samples; s++) {
    t0 = now_s();
    for (int it = 0; it < iters; it++) f();
    ts.push_back((now_s() - t0) / iters);
  }
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

void timing(std::mt19937& rng, const std::vector<Variant>& variants) {
  struct Shape {
    int64_t n, k;
  };
  const Shape shapes[] = {{2048, 768}, {5632, 2048}};
  const int64_t group = 128;
  std::printf("\ntiming (1 thread, group %" PRId64 ", median):\n", group);
  for (const Shape& sh : shapes) {
    const int64_t n = sh.n, kp = sh.k;
    const double wbytes = (double)n * kp / 2;
    // m = 1: weights cache-resident after the first call ("hot"), and a
    // rotation over copies totalling >= 512 MiB ("stream", from DRAM).
    {
      Problem P = make_problem(rng, 1, n, kp, group);
      std::vector<float> C(n);
      std::vector<Variant> all = {{"ref", matmul_q4_ref, quantize_a16_ref}};
      all.insert(all.end(), variants.begin(), variants.end());
      const int64_t copies = std::max<int64_t>(2, (int64_t)((512.0 * 1024 * 1024) / wbytes) + 1);
      std::vector<uint8_t> big(copies * (size_t)wbytes);
      for (int64_t c = 0; c < copies; c++) std::memcpy(big.data() + c * (size_t)wbytes, P.W.data(), (size_t)wbytes);
      for (const Variant& v : all) {
        auto call = [&](const uint8_t* W) {
          v.fn(P.A.data(), P.lda, P.sx.data(), P.asum.data(), W, P.s.data(), P.o.data(), C.data(), n, 1, 0, n, kp,
               group);
        };
        const double th = median_time([&] { call(P.W.data()); });
        int64_t next = 0;
        const double ts = median_time([&] {
          call(big.data() + next * (size_t)wbytes);
          next = (next + 1) % copies;
        }, 9);
        std::printf("  m=1    n=%-5" PRId64 " k=%-5" PRId64 " %-7s %9.1f us  %7.2f GB/s hot   %7.2f GB/s stream\n",
                    n, kp, v.name, th * 1e6, wbytes / th * 1e-9, wbytes / ts * 1e-9);
      }
    }
    // m = 128 (prefill)
    {
      const int64_t m = 128;
      Problem P = make_problem(rng, m, n, kp, group);
      std::vector<float> C(m * n);
      for (const Variant& v : variants) {
        const double t = median_time([&] {
          v.fn(P.A.data(), P.lda, P.sx.data(), P.asum.data(), P.W.data(), P.s.data(), P.o.data(), C.data(), n, m, 0,
               n, kp, group);
        }, 7);
        std::printf("  m=%-4" PRId64 " n=%-5" PRId64 " k=%-5" PRId64 " %-7s %9.1f us  %7.2f GFLOP/s\n", m, n, kp,
                    v.name, t * 1e6, 2.0 * m * n * kp / t * 1e-9);
      }
    }
  }
}

}  // namespace

// q4_check bench N K GROUP M: one timing line per variant (1 thread).
int bench(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: q4_check bench N K GROUP M\n");
    return 2;
  }
  const int64_t n = std::atol(argv[2]), kp = std::atol(argv[3]), group = std::atol(argv[4]), m = std::atol(argv[5]);
  if (n < 1 || m < 1 || kp < 32 || kp % 32 || group < 32 || group % 32 || kp % group) {
    std::fprintf(stderr, "q4_check bench: need kp, group multiples of 32, group | kp\n");
    return 2;
  }
  std::mt19937 rng(1);
  Problem P = make_problem(rng, m, n, kp, group);
  std::vector<float> C(m * P.ldc);
  std::vector<Variant> all = available_variants();
  if (m == 1) all.insert(all.begin(), Variant{"ref", matmul_q4_ref, quantize_a16_ref});
  for (const Variant& v : all) {
    const double t = median_time([&] {
      v.fn(P.A.data(), P.lda, P.sx.data(), P.asum.data(), P.W.data(), P.s.data(), P.o.data(), C.data(), P.ldc, m, 0,
           n, kp, group);
    });
    std::printf("m=%-4" PRId64 " n=%-5" PRId64 " k=%-5" PRId64 " g=%-4" PRId64
                " %-7s %10.1f us %7.2f GB/s %7.2f GFLOP/s\n",
                m, n, kp, group, v.name, t * 1e6, (double)n * kp / 2 / t * 1e-9, 2.0 * m * n * kp / t * 1e-9);
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "bench") return bench(argc, argv);
  const unsigned seed = argc > 1 ? (unsigned)std::strtoul(argv[1], nullptr, 0) : std::random_device{}();
  const bool no_timing = argc > 2 && std::string(argv[2]) == "notime";
  std::printf("q4_check seed %u (rerun: q4_check %u)\ncpu: %s\n", seed, seed, cpu_features_string().c_str());
  std::mt19937 rng(seed);
  std::vector<Variant> variants = available_variants();
  std::printf("variants:");
  for (auto& v : variants) std::printf(" %s", v.name);
  std::printf("%s\n", variants.empty() ? " (none besides ref)" : "");

  const int64_t ms[] = {1, 2, 3, 4, 5, 7, 9, 15, 16, 70};
  const int64_t ns[] = {1, 3, 4, 5, 17, 33};
  const int64_t kps[] = {32, 64, 96, 256, 768};
  int64_t failures = 0, cases = 0;
  for (const Variant& v : variants) {
    int printed = 0;
    int64_t vfail = 0, vcases = 0;
    struct Shape {
      int64_t m, n, kp, group;
    };
    // Larger shapes beyond the grid below: several column / k / row blocks of
    // the blocked m > 1 paths, odd chunk and group counts.
    std::vector<Shape> shapes = {{17, 101, 1056, 96},  {33, 200, 1024, 32}, {130, 197, 512, 512},
                                 {64, 100, 1056, 1056}, {6, 150, 1056, 32},  {2, 130, 2048, 128}};
    for (int64_t kp : kps) {
      std::vector<int64_t> groups = {32};
      if (kp % 128 == 0) groups.push_back(128);
      groups.push_back(kp);
      std::sort(groups.begin(), groups.end());
      groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
      for (int64_t group : groups)
        for (int64_t m : ms)
          for (int64_t n : ns) shapes.push_back({m, n, kp, group});
    }
    for (const Shape& sh : shapes) {
      Problem P = make_problem(rng, sh.m, sh.n, sh.kp, sh.group);
      // full range, then a random range [j0, j1): j0 a multiple of 4 <= n
      const int64_t n = sh.n;
      const int64_t j0r = 4 * (int64_t)(rng() % (n / 4 + 1));
      const int64_t j1r = j0r + (int64_t)(rng() % (n - j0r + 1));
      const int64_t ranges[2][2] = {{0, n}, {j0r, j1r}};
      for (auto& r : ranges) {
        // alternate sentinels: 0, and a value no kernel would produce by accident
        const float sentinel = (vcases & 1) ? -12345.5f : 0.0f;
        const int bad = run_case(v, P, r[0], r[1], sentinel, printed);
        vfail += bad != 0;
        vcases++;
      }
    }
    const int64_t qbad = check_quantizer(v, rng), ibad = check_int32_bound(v);
    std::printf("%s: %" PRId64 " cases, %" PRId64 " failed; quantizer %" PRId64 " failed; int32 bound %" PRId64
                " failed\n", v.name, vcases, vfail, qbad, ibad);
    vfail += qbad + ibad;
    failures += vfail;
    cases += vcases;
  }
  std::printf("q4 checks: %" PRId64 " failures (%" PRId64 " cases)\n", failures, cases);
  if (!no_timing) timing(rng, variants);
  return failures ? 1 : 0;
}
