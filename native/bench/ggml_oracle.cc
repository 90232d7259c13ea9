// lowbit's Q4_0 / Q8_0 against llama.cpp itself: the ggml libraries that
// node-llama-cpp ships (its prebuilt binaries; headers from its bundled
// llama.cpp source). Checks, on random data:
//   1. ggml_quantize_row (lowbit) vs quantize_row_q4_0_ref / _q8_0_ref: bytes
//   2. f32_to_f16_scalar vs ggml_fp32_to_fp16 over every f32 bit pattern
//   3. a ggml MUL_MAT on the CPU backend (Q4_0 weights in the repack buffer
//      type, as llama.cpp loads them on AVX2 / AVX-512; Q8_0 weights in a
//      plain CPU buffer) vs lowbit's activation quantization + matmul kernel:
//      bits equal, or the largest difference
//   4. the f32 ops between matmuls (ops.cc: RMSNorm, RoPE, SwiGLU, attention
//      without flash attention, one query and a batch, head sizes with and
//      without leftovers) vs the same ggml ops as llama.cpp's graph builds
//      them: bits equal
//   5. timing: the same MUL_MAT in ggml vs lowbit's matmul() (weights loaded by
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
#include "kvcache.h"
#include "matmul.h"
#include "ops.h"
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
    for (int64_t m : {1, 2, 3, 4, 7, 12, 64})  // tinyBLAS_Q0_AVX tiles by the remaining m; m = 1: vec_dot
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
        if (equal != m * n) bad++;  // the same numerics (kernels/ggml.h): bit for bit
      }
  ggml_backend_free(cpu);
  return bad;
}

// ---- f32 ops: ops.cc vs ggml ----

// A small graph on the CPU backend.
struct Graph {
  ggml_context* ctx;
  ggml_backend_buffer_t buf = nullptr;
  ggml_cgraph* gf;
  Graph() {
    ggml_init_params p = {ggml_tensor_overhead() * 64 + ggml_graph_overhead(), nullptr, true};
    ctx = ggml_init(p);
    gf = ggml_new_graph(ctx);
  }
  ~Graph() {
    if (buf) ggml_backend_buffer_free(buf);
    ggml_free(ctx);
  }
  ggml_tensor* f32(int64_t a, int64_t b = 1, int64_t c = 1) { return ggml_new_tensor_3d(ctx, GGML_TYPE_F32, a, b, c); }
  void build(ggml_backend_t cpu, ggml_tensor* out) {
    ggml_build_forward_expand(gf, out);
    buf = ggml_backend_alloc_ctx_tensors(ctx, cpu);
  }
  static void set(ggml_tensor* t, const void* d) { ggml_backend_tensor_set(t, d, 0, ggml_nbytes(t)); }
  std::vector<float> run(ggml_backend_t cpu, ggml_tensor* out) {
    ggml_backend_graph_compute(cpu, gf);
    std::vector<float> y(ggml_nelements(out));
    ggml_backend_tensor_get(out, y.data(), 0, y.size() * 4);
    return y;
  }
};

int64_t count_equal(const std::vector<float>& a, const float* b) {
  int64_t e = 0;
  for (size_t i = 0; i < a.size(); i++) e += std::memcmp(&a[i], &b[i], 4) == 0;
  return e;
}

int report(const char* op, const char* shape, int64_t n, int64_t equal) {
  std::printf("| %s | %s | %ld | %ld |\n", op, shape, (long)n, (long)equal);
  return equal != n;
}

int check_f32_ops(std::mt19937& rng, int threads) {
  ggml_backend_t cpu = ggml_backend_cpu_init();
  ggml_backend_cpu_set_n_threads(cpu, threads);
  ThreadPool pool(threads);
  const KernelTable& kt = kernels_best();
  int bad = 0;
  char shape[160];
  std::printf("\nf32 ops vs ggml (lowbit kernels: %s, %d threads):\n| op | shape | outputs | bit-equal |\n|---|---|---|---|\n",
              kt.name, threads);
  // RMSNorm then the weight (llama.cpp: rms_norm, mul)
  for (int64_t d : {256, 768, 100})
    for (int64_t m : {1, 5}) {
      std::vector<float> x = random_rows(rng, m * d, 3.0f), w = random_rows(rng, d, 1.0f), y(m * d);
      Graph g;
      ggml_tensor *X = g.f32(d, m), *W = g.f32(d);
      ggml_tensor* Y = ggml_mul(g.ctx, ggml_rms_norm(g.ctx, X, 1e-5f), W);
      g.build(cpu, Y);
      Graph::set(X, x.data());
      Graph::set(W, w.data());
      const std::vector<float> want = g.run(cpu, Y);
      op_rms_norm(pool, kt, x.data(), (int)m, d, w.data(), 1e-5f, y.data());
      std::snprintf(shape, sizeof shape, "d %ld, rows %ld", (long)d, (long)m);
      bad += report("rms_norm", shape, m * d, count_equal(want, y.data()));
    }
  // RoPE (llama.cpp's "normal" mode on interleaved pairs; lowbit's input in HF order)
  for (int hd : {64, 128})
    for (int n : {1, 7}) {
      const int heads = 4, half = hd / 2;
      std::vector<float> x = random_rows(rng, (int64_t)n * heads * hd, 2.0f), xhf(x.size());
      for (int64_t r = 0; r < (int64_t)n * heads; r++)
        for (int i = 0; i < half; i++) {
          xhf[r * hd + i] = x[r * hd + 2 * i];
          xhf[r * hd + half + i] = x[r * hd + 2 * i + 1];
        }
      std::vector<int32_t> pos(n);
      for (auto& p : pos) p = (int32_t)(rng() % 4000);
      Graph g;
      ggml_tensor* X = g.f32(hd, heads, n);
      ggml_tensor* P = ggml_new_tensor_1d(g.ctx, GGML_TYPE_I32, n);
      ggml_tensor* Y = ggml_rope_ext(g.ctx, X, P, nullptr, hd, 0, 4096, 10000.0f, 1.0f, 0.0f, 1.0f, 32.0f, 1.0f);
      g.build(cpu, Y);
      Graph::set(X, x.data());
      Graph::set(P, pos.data());
      const std::vector<float> want = g.run(cpu, Y);
      std::vector<float> cs, sn;
      rope_tables(10000.0f, hd, pos.data(), n, &cs, &sn);
      op_rope(pool, xhf.data(), n, heads, hd, cs.data(), sn.data());
      std::snprintf(shape, sizeof shape, "head %d, %d heads, %d tokens", hd, heads, n);
      bad += report("rope", shape, (int64_t)n * heads * hd, count_equal(want, xhf.data()));
    }
  // SwiGLU (rows with and without an n % 8 tail)
  for (int64_t d : {704, 2048, 100, 13})
    for (int64_t m : {1, 6}) {
      std::vector<float> gt = random_rows(rng, m * d, 4.0f), up = random_rows(rng, m * d, 1.0f), y(m * d);
      Graph g;
      ggml_tensor *G = g.f32(d, m), *U = g.f32(d, m);
      ggml_tensor* Y = ggml_swiglu_split(g.ctx, G, U);
      g.build(cpu, Y);
      Graph::set(G, gt.data());
      Graph::set(U, up.data());
      const std::vector<float> want = g.run(cpu, Y);
      op_silu_mul(pool, kt, gt.data(), up.data(), y.data(), (int)m, d);
      std::snprintf(shape, sizeof shape, "d %ld, rows %ld", (long)d, (long)m);
      bad += report("swiglu", shape, m * d, count_equal(want, y.data()));
    }
  // Attention as llama.cpp builds it without flash attention: kq = mul_mat(k, q
  // permuted), soft_max_ext with the causal mask and 1/sqrt(hd), kqv =
  // mul_mat(v transposed, kq). The cache holds `past + n` cells of kv_size; n
  // queries at positions past .. past + n - 1.
  const int64_t kv_size = 256;
  for (int hd : {64, 80, 128, 44, 70})  // 44, 70: the dot's 8 / 4 / fused leftovers; 70: V without tinyBLAS
    for (auto hk : {std::pair<int, int>{4, 2}, {12, 4}})
      for (int n : {1, 2, 12})
        for (int past : {0, 37}) {
          const int heads = hk.first, kvh = hk.second, cells = past + n;
          std::vector<float> q = random_rows(rng, (int64_t)n * heads * hd, 1.5f);
          std::vector<float> k(kv_size * kvh * hd, 0.0f), vt(kv_size * hd * kvh, 0.0f);  // k [cell][kvh][hd], vt [kvh][hd][cell]
          std::vector<float> kr = random_rows(rng, (int64_t)cells * kvh * hd, 1.5f), vr = random_rows(rng, (int64_t)cells * kvh * hd, 1.0f);
          for (int c = 0; c < cells; c++)
            for (int h = 0; h < kvh; h++)
              for (int e = 0; e < hd; e++) {
                k[((int64_t)c * kvh + h) * hd + e] = kr[((int64_t)c * kvh + h) * hd + e];
                vt[((int64_t)h * hd + e) * kv_size + c] = vr[((int64_t)c * kvh + h) * hd + e];
              }
          std::vector<float> mask(kv_size * n);
          for (int i = 0; i < n; i++)
            for (int64_t c = 0; c < kv_size; c++) mask[i * kv_size + c] = c <= past + i ? 0.0f : -INFINITY;
          const float scale = 1.0f / std::sqrt((float)hd);
          Graph g;
          ggml_tensor *Q = g.f32(hd, heads, n), *K = g.f32(hd, kvh, kv_size), *VT = g.f32(kv_size, hd, kvh), *M = g.f32(kv_size, n);
          ggml_tensor* kq = ggml_mul_mat(g.ctx, ggml_permute(g.ctx, K, 0, 2, 1, 3), ggml_permute(g.ctx, Q, 0, 2, 1, 3));
          kq = ggml_soft_max_ext(g.ctx, kq, M, scale, 0.0f);
          ggml_tensor* kqv = ggml_mul_mat(g.ctx, VT, kq);
          ggml_tensor* Y = ggml_cont(g.ctx, ggml_permute(g.ctx, kqv, 0, 2, 1, 3));
          g.build(cpu, Y);
          Graph::set(Q, q.data());
          Graph::set(K, k.data());
          Graph::set(VT, vt.data());
          Graph::set(M, mask.data());
          const std::vector<float> want = g.run(cpu, Y);
          KVCache cache(1, kvh, hd, (int)kv_size, 10000.0f);
          std::vector<int32_t> cpos(cells), qpos(n);
          for (int c = 0; c < cells; c++) cpos[c] = c;
          for (int i = 0; i < n; i++) qpos[i] = past + i;
          cache.stage(cpos.data(), cells);
          cache.commit(cells);
          for (int c = 0; c < cells; c++)
            for (int h = 0; h < kvh; h++) {
              std::memcpy(cache.k(0, h, c), &kr[((int64_t)c * kvh + h) * hd], hd * 4);
              std::memcpy(cache.v(0, h, c), &vr[((int64_t)c * kvh + h) * hd], hd * 4);
            }
          std::vector<float> y((int64_t)n * heads * hd);
          std::vector<AlignedBuf> scratch;
          op_attention(pool, kt, cache, 0, cells, q.data(), qpos.data(), n, heads, y.data(), scratch);
          std::snprintf(shape, sizeof shape, "head %d, %d/%d heads, %d queries after %d cells", hd, heads, kvh, n, past);
          bad += report("attention", shape, (int64_t)n * heads * hd, count_equal(want, y.data()));
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
        WSpec spec;
        spec.format = weight_format(t == GgmlType::Q4_0 ? "q4_0" : "q8_0");
        auto lw = make_weight("w", t == GgmlType::Q4_0 ? SrcDtype::Q4_0 : SrcDtype::Q8_0, blocks.data(), blocks.size(), n, k, spec);
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
  bad += check_f32_ops(rng, threads);
  bench(rng, threads);
  std::printf("%s\n", bad ? "FAILED" : "all checks passed");
  return bad ? 1 : 0;
}
