// lowbit's K-quant kernels (native/src/formats/) against llama.cpp itself: a
// ggml MUL_MAT on the CPU backend of the libraries node-llama-cpp ships
// (GGML_CPU variant, haswell by default), Q4_K and IQ4_NL weights in the
// repack buffer type (as llama.cpp loads them on AVX2 machines), the others in
// a plain CPU buffer, vs lowbit's activation quantization (Q8_K, or Q8_0 / Q8_1
// for the block-32 types) + matmul: bits equal, or the largest difference.
// Decode (m = 1) and prefill shapes. --types q4_1,q5_0,... limits the types.
// With --record FILE.json it also writes a few small cases (weights, inputs and
// llama.cpp's outputs) as the fixture test/fixtures/kquant-llamacpp.json that
// kquant-kernels.test.ts replays without llama.cpp.
// Quantizers: lowbit's q4_k / q5_k / q6_k quantize_row (and the q5_0 / q5_1
// ones GGUF export falls back to) against ggml's
// quantize_row_*_ref (ggml_quantize_chunk without an importance matrix, as
// llama-quantize calls it) on rows of varied distributions: bytes equal; with
// --record a few rows (f32 inputs, ggml's blocks) go into the fixture too.
// With --time: one thread each, ggml's MUL_MAT vs lowbit's quantizer + matmul on
// a TinyLlama-sized [5632, 2048] matrix, m = 1 (decode) and m = 16, alternating,
// the fastest of 15 runs of each.
//   make -C native/bench kquant_oracle && native/bench/kquant_oracle [ref|avx2|avx512] [--types T,..] [--record FILE] [--time]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "formats/kquant.h"
#include "ggml_quants.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"

ggml_backend_buffer_type_t ggml_backend_cpu_repack_buffer_type(void);

using namespace lowbit;

namespace {

// the types llama.cpp repacks on x86 (AVX2), for matrices of a multiple of 8 rows
bool repacked(const KQuantFormat& f) { return f.ggml_type == GGML_TYPE_Q4_K || f.ggml_type == GGML_TYPE_IQ4_NL; }

std::vector<float> ggml_matmul(ggml_backend_t cpu, ggml_type t, const std::vector<uint8_t>& blocks,
                               const std::vector<float>& x, int64_t m, int64_t n, int64_t k, bool repack) {
  ggml_init_params wp = {ggml_tensor_overhead() * 2, nullptr, true};
  ggml_context* wctx = ggml_init(wp);
  ggml_tensor* W = ggml_new_tensor_2d(wctx, t, k, n);
  ggml_backend_buffer_t wbuf = ggml_backend_alloc_ctx_tensors_from_buft(
      wctx, repack ? ggml_backend_cpu_repack_buffer_type() : ggml_backend_get_default_buffer_type(cpu));
  ggml_backend_tensor_set(W, blocks.data(), 0, blocks.size());
  ggml_init_params p = {ggml_tensor_overhead() * 8 + ggml_graph_overhead(), nullptr, true};
  ggml_context* ctx = ggml_init(p);
  ggml_tensor* X = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, m);
  ggml_tensor* Y = ggml_mul_mat(ctx, W, X);
  ggml_cgraph* gf = ggml_new_graph(ctx);
  ggml_build_forward_expand(gf, Y);
  ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors(ctx, cpu);
  ggml_backend_tensor_set(X, x.data(), 0, x.size() * 4);
  ggml_backend_graph_compute(cpu, gf);
  std::vector<float> y(ggml_nelements(Y));
  ggml_backend_tensor_get(Y, y.data(), 0, y.size() * 4);
  ggml_backend_buffer_free(buf);
  ggml_free(ctx);
  ggml_backend_buffer_free(wbuf);
  ggml_free(wctx);
  return y;
}

std::vector<float> lowbit_matmul(const KQuantFormat& f, const char* variant, const std::vector<uint8_t>& blocks,
                                 const std::vector<float>& x, int64_t m, int64_t n, int64_t k) {
  std::vector<uint8_t> act(kquant_act_bytes(f, m, k));
  kquant_prepare(f, x.data(), k, m, k, 0, m, act.data());
  std::vector<float> y(m * n);
  const int64_t rb = k / f.block_elems * f.block_bytes;
  std::vector<uint8_t> stored(kquant_storage_bytes(f, n, rb));  // as a loaded weight keeps them (Q4_K packed)
  kquant_store(f, blocks.data(), n, rb, stored.data());
  kquant_kernels(f, variant).matmul(kquant_act_view(f, act.data(), m, k), m, stored.data(), rb, y.data(), n, 0, n);
  return y;
}

const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
std::string b64(const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < n ? kB64[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kB64[v & 63] : '=';
  }
  return out;
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

void time_kernels(const char* variant, const std::vector<std::string>& types) {
  ggml_backend_t cpu = ggml_backend_cpu_init();
  ggml_backend_cpu_set_n_threads(cpu, 1);
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0, 1);
  const int64_t n = 5632, k = 2048;
  for (const std::string& type : types)
    for (int64_t m : {1, 16, 64}) {
      const char* name = type.c_str();
      const KQuantFormat& f = *kquant_format(name);
      std::vector<float> wf(n * k), x(m * k);
      for (auto& v : wf) v = g(rng) * 0.05f;
      for (auto& v : x) v = g(rng);
      std::vector<uint8_t> blocks(n * (k / f.block_elems) * f.block_bytes);
      ggml_quantize_chunk((ggml_type)f.ggml_type, wf.data(), blocks.data(), 0, n, k, nullptr);
      ggml_init_params wp = {ggml_tensor_overhead() * 2, nullptr, true};
      ggml_context* wctx = ggml_init(wp);
      ggml_tensor* W = ggml_new_tensor_2d(wctx, (ggml_type)f.ggml_type, k, n);
      ggml_backend_buffer_t wbuf = ggml_backend_alloc_ctx_tensors_from_buft(
          wctx, repacked(f) ? ggml_backend_cpu_repack_buffer_type() : ggml_backend_get_default_buffer_type(cpu));
      ggml_backend_tensor_set(W, blocks.data(), 0, blocks.size());
      ggml_init_params p = {ggml_tensor_overhead() * 8 + ggml_graph_overhead(), nullptr, true};
      ggml_context* ctx = ggml_init(p);
      ggml_tensor* X = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, m);
      ggml_tensor* Y = ggml_mul_mat(ctx, W, X);
      ggml_cgraph* gf = ggml_new_graph(ctx);
      ggml_build_forward_expand(gf, Y);
      ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors(ctx, cpu);
      ggml_backend_tensor_set(X, x.data(), 0, x.size() * 4);
      double tg = 1e9, tl = 1e9;
      std::vector<uint8_t> act(kquant_act_bytes(f, m, k));
      std::vector<float> y(m * n);
      const int64_t rb = k / f.block_elems * f.block_bytes;
      std::vector<uint8_t> stored(kquant_storage_bytes(f, n, rb));
      kquant_store(f, blocks.data(), n, rb, stored.data());
      for (int r = 0; r < 15; r++) {
        double t0 = now_s();
        ggml_backend_graph_compute(cpu, gf);
        tg = std::min(tg, now_s() - t0);
        t0 = now_s();
        kquant_prepare(f, x.data(), k, m, k, 0, m, act.data());
        kquant_kernels(f, variant).matmul(kquant_act_view(f, act.data(), m, k), m, stored.data(), rb, y.data(), n, 0, n);
        tl = std::min(tl, now_s() - t0);
      }
      std::printf("time %s m=%ld [%ld x %ld], 1 thread: ggml %.3f ms, lowbit %s %.3f ms (lowbit speed %.2fx ggml's)\n", name,
                  (long)m, (long)n, (long)k, tg * 1e3, variant, tl * 1e3, tg / tl);
      ggml_backend_buffer_free(buf);
      ggml_free(ctx);
      ggml_backend_buffer_free(wbuf);
      ggml_free(wctx);
    }
  ggml_backend_free(cpu);
}

// Rows of k values: Gaussian of varied scales, outliers, all-zero / constant /
// tiny sub-blocks, one-sided rows, f16-representable values (as from an F16 file).
std::vector<float> quant_rows(std::mt19937& rng, int64_t rows, int64_t k) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(rows * k);
  for (int64_t r = 0; r < rows; r++) {
    float* xr = x.data() + r * k;
    const float scale = std::ldexp(1.0f, (int)(rng() % 24) - 16);
    for (int64_t i = 0; i < k; i++) xr[i] = g(rng) * scale;
    switch (r % 8) {
      case 1: for (int64_t i = 0; i < k; i += 37) xr[i] *= 40.0f; break;           // outliers
      case 2: for (int64_t i = 0; i < 32; i++) xr[i] = 0.0f; break;                // a zero sub-block
      case 3: for (int64_t i = 0; i < k; i++) xr[i] = std::fabs(xr[i]); break;     // one-sided (min 0)
      case 4: for (int64_t i = 16; i < 48; i++) xr[i] = 0.25f; break;              // constant sub-block
      case 5: for (int64_t i = 0; i < 256; i++) xr[i] = 0.0f; break;               // a zero super-block
      case 6: for (int64_t i = 0; i < k; i++) xr[i] = -std::fabs(xr[i]); break;    // all negative
      case 7: for (int64_t i = 0; i < k; i++) xr[i] *= 1e-6f; break;               // tiny (f16 subnormal scales)
    }
    for (int64_t i = 0; i < k; i++) xr[i] = ggml_fp16_to_fp32(ggml_fp32_to_fp16(xr[i]));
  }
  return x;
}

// Returns the number of rows whose bytes differ; appends fixture entries to *rec.
int check_quantizers(std::string* rec) {
  std::mt19937 rng(99);
  int bad = 0;
  struct Q { const char* name; int ggml_type; int64_t block_elems, block_bytes; void (*row)(const float*, int64_t, uint8_t*); };
  std::vector<Q> qs;
  for (const char* name : {"q4_k", "q5_k", "q6_k"}) {
    const KQuantFormat& f = *kquant_format(name);
    qs.push_back({name, f.ggml_type, f.block_elems, f.block_bytes, f.quantize_row});
  }
  // the Q4_K / Q5_K fallbacks of GGUF export (ggml_quants.h)
  qs.push_back({"q5_0", GGML_TYPE_Q5_0, 32, 22, ggml_quantize_row_q5_0});
  qs.push_back({"q5_1", GGML_TYPE_Q5_1, 32, 24, ggml_quantize_row_q5_1});
  for (const Q& f : qs) {
    const char* name = f.name;
    const int64_t rows = 512, k = 768, rb = k / f.block_elems * f.block_bytes;
    const std::vector<float> x = quant_rows(rng, rows, k);
    std::vector<uint8_t> want(rows * rb), got(rows * rb);
    ggml_quantize_chunk((ggml_type)f.ggml_type, x.data(), want.data(), 0, rows, k, nullptr);
    for (int64_t r = 0; r < rows; r++) f.row(x.data() + r * k, k, got.data() + r * rb);
    int64_t diff = 0;
    for (int64_t r = 0; r < rows; r++) diff += std::memcmp(want.data() + r * rb, got.data() + r * rb, rb) != 0;
    std::printf("quantize %s: %ld/%ld rows byte-equal to ggml's reference quantizer\n", name, (long)(rows - diff), (long)rows);
    bad += (int)diff;
    if (rec) {  // rows 0..7: one of each kind
      const int64_t nr = 8;
      *rec += std::string(rec->empty() ? "" : ",\n") + "  {\"type\": \"" + name + "\", \"rows\": " + std::to_string(nr) +
              ", \"k\": " + std::to_string(k) + ",\n   \"x\": \"" + b64(x.data(), nr * k * 4) + "\",\n   \"blocks\": \"" +
              b64(want.data(), nr * rb) + "\"}";
    }
  }
  return bad;
}

}  // namespace

int main(int argc, char** argv) {
  const char* variant = argc > 1 && argv[1][0] != '-' ? argv[1] : "ref";
  const char* record = nullptr;
  std::vector<std::string> types;
  for (int i = 1; i + 1 < argc; i++) {
    if (std::string(argv[i]) == "--record") record = argv[i + 1];
    if (std::string(argv[i]) == "--types")
      for (std::string rest = argv[i + 1]; !rest.empty();) {
        const size_t c = rest.find(',');
        types.push_back(rest.substr(0, c));
        rest = c == std::string::npos ? "" : rest.substr(c + 1);
      }
  }
  if (types.empty()) {
    // the recorded fixture's order first (new types last, so re-recording keeps the earlier cases), then the rest
    types = {"q4_k", "q5_k", "q6_k", "q2_k", "q3_k"};
    int count = 0;
    const KQuantFormat* all = kquant_formats(&count);
    for (int i = 0; i < count; i++)
      if (std::find(types.begin(), types.end(), all[i].name) == types.end()) types.push_back(all[i].name);
  }
  for (const std::string& t : types)
    if (!kquant_format(t.c_str())) {
      std::fprintf(stderr, "unknown type %s\n", t.c_str());
      return 2;
    }
  for (int i = 1; i < argc; i++)
    if (std::string(argv[i]) == "--time") {
      time_kernels(variant, types);
      return 0;
    }
  std::string cases;
  ggml_backend_t cpu = ggml_backend_cpu_init();
  ggml_backend_cpu_set_n_threads(cpu, 2);
  std::mt19937 rng(1234);
  int bad = 0;
  for (const std::string& type : types)
    for (int ties = 0; ties < 2; ties++) {
    const char* name = type.c_str();
    const KQuantFormat& f = *kquant_format(name);
    for (int64_t m : {1, 2, 4, 5, 9})
      for (int64_t k : {f.block_elems == 32 ? (int64_t)160 : (int64_t)256, (int64_t)768, (int64_t)2048}) {
        const int64_t n = 64;
        // weights: ggml's own quantizer output for random rows
        std::normal_distribution<float> g(0.0f, 1.0f);
        std::vector<float> wf(n * k), x(m * k);
        for (auto& v : wf) v = g(rng) * 0.05f;
        for (auto& v : x) v = g(rng) * (rng() % 97 == 0 ? 25.0f : 1.0f);
        if (ties)  // +max and -max in every block, -max first: the 4-row quantizer's tie rule
          for (int64_t b = 0; b < m * k / f.block_elems; b++) {  // (Q8_0 / Q8_1: every block of 32)
            x[b * f.block_elems + 3] = -100.0f;
            x[b * f.block_elems + (f.block_elems == 32 ? 20 : 200)] = 100.0f;
          }
        std::vector<uint8_t> blocks(n * (k / f.block_elems) * f.block_bytes);
        ggml_quantize_chunk((ggml_type)f.ggml_type, wf.data(), blocks.data(), 0, n, k, nullptr);
        std::vector<float> a = ggml_matmul(cpu, (ggml_type)f.ggml_type, blocks, x, m, n, k, repacked(f));
        std::vector<float> b = lowbit_matmul(f, variant, blocks, x, m, n, k);
        int64_t equal = 0;
        double maxrel = 0;
        for (size_t i = 0; i < a.size(); i++) {
          if (a[i] == b[i]) equal++;
          maxrel = std::fmax(maxrel, std::fabs(a[i] - b[i]) / (std::fabs(a[i]) + 1e-30));
        }
        std::printf("%s %s%s m=%ld k=%ld: %ld/%ld equal, max rel diff %.3g\n", name, variant, ties ? " (+-max ties)" : "", (long)m, (long)k, (long)equal,
                    (long)a.size(), maxrel);
        bad += equal != (int64_t)a.size();
        const bool small = f.act == kActQ8_K ? m == 1 || m == 5 || m == 9 : !ties && (m == 1 || m == 9);  // (block-32: no tie rule)
        if (record && k == 768 && small) {  // small cases for the fixture (n = 16 of the 64 rows)
          const int64_t nr = 16, rb = k / f.block_elems * f.block_bytes;
          std::vector<float> want(m * nr);
          for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < nr; j++) want[i * nr + j] = a[i * n + j];
          cases += std::string(cases.empty() ? "" : ",\n") + "  {\"type\": \"" + name + "\", \"ties\": " + (ties ? "true" : "false") +
                   ", \"m\": " + std::to_string(m) + ", \"n\": " + std::to_string(nr) + ", \"k\": " + std::to_string(k) +
                   ",\n   \"w\": \"" + b64(blocks.data(), nr * rb) + "\",\n   \"x\": \"" + b64(x.data(), x.size() * 4) +
                   "\",\n   \"y\": \"" + b64(want.data(), want.size() * 4) + "\"}";
        }
      }
  }
  ggml_backend_free(cpu);
  std::string quants;
  bad += check_quantizers(record ? &quants : nullptr);
  if (record) {
    FILE* fp = std::fopen(record, "w");
    if (!fp) return 2;
    std::fprintf(fp, "{\"about\": \"llama.cpp MUL_MAT outputs (node-llama-cpp prebuilt libggml-cpu-haswell; Q4_K and IQ4_NL repacked) recorded by native/bench/kquant_oracle.cc --record; w: GGUF blocks (n rows), x: f32 inputs [m, k], y: f32 outputs [m, n], base64 little-endian; quantize: ggml's quantize_row_*_ref blocks of f32 rows x [rows, k]\",\n \"cases\": [\n%s\n],\n \"quantize\": [\n%s\n]}\n", cases.c_str(), quants.c_str());
    std::fclose(fp);
  }
  return bad ? 1 : 0;
}
