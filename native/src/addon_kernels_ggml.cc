// The test addon's runKernel entries for llama.cpp's formats (addon_kernels.h):
//   runKernel(variant, "quantize_q8_0_act" | "matmul_q4_0" | "matmul_q8_0" | "ggml_weight", args)
//   and the K-quants' (below). Not part of the production addon.
#include <algorithm>
#include <vector>

#include "addon_ggml.h"
#include "addon_io.h"
#include "addon_kernels.h"
#include "addon_util.h"
#include "formats/ggml_blocks.h"
#include "formats/kquant.h"
#include "ggml_quants.h"
#include "kernels/ggml.h"
#include "weights.h"

namespace lowbit {

namespace {

// matmul_q4_0 / matmul_q8_0: a Int8Array [m, k] codes in [-127, 127], ad
// Float32Array [m, k / 32] block scales, w Uint8Array [n] rows of GGUF blocks.
// The activation block sums are computed here; W is packed as the loader does.
Napi::Value run_matmul(Napi::Env env, const KernelTable& kt, GgmlType t, Napi::Object a) {
  const int64_t m = dim(a, "m"), n = dim(a, "n"), k = dim(a, "k"), j0 = dim(a, "j0"), j1 = dim(a, "j1");
  if (j0 > j1 || j1 > n || j0 % kGgmlRows || m * n > (1 << 26)) throw Napi::RangeError::New(env, "bad shape or column range (j0 % 8 == 0)");
  if (k < kQK || k % kQK) throw Napi::RangeError::New(env, "k must be a positive multiple of 32");
  const int64_t nb = k / kQK, bb = ggml_block_bytes(t), n8 = pad_to(n, kGgmlRows);
  auto A = field<Napi::Int8Array>(a, "a", m * k);
  auto AD = field<Napi::Float32Array>(a, "ad", m * nb);
  auto W = field<Napi::Uint8Array>(a, "w", n * nb * bb);
  std::vector<uint8_t> codes((size_t)(n8 * nb * ggml_code_bytes(t)), 0);
  std::vector<uint16_t> scales((size_t)(n8 * nb), 0);
  for (int64_t j = 0; j < n; j++) ggml_pack_row(t, W.Data() + j * nb * bb, j, nb, codes.data(), scales.data());
  std::vector<int32_t> sums((size_t)(m * nb), 0);
  for (int64_t i = 0; i < m; i++)
    for (int64_t p = 0; p < k; p++) sums[i * nb + p / kQK] += A.Data()[i * k + p];
  Napi::Float32Array c = Napi::Float32Array::New(env, m * n);
  std::fill(c.Data(), c.Data() + m * n, 0.0f);
  if (t == GgmlType::Q4_0)
    kt.matmul_q4_0(A.Data(), k, AD.Data(), sums.data(), codes.data(), scales.data(), c.Data(), n, m, j0, j1, k);
  else
    kt.matmul_q8_0(A.Data(), k, AD.Data(), sums.data(), reinterpret_cast<const int8_t*>(codes.data()), scales.data(),
                   c.Data(), n, m, j0, j1, k);
  return c;
}

}  // namespace

// K-quants (formats/kquant.h):
//   quantize_q8_K_act { x: Float32Array [k], k, tiesPositive?: boolean } -> { q: Int8Array [k], d: Float32Array [k / 256], bsums: Int16Array [k / 16] }
//   matmul_kquant { type: "q4_k" | "q6_k", a: Int8Array [m, k] codes in [-127, 127], ad: Float32Array [m, k / 256],
//                   w: Uint8Array [n] rows of GGUF blocks, m, n, k, j0, j1 } -> Float32Array [m, n] (the 16-sums
//                   of the activation codes are computed here; columns outside [j0, j1) stay 0)
//                   A block-32 type ("q4_1", "q5_0", "q5_1", "iq4_nl") takes ad: [m, k / 32] (Q8_0 / Q8_1 d) and,
//                   for Q8_1 (q4_1, q5_1), as: Float32Array [m, k / 32] (the blocks' s).
//   quantize_q8_1_act { x: Float32Array [k], k } -> { q: Int8Array [k], d: Float32Array [k / 32], s: Float32Array [k / 32] }
Napi::Value run_kquant(Napi::Env env, const KernelTable& kt, const std::string& name, Napi::Object a) {
  if (name == "quantize_q8_1_act") {
    const int64_t k = dim(a, "k");
    if (k % 32) throw Napi::RangeError::New(env, "k must be a multiple of 32");
    auto x = field<Napi::Float32Array>(a, "x", k);
    Napi::Int8Array q = Napi::Int8Array::New(env, k);
    Napi::Float32Array d = Napi::Float32Array::New(env, k / 32), s = Napi::Float32Array::New(env, k / 32);
    quantize_row_q8_1(x.Data(), k, q.Data(), d.Data(), s.Data());
    Napi::Object res = Napi::Object::New(env);
    res.Set("q", q);
    res.Set("d", d);
    res.Set("s", s);
    return res;
  }
  if (name == "quantize_q8_K_act") {
    const int64_t k = dim(a, "k");
    if (k % kQK_K) throw Napi::RangeError::New(env, "k must be a multiple of 256");
    auto x = field<Napi::Float32Array>(a, "x", k);
    Napi::Int8Array q = Napi::Int8Array::New(env, k);
    Napi::Float32Array d = Napi::Float32Array::New(env, k / kQK_K);
    Napi::Int16Array bs = Napi::Int16Array::New(env, k / 16);
    const Napi::Value tp = a.Get("tiesPositive");  // optional: the 4-row quantizer's tie rule
    quantize_row_q8_K(x.Data(), k, q.Data(), d.Data(), bs.Data(), tp.IsBoolean() && tp.As<Napi::Boolean>().Value());
    Napi::Object res = Napi::Object::New(env);
    res.Set("q", q);
    res.Set("d", d);
    res.Set("bsums", bs);
    return res;
  }
  const KQuantFormat* f = kquant_format(get_string(a, "type").c_str());
  if (!f) throw Napi::TypeError::New(env, "unknown K-quant type");
  const int64_t m = dim(a, "m"), n = dim(a, "n"), k = dim(a, "k"), j0 = dim(a, "j0"), j1 = dim(a, "j1");
  if (j0 > j1 || j1 > n || m * n > (1 << 26)) throw Napi::RangeError::New(env, "bad shape or column range");
  const int64_t be = f->block_elems;
  if (k < be || k % be) throw Napi::RangeError::New(env, "k must be a positive multiple of " + std::to_string(be));
  const int64_t nb = k / be, rb = nb * f->block_bytes;
  const int64_t nd = f->act == kActQ8_K ? k / kQK_K : k / 32;  // activation scales per row
  if (f->act == kActQ8_K && k % kQK_K) throw Napi::RangeError::New(env, "k must be a multiple of 256");
  auto A = field<Napi::Int8Array>(a, "a", m * k);
  auto AD = field<Napi::Float32Array>(a, "ad", m * nd);
  auto W = field<Napi::Uint8Array>(a, "w", n * rb);
  for (int64_t i = 0; i < m * k; i++)
    if (A.Data()[i] < -127) throw Napi::RangeError::New(env, "activation codes must be in [-127, 127]");
  std::vector<int16_t> bs((size_t)(m * k / 16), 0);
  for (int64_t i = 0; i < m * k; i++) bs[i / 16] = (int16_t)(bs[i / 16] + A.Data()[i]);
  std::vector<uint8_t> wcopy(kquant_storage_bytes(*f, n, rb));  // stored as a loaded weight's blocks (packed: Q4_K)
  kquant_store(*f, W.Data(), n, rb, wcopy.data());
  std::vector<int16_t> bsp((size_t)(m * k / 32));
  kquant_pair_sums(bs.data(), m * k, bsp.data());
  KAct act{A.Data(), AD.Data(), bs.data(), k, bsp.data()};
  Napi::Float32Array AS;
  if (f->act == kActQ8_1) {
    AS = field<Napi::Float32Array>(a, "as", m * nd);
    act.s = AS.Data();
  }
  Napi::Float32Array c = Napi::Float32Array::New(env, m * n);
  std::fill(c.Data(), c.Data() + m * n, 0.0f);
  // a packed format's column ranges start at a group: from j0's group on, the columns before j0 cleared again
  const int64_t g0 = j0 - j0 % f->pack_rows;
  kquant_kernels(*f, kt.isa).matmul(act, m, wcopy.data(), rb, c.Data(), n, g0, j1);
  for (int64_t i = 0; i < m; i++) std::fill(c.Data() + i * n + g0, c.Data() + i * n + j0, 0.0f);
  return c;
}

bool IsGgmlKernel(const std::string& name) {
  return name == "quantize_q8_0_act" || name == "matmul_q4_0" || name == "matmul_q8_0" || name == "ggml_weight" ||
         name == "quantize_q8_K_act" || name == "quantize_q8_1_act" || name == "matmul_kquant";
}

Napi::Value RunGgmlKernel(Napi::Env env, const KernelTable& kt, const std::string& name, Napi::Object a) {
  if (name == "quantize_q8_K_act" || name == "quantize_q8_1_act" || name == "matmul_kquant") return run_kquant(env, kt, name, a);
  if (name == "quantize_q8_0_act") {  // x: Float32Array [k] -> { q: Int8Array [k], d: Float32Array, s: Int32Array [k / 32] }
    const int64_t k = dim(a, "k");
    if (k % kQK) throw Napi::RangeError::New(env, "k must be a multiple of 32");
    auto x = field<Napi::Float32Array>(a, "x", k);
    Napi::Int8Array q = Napi::Int8Array::New(env, k);
    Napi::Float32Array d = Napi::Float32Array::New(env, k / kQK);
    Napi::Int32Array s = Napi::Int32Array::New(env, k / kQK);
    kt.quantize_q8_0_act(x.Data(), k, q.Data(), d.Data(), s.Data());
    Napi::Object res = Napi::Object::New(env);
    res.Set("q", q);
    res.Set("d", d);
    res.Set("s", s);
    return res;
  }
  if (name == "matmul_q4_0") return run_matmul(env, kt, GgmlType::Q4_0, a);
  if (name == "matmul_q8_0") return run_matmul(env, kt, GgmlType::Q8_0, a);
  // ggml_weight: { format: "q4_0" | "q8_0" | "q4_k" | "q6_k", dtype: "F32" | "F16" | "BF16" | "Q4_0" | "Q8_0" | "Q4_K" | "Q6_K", bytes, rows, cols }
  // -> what make_weight stores: { rows: Float32Array [rows * cols] (row_f32), blocks: GGUF bytes, bytes: Weight::bytes() }
  const int64_t rows = dim(a, "rows"), cols = dim(a, "cols");
  auto bytes = field<Napi::Uint8Array>(a, "bytes", 0);
  const WSpec spec = spec_from_js(env, a.Get("format"));
  std::unique_ptr<Weight> w;
  try {
    w = make_weight_checked("w", get_string(a, "dtype"), bytes.Data(), bytes.ByteLength(), rows, cols, spec);
  } catch (const WeightArgTypeError& e) {
    throw Napi::TypeError::New(env, e.what());
  } catch (const std::exception& e) {
    throw Napi::RangeError::New(env, e.what());
  }
  Napi::Float32Array f = Napi::Float32Array::New(env, rows * cols);
  for (int64_t r = 0; r < rows; r++) w->row_f32(r, f.Data() + r * cols);
  Napi::Object res = Napi::Object::New(env);
  res.Set("rows", f);
  if (w->ggml()) res.Set("blocks", gguf_blocks(env, *w));
  res.Set("bytes", (double)w->bytes());
  if (w->format == WFormat::KQuant) res.Set("blocks", Napi::Uint8Array::New(env, w->bytes()));
  if (w->format == WFormat::KQuant)
    std::copy(w->data.as<uint8_t>(), w->data.as<uint8_t>() + w->bytes(), res.Get("blocks").As<Napi::Uint8Array>().Data());
  return res;
}


}  // namespace lowbit
