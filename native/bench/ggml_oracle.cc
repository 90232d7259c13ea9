// lowbit's Q4_0 / Q8_0 against llama.cpp itself: the ggml libraries that
// node-llama-cpp ships (its prebuilt binaries; headers from its bundled
// llama.cpp source). Checks, on random data:
//   1. ggml_quantize_row (lowbit) vs quantize_row_q4_0_ref / _q8_0_ref: bytes
//   2. f32_to_f16_scalar vs ggml_fp32_to_fp16 over every f32 bit pattern
//   3. a ggml MUL_MAT on the CPU backend (Q4_0 weights in the repack buffer
//      type, as llama.cpp loads them on AVX2 / AVX-512; Q8_0 weights in a
//      plain CPU buffer) vs lowbit's activation quantization + matmul kernel:
//      bits equal, or the largest difference
//   4. timing: the same MUL_MAT in ggml vs lowbit's matmul() (weights loaded by
//      make_weight from the raw blocks, lowbit's thread pool), decode and prefill
//   make -C native/bench ggml_oracle && native/bench/ggml_oracle [threads] [--quick]
// (Makefile: GGML_CPU picks the CPU variant library, e.g. haswell, icelake.)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"
#include "ggml_quants.h"
#include "kernels/kernels.h"
#include "matmul.h"
#include "weights.h"

extern "C" {
// ggml-quants.h is internal to ggml; these are exported by libggml-base.
void quantize_row_q4_0_ref(const float* x, void* y, int64_t k);
void quantize_row_q8_0_ref(const float* x, void* y, int64_t k);
}
ggml_backend_buffer_type_t ggml_backend_cpu_repack_buffer_type(void);  // libggml-cpu-*, C++ linkage

using namespace lowbit;

namespace {

std::vector<float> random_rows(std::mt19937& rng, int64_t n, float scale) {
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> x(n);
  for (auto& v : x) v = g(rng) * (rng() % 97 == 0 ? 25.0f : 1.0f);
  return x;
}

int check_quantizers(std::mt19937& rng) {
  int bad = 0;
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0})
    for (int rep = 0; rep < 200; rep++) {
      const int64_t k = 4096;
      std::vector<float> x = random_rows(rng, k, std::ldexp(1.0f, (int)(rng() % 40) - 25));
      if (rep % 7 == 0)  // exact ties for both quantizers
        for (auto& v : x) v = std::round(v * 4) / 4;
      if (rep % 11 == 0) std::fill(x.begin(), x.begin() + 64, 0.0f);
      std::vector<uint8_t> a(k / 32 * ggml_block_bytes(t)), b(a.size());
      ggml_quantize_row(t, x.data(), k, a.data());
      if (t == GgmlType::Q4_0) quantize_row_q4_0_ref(x.data(), b.data(), k);
      else quantize_row_q8_0_ref(x.data(), b.data(), k);
      bad += a != b;
    }
  std::printf("quantizers: 400 rows of 4096 (q4_0, q8_0) vs ggml's *_ref: %d differ\n", bad);
  return bad;
}

int check_f16() {
  uint64_t bad = 0;
  for (uint64_t u = 0; u <= 0xffffffffull; u++) {
    float f;
    const uint32_t b = (uint32_t)u;
    std::memcpy(&f, &b, 4);
    const uint16_t mine = f32_to_f16_scalar(f), theirs = ggml_fp32_to_fp16(f);
    if (mine != theirs && !(std::isnan(f) && (mine & 0x7c00) == 0x7c00 && (mine & 0x3ff) && (theirs & 0x7c00) == 0x7c00 && (theirs & 0x3ff)))
      if (bad++ < 5) std::printf("  f16 of %08x: %04x vs ggml %04x\n", b, mine, theirs);
  }
  std::printf("f32 -> f16: all 2^32 inputs vs ggml_fp32_to_fp16: %llu differ (NaN payloads aside)\n", (unsigned long long)bad);
  return bad != 0;
}

// Y[m, n] = ggml_mul_mat(W [n, k] of GGUF blocks, X [m, k]) on the CPU backend.
struct GgmlMatmul {
  ggml_context *wctx, *ctx;
  ggml_backend_buffer_t wbuf, buf;
  ggml_tensor *X, *Y;
  ggml_cgraph* gf;
  GgmlMatmul(ggml_backend_t cpu, GgmlType t, const std::vector<uint8_t>& blocks, int64_t m, int64_t n, int64_t k, bool repack) {
    ggml_init_params wp = {ggml_tensor_overhead() * 2, nullptr, true};
    wctx = ggml_init(wp);
    ggml_tensor* W = ggml_new_tensor_2d(wctx, t == GgmlType::Q4_0 ? GGML_TYPE_Q4_0 : GGML_TYPE_Q8_0, k, n);
    wbuf = ggml_backend_alloc_ctx_tensors_from_buft(
        wctx, repack ? ggml_backend_cpu_repack_buffer_type() : ggml_backend_get_default_buffer_type(cpu));
    ggml_backend_tensor_set(W, blocks.data(), 0, blocks.size());
    ggml_init_params p = {ggml_tensor_overhead() * 8 + ggml_graph_overhead(), nullptr, true};
    ctx = ggml_init(p);
    X = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, m);
    Y = ggml_mul_mat(ctx, W, X);
    gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, Y);
    buf = ggml_backend_alloc_ctx_tensors(ctx, cpu);
  }
  ~GgmlMatmul() {
    ggml_backend_buffer_free(buf);
    ggml_free(ctx);
    ggml_backend_buffer_free(wbuf);
    ggml_free(wctx);
  }
  std::vector<float> run(ggml_backend_t cpu, const std::vector<float>& x) {
    ggml_backend_tensor_set(X, x.data(), 0, x.size() * 4);
    ggml_backend_graph_compute(cpu, gf);
    std::vector<float> y(ggml_nelements(Y));
    ggml_backend_tensor_get(Y, y.data(), 0, y.size() * 4);
    return y;
  }
};
std::vector<float> ggml_matmul(ggml_backend_t cpu, GgmlType t, const std::vector<uint8_t>& blocks, const std::vector<float>& x,
                               int64_t m, int64_t n, int64_t k, bool repack) {
  GgmlMatmul g(cpu, t, blocks, m, n, k, repack);
  return g.run(cpu, x);
}

std::vector<float> lowbit_matmul(GgmlType t, const std::vector<uint8_t>& blocks, const std::vector<float>& x, int64_t m,
                                 int64_t n, int64_t k) {
  const KernelTable& kt = kernels_best();
  const int64_t nb = k / 32;
  std::vector<uint8_t> codes(pad_to(n, 8) * nb * ggml_code_bytes(t), 0);
  std::vector<uint16_t> scales(pad_to(n, 8) * nb, 0);
  for (int64_t j = 0; j < n; j++) ggml_pack_row(t, blocks.data() + j * nb * ggml_block_bytes(t), j, nb, codes.data(), scales.data());
  std::vector<int8_t> a(m * k);
  std::vector<float> ad(m * nb), y(m * n);
  std::vector<int32_t> as(m * nb);
  for (int64_t i = 0; i < m; i++) kt.quantize_q8_0_act(x.data() + i * k, k, a.data() + i * k, ad.data() + i * nb, as.data() + i * nb);
  if (t == GgmlType::Q4_0) kt.matmul_q4_0(a.data(), k, ad.data(), as.data(), codes.data(), scales.data(), y.data(), n, m, 0, n, k);
  else kt.matmul_q8_0(a.data(), k, ad.data(), as.data(), (const int8_t*)codes.data(), scales.data(), y.data(), n, m, 0, n, k);
  return y;
}

int check_matmuls(std::mt19937& rng, int threads) {
  ggml_backend_t cpu = ggml_backend_cpu_init();
  ggml_backend_cpu_set_n_threads(cpu, threads);
  int bad = 0;
  std::printf("matmul vs ggml MUL_MAT (lowbit kernels: %s, ggml threads %d):\n", kernels_best().name, threads);
  std::printf("| type | ggml path | m | n | k | outputs | bit-equal | max rel. diff |\n|---|---|---|---|---|---|---|---|\n");
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0})
    for (int64_t m : {1, 3, 4, 7, 64})
      for (auto nk : {std::pair<int64_t, int64_t>{256, 768}, {2048, 768}, {768, 2048}, {40, 96}}) {
        const int64_t n = nk.first, k = nk.second;
        std::vector<float> w = random_rows(rng, n * k, 0.02f), x = random_rows(rng, m * k, 1.0f);
        std::vector<uint8_t> blocks(n * (k / 32) * ggml_block_bytes(t));
        ggml_quantize_row(t, w.data(), n * k, blocks.data());  // rows are whole blocks: one call covers the matrix
        const bool repack = t == GgmlType::Q4_0;  // what llama.cpp picks on x86 with AVX2 (n % 8 == 0)
        std::vector<float> g = ggml_matmul(cpu, t, blocks, x, m, n, k, repack), l = lowbit_matmul(t, blocks, x, m, n, k);
        int64_t equal = 0;
        double maxrel = 0;
        for (int64_t e = 0; e < m * n; e++) {
          equal += std::memcmp(&g[e], &l[e], 4) == 0;
          maxrel = std::max(maxrel, std::fabs((double)g[e] - l[e]) / std::max(1e-3, std::fabs((double)g[e])));
        }
        std::printf("| %s | %s | %ld | %ld | %ld | %ld | %ld | %.2e |\n", t == GgmlType::Q4_0 ? "q4_0" : "q8_0",
                    repack ? "repack 8x8" : "plain (llamafile / vec_dot)", (long)m, (long)n, (long)k, (long)(m * n), (long)equal, maxrel);
        if (repack && equal != m * n) bad++;     // same numerics: must be bit for bit
        if (!repack && maxrel > 1e-5) bad++;     // f32 summation order differs (8-lane partial sums)
      }
  ggml_backend_free(cpu);
  return bad;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
template <class F>
double median_s(int reps, F fn) {
  std::vector<double> t;
  for (int r = 0; r < reps; r++) {
    const double t0 = now();
    fn();
    t.push_back(now() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// The same MUL_MAT timed in ggml and in lowbit (matmul.cc: activation
// quantization + kernel, both on `threads` threads). Shapes of tinycode-100m.
void bench(std::mt19937& rng, int threads) {
  // llama.cpp's setup: a persistent ggml thread pool; lowbit's pool exists only
  // while lowbit is timed (its idle workers spin for a few ms after each job).
  ggml_backend_t cpu = ggml_backend_cpu_init();
  ggml_threadpool_params tpp = ggml_threadpool_params_default(threads);
  ggml_threadpool* tp = ggml_threadpool_new(&tpp);
  ggml_backend_cpu_set_threadpool(cpu, tp);
  MatmulScratch scratch;
  const KernelTable& kt = kernels_best();
  std::printf("\ntiming, %d threads (lowbit kernels %s), median ms:\n", threads, kt.name);
  std::printf("| type | n | k | m | ggml ms | lowbit ms | lowbit / ggml |\n|---|---|---|---|---|---|---|\n");
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0})
    for (auto nk : {std::pair<int64_t, int64_t>{2048, 768}, {768, 2048}, {16384, 768}})
      for (int64_t m : {1, 512}) {
        const int64_t n = nk.first, k = nk.second;
        std::vector<float> w = random_rows(rng, n * k, 0.02f), x = random_rows(rng, m * k, 1.0f), y(m * n);
        std::vector<uint8_t> blocks(n * (k / 32) * ggml_block_bytes(t));
        ggml_quantize_row(t, w.data(), n * k, blocks.data());
        GgmlMatmul g(cpu, t, blocks, m, n, k, t == GgmlType::Q4_0);
        auto lw = make_weight("w", t == GgmlType::Q4_0 ? SrcDtype::Q4_0 : SrcDtype::Q8_0, blocks.data(), blocks.size(), n, k,
                              WSpec{t == GgmlType::Q4_0 ? WFormat::Q4_0 : WFormat::Q8_0});
        const int reps = m == 1 ? 200 : 7;
        ggml_backend_tensor_set(g.X, x.data(), 0, x.size() * 4);
        ggml_threadpool_resume(tp);
        const double tg = median_s(reps, [&] { ggml_backend_graph_compute(cpu, g.gf); });
        ggml_threadpool_pause(tp);
        double tl;
        {
          ThreadPool pool(threads);
          tl = median_s(reps, [&] { matmul(pool, kt, x.data(), k, m, *lw, y.data(), n, scratch); });
        }
        std::printf("| %s | %ld | %ld | %ld | %.3f | %.3f | %.2f |\n", t == GgmlType::Q4_0 ? "q4_0" : "q8_0", (long)n, (long)k,
                    (long)m, tg * 1e3, tl * 1e3, tl / tg);
      }
  ggml_backend_free(cpu);
  ggml_threadpool_free(tp);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const bool full_f16 = !(argc > 2 && !std::strcmp(argv[2], "--quick"));
  std::mt19937 rng(7);
  int bad = check_quantizers(rng);
  if (full_f16) bad += check_f16();
  bad += check_matmuls(rng, threads);
  bench(rng, threads);
  std::printf("%s\n", bad ? "FAILED" : "all checks passed");
  return bad ? 1 : 0;
}
