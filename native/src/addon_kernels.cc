// The test addon's runKernel(variant, name, args) (addon_kernels.h): runs one
// kernel of one variant on JS arrays, so tests can compare every SIMD kernel
// with the scalar reference. Sizes are validated against the array lengths
// before any kernel runs. Not part of the production addon.
#include <napi.h>

#include <algorithm>
#include <vector>

#include "addon_io.h"
#include "addon_kernels.h"
#include "addon_util.h"
#include "formats/q4a8.h"
#include "kernels/kernels.h"
#include "kv/kv_f16.h"
#include "kv/kv_q8.h"
#include "weights.h"

namespace lowbit {

namespace {

// Pads A rows to kp and packs W, runs `kernel`, returns C [m, n] (zeros
// outside the computed columns).
template <class T, class F>
Napi::Float32Array run_packed(Napi::Env env, const T* A, const T* W, int64_t m, int64_t n, int64_t k, int64_t j0,
                              int64_t j1, F kernel) {
  const int64_t ch = chunk_elems(sizeof(T)), kp = pad_to(k > 0 ? k : 1, ch);
  std::vector<T> ap((size_t)(m * kp), T(0)), wp((size_t)(pad_to(n, kGroupRows) * kp), T(0));
  for (int64_t i = 0; i < m; i++) std::copy(A + i * k, A + i * k + k, ap.begin() + i * kp);
  pack_matrix(W, n, k, wp.data(), kp, ch);
  Napi::Float32Array c = Napi::Float32Array::New(env, m * n);
  std::fill(c.Data(), c.Data() + m * n, 0.0f);
  kernel(ap.data(), wp.data(), c.Data(), kp);
  return c;
}

// Row-major [n, k] int4 codes (0..15) into the packed int4 layout.
std::vector<uint8_t> pack_q4_codes(Napi::Env env, const uint8_t* codes, int64_t n, int64_t k) {
  std::vector<uint8_t> wp((size_t)(pad_to(n, 4) * k / 2), 0);
  for (int64_t j = 0; j < n; j++)
    for (int64_t p = 0; p < k; p++) {
      const uint8_t q = codes[j * k + p];
      if (q > 15) throw Napi::RangeError::New(env, "w values must be in [0, 15]");
      wp[q4_byte_index(j, p, k)] |= q4_is_high(p) ? (uint8_t)(q << 4) : q;
    }
  return wp;
}

}  // namespace

Napi::Value RunKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const KernelTable* kt = kernels_by_name(arg_string(info, 0, "variant").c_str());
  if (!kt) throw Napi::Error::New(env, "kernel variant not available on this CPU");
  std::string name = arg_string(info, 1, "name");
  Napi::Object a = arg_object(info, 2, "args");
  if (IsGgmlKernel(name)) return RunGgmlKernel(env, *kt, name, a);

  if (name == "matmul_f32" || name == "matmul_bf16") {
    int64_t m = dim(a, "m"), n = dim(a, "n"), k = dim(a, "k"), j0 = dim(a, "j0"), j1 = dim(a, "j1");
    if (j0 > j1 || j1 > n) throw Napi::RangeError::New(env, "bad column range");
    if (m * n > (1 << 26)) throw Napi::RangeError::New(env, "m * n too large");
    if (j0 % 4) throw Napi::RangeError::New(env, "j0 must be a multiple of 4 (packed row groups)");
    // Inputs are validated before the output is allocated. W comes row-major
    // [n, k] and A [m, k]; both are padded/packed here as the model does.
    if (name == "matmul_f32") {
      auto A = field<Napi::Float32Array>(a, "a", m * k);
      auto W = field<Napi::Float32Array>(a, "w", n * k);
      return run_packed<float>(env, A.Data(), W.Data(), m, n, k, j0, j1, [&](const float* ap, const float* wp, float* c, int64_t kp) {
        kt->matmul_f32(ap, kp, wp, c, n, m, j0, j1, kp);
      });
    }
    auto A = field<Napi::Uint16Array>(a, "a", m * k);
    auto W = field<Napi::Uint16Array>(a, "w", n * k);
    return run_packed<uint16_t>(env, A.Data(), W.Data(), m, n, k, j0, j1, [&](const uint16_t* ap, const uint16_t* wp, float* c, int64_t kp) {
      kt->matmul_bf16_bf16a(ap, kp, wp, c, n, m, j0, j1, kp);
    });
  }
  if (name == "matmul_q8") {
    // a: Int8Array [m, k], sa: [m], w: Int8Array [n, k] row-major, sw: [n]
    int64_t m = dim(a, "m"), n = dim(a, "n"), k = dim(a, "k"), j0 = dim(a, "j0"), j1 = dim(a, "j1");
    if (j0 > j1 || j1 > n || j0 % 4 || k < 1 || m * n > (1 << 26)) throw Napi::RangeError::New(env, "bad shape or column range");
    auto A = field<Napi::Int8Array>(a, "a", m * k);
    auto SA = field<Napi::Float32Array>(a, "sa", m);
    auto W = field<Napi::Int8Array>(a, "w", n * k);
    auto SW = field<Napi::Float32Array>(a, "sw", n);
    const int64_t kp = pad_to(k, 64);
    std::vector<int8_t> ap((size_t)(m * kp), 0), wp((size_t)(pad_to(n, 4) * kp), 0);
    for (int64_t i = 0; i < m; i++) std::copy(A.Data() + i * k, A.Data() + i * k + k, ap.begin() + i * kp);
    pack_matrix(W.Data(), n, k, wp.data(), kp, 64);
    std::vector<int32_t> wsum((size_t)n, 0);
    for (int64_t j = 0; j < n; j++)
      for (int64_t p = 0; p < k; p++) wsum[j] += W.Data()[j * k + p];
    if (a.Has("int32") && a.Get("int32").ToBoolean()) {  // the int32 partial mode: the dot products
      Napi::Int32Array d = Napi::Int32Array::New(env, m * n);
      std::fill(d.Data(), d.Data() + m * n, 0);
      kt->matmul_q8(ap.data(), kp, SA.Data(), wp.data(), SW.Data(), wsum.data(), nullptr, n, m, j0, j1, kp, d.Data());
      return d;
    }
    Napi::Float32Array c = Napi::Float32Array::New(env, m * n);
    std::fill(c.Data(), c.Data() + m * n, 0.0f);
    kt->matmul_q8(ap.data(), kp, SA.Data(), wp.data(), SW.Data(), wsum.data(), c.Data(), n, m, j0, j1, kp, nullptr);
    return c;
  }
  if (name == "matmul_q4") {
    // a: Int16Array [m, k] activation codes, sx: f32 [m, k / group] their
    // scales (asum is derived as quantize_a16 does); w: Uint8Array [n, k] of
    // values 0..15; s, o: f32 [n, k / group]
    int64_t m = dim(a, "m"), n = dim(a, "n"), k = dim(a, "k"), j0 = dim(a, "j0"), j1 = dim(a, "j1");
    int64_t group = dim(a, "group");
    if (j0 > j1 || j1 > n || j0 % 4 || m * n > (1 << 26)) throw Napi::RangeError::New(env, "bad shape or column range");
    if (k < 32 || k % 32 || group < 32 || group % 32 || k % group) throw Napi::RangeError::New(env, "k and group must be multiples of 32, group dividing k");
    const int64_t ng = k / group;
    auto A = field<Napi::Int16Array>(a, "a", m * k);
    auto SX = field<Napi::Float32Array>(a, "sx", m * ng);
    auto W = field<Napi::Uint8Array>(a, "w", n * k);
    auto S = field<Napi::Float32Array>(a, "s", n * ng);
    auto O = field<Napi::Float32Array>(a, "o", n * ng);
    for (int64_t e = 0; e < m * k; e++)
      if (A.Data()[e] < -kA16Max) throw Napi::RangeError::New(env, "a values must be in [-32767, 32767]");
    std::vector<uint8_t> wp = pack_q4_codes(env, W.Data(), n, k);
    std::vector<float> asum((size_t)(m * ng), 0.0f);
    for (int64_t e = 0; e < m * ng; e++) {
      int64_t isum = 0;
      for (int64_t p = 0; p < group; p++) isum += A.Data()[(e / ng) * k + (e % ng) * group + p];
      asum[e] = SX.Data()[e] * (float)isum;
    }
    Napi::Float32Array c = Napi::Float32Array::New(env, m * n);
    std::fill(c.Data(), c.Data() + m * n, 0.0f);
    kt->matmul_q4(A.Data(), k, SX.Data(), asum.data(), wp.data(), S.Data(), O.Data(), c.Data(), n, m, j0, j1, k, group);
    return c;
  }
  if (name == "matmul_q4a8") {
    // a: Int8Array [m, k]; sa: [m]; w: Uint8Array [n, k] codes 0..15 (weight
    // s * (q - 8)); s: f32 [n, k / group] or, for integer scales, si: Int32Array
    // [n, k / group] with invAlpha. isum is computed here.
    int64_t m = dim(a, "m"), n = dim(a, "n"), k = dim(a, "k"), j0 = dim(a, "j0"), j1 = dim(a, "j1");
    int64_t group = dim(a, "group");
    if (j0 > j1 || j1 > n || j0 % 4 || m * n > (1 << 26)) throw Napi::RangeError::New(env, "bad shape or column range");
    if (k < 32 || k % 32 || group < 32 || group > 128 || group % 32 || k % group)
      throw Napi::RangeError::New(env, "k and group must be multiples of 32, group in [32, 128] dividing k");
    const int64_t ng = k / group;
    const bool is = a.Has("si");
    auto A = field<Napi::Int8Array>(a, "a", m * k);
    auto SA = field<Napi::Float32Array>(a, "sa", m);
    auto W = field<Napi::Uint8Array>(a, "w", n * k);
    std::vector<float> s_rg(is ? 0 : (size_t)(pad_to(n, 4) * ng), 0.0f);
    std::vector<int32_t> si_rg(is ? (size_t)(pad_to(n, 4) * ng) : 0, 0);
    if (is) {
      auto SI = field<Napi::Int32Array>(a, "si", n * ng);
      for (int64_t j = 0; j < n; j++)
        for (int64_t g = 0; g < ng; g++) si_rg[q4a8_scale_index(j, g, ng)] = SI.Data()[j * ng + g];
    } else {
      auto S = field<Napi::Float32Array>(a, "s", n * ng);
      for (int64_t j = 0; j < n; j++)
        for (int64_t g = 0; g < ng; g++) s_rg[q4a8_scale_index(j, g, ng)] = S.Data()[j * ng + g];
    }
    std::vector<uint8_t> wp = pack_q4_codes(env, W.Data(), n, k);
    std::vector<int32_t> isum((size_t)(m * ng), 0);
    for (int64_t i = 0; i < m; i++)
      for (int64_t p = 0; p < k; p++) isum[i * ng + p / group] += A.Data()[i * k + p];
    Napi::Float32Array c = Napi::Float32Array::New(env, m * n);
    std::fill(c.Data(), c.Data() + m * n, 0.0f);
    if (is)
      kt->matmul_q4a8_is(A.Data(), k, SA.Data(), isum.data(), wp.data(), si_rg.data(), (float)get_number(a, "invAlpha"),
                         c.Data(), n, m, j0, j1, k, group);
    else
      kt->matmul_q4a8(A.Data(), k, SA.Data(), isum.data(), wp.data(), s_rg.data(), c.Data(), n, m, j0, j1, k, group);
    return c;
  }
  if (name == "quantize_q4a8") {
    // w: f32 [n, k] quantized as the loader does for `format` (q4a8-...):
    // returns codes [n, kp], float scales s [n, ng], integer scales si [n, ng]
    // (empty for float scales), the amplifier, the worst-case int32 bound and
    // the squared error sums of the float- and integer-scale dequantizations.
    int64_t n = dim(a, "n"), k = dim(a, "k");
    // format: a q4a8 spec { format: "q4a8", group, amplifier? }
    Napi::Value fv = a.Get("format");
    if (!fv.IsObject() || !fv.As<Napi::Object>().Get("format").IsString() ||
        fv.As<Napi::Object>().Get("format").As<Napi::String>().Utf8Value() != "q4a8")
      throw Napi::RangeError::New(env, "format must be a q4a8 format spec { format: \"q4a8\", group, amplifier? }");
    WSpec spec;
    try {
      spec = spec_from_js(env, fv);
    } catch (const Napi::Error& e) {
      throw Napi::RangeError::New(env, "bad q4a8 format spec: " + e.Message());
    }
    auto Wf = field<Napi::Float32Array>(a, "w", n * k);
    std::unique_ptr<Weight> w, wf;
    WSpec fspec = spec;
    fspec.iscale = false;
    try {
      w = make_weight("w", SrcDtype::F32, Wf.Data(), (size_t)(n * k * 4), n, k, spec);
      wf = make_weight("w", SrcDtype::F32, Wf.Data(), (size_t)(n * k * 4), n, k, fspec);
    } catch (const std::exception& e) {
      throw Napi::RangeError::New(env, e.what());
    }
    const Q4A8Weight &q = as_q4a8(*w), &qf = as_q4a8(*wf);
    const int64_t kp = w->kp, ng = q.ngroups();
    Napi::Uint8Array codes = Napi::Uint8Array::New(env, n * kp);
    Napi::Float32Array sv = Napi::Float32Array::New(env, n * ng);
    Napi::Int32Array siv = Napi::Int32Array::New(env, spec.iscale ? n * ng : 0);
    for (int64_t j = 0; j < n; j++)
      for (int64_t p = 0; p < kp; p++) codes.Data()[j * kp + p] = (uint8_t)q4_code_at(w->data.as<uint8_t>(), j, p, kp);
    const double sse_f = qf.sse_float, sse_i = q.sse_int;
    for (int64_t j = 0; j < n; j++)
      for (int64_t g = 0; g < ng; g++) {
        sv.Data()[j * ng + g] = qf.scales.as<float>()[q4a8_scale_index(j, g, ng)];
        if (spec.iscale) siv.Data()[j * ng + g] = q.iscales.as<int32_t>()[q4a8_scale_index(j, g, ng)];
      }
    Napi::Object res = Napi::Object::New(env);
    res.Set("codes", codes);
    res.Set("s", sv);
    res.Set("si", siv);
    res.Set("kp", (double)kp);
    res.Set("alpha", q.amplifier);
    res.Set("bound", (double)q.is_bound);
    res.Set("sseFloat", sse_f);
    res.Set("sseInt", sse_i);
    return res;
  }
  if (name == "dot_rows") {
    int64_t nk = dim(a, "nk"), d = dim(a, "d"), ldk = dim(a, "ldk");
    if (ldk < d) throw Napi::RangeError::New(env, "ldk < d");
    auto q = field<Napi::Float32Array>(a, "q", d);
    auto K = field<Napi::Float32Array>(a, "k", nk ? (nk - 1) * ldk + d : 0);
    Napi::Float32Array out = Napi::Float32Array::New(env, nk);
    kt->dot_rows_f32(q.Data(), K.Data(), ldk, nk, d, (float)get_number(a, "scale"), out.Data());
    return out;
  }
  if (name == "kv_f16_dot_rows" || name == "kv_f16_attn_pv") {
    // k / v: Uint16Array of f16 bits, rows ld apart (kv/kv_f16.h)
    const KvF16Kernels& f16 = kv_f16_kernels(kt->isa);
    int64_t nk = dim(a, "nk"), d = dim(a, "d"), ld = dim(a, "ld");
    if (ld < d) throw Napi::RangeError::New(env, "ld < d");
    if (name == "kv_f16_dot_rows") {
      auto q = field<Napi::Float32Array>(a, "q", d);
      auto K = field<Napi::Uint16Array>(a, "k", nk ? (nk - 1) * ld + d : 0);
      Napi::Float32Array out = Napi::Float32Array::New(env, nk);
      f16.dot_rows(q.Data(), K.Data(), ld, nk, d, (float)get_number(a, "scale"), out.Data());
      return out;
    }
    auto w = field<Napi::Float32Array>(a, "w", nk);
    auto V = field<Napi::Uint16Array>(a, "v", nk ? (nk - 1) * ld + d : 0);
    Napi::Float32Array out = Napi::Float32Array::New(env, d);  // zeros (or "out": the sums so far)
    if (a.Has("out")) {
      auto o = field<Napi::Float32Array>(a, "out", d);
      std::copy(o.Data(), o.Data() + d, out.Data());
    }
    f16.attn_pv(w.Data(), V.Data(), ld, nk, d, out.Data());
    return out;
  }
  if (name == "kv_q8_dot_rows" || name == "kv_q8_attn_pv") {
    // k / v: Uint8Array of q8_0 rows (kv/kv_q8.h), ld bytes apart; d % 32 == 0
    const KvQ8Kernels& q8 = kv_q8_kernels(kt->isa);
    int64_t nk = dim(a, "nk"), d = dim(a, "d"), ld = dim(a, "ld");
    if (d % kKvQ8Block) throw Napi::RangeError::New(env, "d must be a multiple of 32");
    if (ld < kv_q8_row_bytes(d)) throw Napi::RangeError::New(env, "ld < the row's bytes");
    const int64_t need = nk ? (nk - 1) * ld + kv_q8_row_bytes(d) : 0;
    if (name == "kv_q8_dot_rows") {
      auto q = field<Napi::Float32Array>(a, "q", d);
      auto K = field<Napi::Uint8Array>(a, "k", need);
      Napi::Float32Array out = Napi::Float32Array::New(env, nk);
      q8.dot_rows(q.Data(), K.Data(), ld, nk, d, (float)get_number(a, "scale"), out.Data());
      return out;
    }
    auto w = field<Napi::Float32Array>(a, "w", nk);
    auto V = field<Napi::Uint8Array>(a, "v", need);
    Napi::Float32Array out = Napi::Float32Array::New(env, d);  // zeros (or "out": the sums so far)
    if (a.Has("out")) {
      auto o = field<Napi::Float32Array>(a, "out", d);
      std::copy(o.Data(), o.Data() + d, out.Data());
    }
    q8.attn_pv(w.Data(), V.Data(), ld, nk, d, out.Data());
    return out;
  }
  if (name == "attn_pv_pieces") {
    // attn_pv through attn_pv_acc over the row ranges [cuts[i], cuts[i+1]) (cuts from 0 to nk), then attn_pv_reduce
    int64_t nk = dim(a, "nk"), d = dim(a, "d"), ldv = dim(a, "ldv"), lanes = dim(a, "lanes");
    if (ldv < d) throw Napi::RangeError::New(env, "ldv < d");
    if (lanes != 8 && lanes != 32) throw Napi::RangeError::New(env, "lanes must be 8 or 32");
    auto w = field<Napi::Float32Array>(a, "w", nk);
    auto V = field<Napi::Float32Array>(a, "v", nk ? (nk - 1) * ldv + d : 0);
    auto cuts = field<Napi::Int32Array>(a, "cuts", 2);
    const size_t nc = cuts.ElementLength();
    if (cuts.Data()[0] != 0 || cuts.Data()[nc - 1] != nk) throw Napi::RangeError::New(env, "cuts must run from 0 to nk");
    for (size_t i = 1; i < nc; i++)
      if (cuts.Data()[i] < cuts.Data()[i - 1]) throw Napi::RangeError::New(env, "cuts must not decrease");
    std::vector<float> part((size_t)(lanes * d), 0.0f);
    for (size_t i = 0; i + 1 < nc; i++) {
      const int64_t t0 = cuts.Data()[i], t1 = cuts.Data()[i + 1];
      kt->attn_pv_acc_f32(w.Data() + t0, V.Data() + t0 * ldv, ldv, t1 - t0, d, (int)lanes, t0, part.data());
    }
    Napi::Float32Array out = Napi::Float32Array::New(env, d);
    kt->attn_pv_reduce_f32(part.data(), d, (int)lanes, out.Data());
    return out;
  }
  if (name == "attn_pv") {
    int64_t nk = dim(a, "nk"), d = dim(a, "d"), ldv = dim(a, "ldv"), lanes = dim(a, "lanes");
    if (ldv < d) throw Napi::RangeError::New(env, "ldv < d");
    if (lanes != 8 && lanes != 32) throw Napi::RangeError::New(env, "lanes must be 8 or 32");
    auto w = field<Napi::Float32Array>(a, "w", nk);
    auto V = field<Napi::Float32Array>(a, "v", nk ? (nk - 1) * ldv + d : 0);
    Napi::Float32Array out = Napi::Float32Array::New(env, d);
    kt->attn_pv_f32(w.Data(), V.Data(), ldv, nk, d, (int)lanes, out.Data());
    return out;
  }
  // Elementwise kernels on x (and y) of length n.
  int64_t n = dim(a, "n");
  if (name == "exp_sum") {
    auto x = field<Napi::Float32Array>(a, "x", n);
    Napi::Float32Array out = Napi::Float32Array::New(env, n + 1);
    std::copy(x.Data(), x.Data() + n, out.Data());
    out.Data()[n] = (float)kt->exp_sum_f32(out.Data(), n, (float)get_number(a, "max"));
    return out;
  }
  if (name == "max" || name == "sumsq") {
    auto x = field<Napi::Float32Array>(a, "x", n);
    return Napi::Number::New(env, name == "max" ? kt->max_f32(x.Data(), n) : kt->sumsq_f32(x.Data(), n));
  }
  if (name == "scale_mul" || name == "silu_mul") {
    auto x = field<Napi::Float32Array>(a, "x", n);
    auto y = field<Napi::Float32Array>(a, "y", n);
    Napi::Float32Array out = Napi::Float32Array::New(env, n);
    if (name == "scale_mul") kt->scale_mul_f32(x.Data(), (float)get_number(a, "s"), y.Data(), out.Data(), n);
    else kt->silu_mul_f32(x.Data(), y.Data(), out.Data(), n);
    return out;
  }
  if (name == "quantize_q8") {
    auto x = field<Napi::Float32Array>(a, "x", n);
    const int64_t kp = pad_to(n > 0 ? n : 1, 64);
    Napi::Int8Array q = Napi::Int8Array::New(env, kp);
    float s = 0;
    kt->quantize_q8(x.Data(), n, kp, q.Data(), &s, (float)opt_number(a, "fixed", 0));
    Napi::Object res = Napi::Object::New(env);
    res.Set("q", q);
    res.Set("s", s);
    return res;
  }
  if (name == "quantize_a16") {
    // x: f32 [n]; group: a multiple of 32; returns the padded codes and per-group sx, asum
    const int64_t group = dim(a, "group");
    if (group < 32 || group % 32) throw Napi::RangeError::New(env, "group must be a multiple of 32");
    auto x = field<Napi::Float32Array>(a, "x", n);
    const int64_t kp = pad_to(n > 0 ? n : 1, group), ng = kp / group;
    Napi::Int16Array q = Napi::Int16Array::New(env, kp);
    Napi::Float32Array sx = Napi::Float32Array::New(env, ng), asum = Napi::Float32Array::New(env, ng);
    kt->quantize_a16(x.Data(), n, kp, group, q.Data(), sx.Data(), asum.Data());
    Napi::Object res = Napi::Object::New(env);
    res.Set("q", q);
    res.Set("sx", sx);
    res.Set("asum", asum);
    return res;
  }
  if (name == "f32_to_bf16") {
    auto x = field<Napi::Float32Array>(a, "x", n);
    Napi::Uint16Array out = Napi::Uint16Array::New(env, n);
    kt->f32_to_bf16(x.Data(), out.Data(), n);
    return out;
  }
  if (name == "kv_f16_store") {
    auto x = field<Napi::Float32Array>(a, "x", n);
    Napi::Uint16Array out = Napi::Uint16Array::New(env, n);
    kv_f16_kernels(kt->isa).store(x.Data(), out.Data(), n);
    return out;
  }
  if (name == "kv_q8_store") {  // n % 32 == 0 floats -> n / 32 blocks of 34 bytes
    if (n % kKvQ8Block) throw Napi::RangeError::New(env, "n must be a multiple of 32");
    auto x = field<Napi::Float32Array>(a, "x", n);
    Napi::Uint8Array out = Napi::Uint8Array::New(env, (size_t)kv_q8_row_bytes(n));
    kv_q8_kernels(kt->isa).store(x.Data(), out.Data(), n);
    return out;
  }
  if (name == "kv_q8_load") {
    if (n % kKvQ8Block) throw Napi::RangeError::New(env, "n must be a multiple of 32");
    auto x = field<Napi::Uint8Array>(a, "x", kv_q8_row_bytes(n));
    Napi::Float32Array out = Napi::Float32Array::New(env, n);
    kv_q8_kernels(kt->isa).load(x.Data(), out.Data(), n);
    return out;
  }
  if (name == "kv_f16_load") {
    auto x = field<Napi::Uint16Array>(a, "x", n);
    Napi::Float32Array out = Napi::Float32Array::New(env, n);
    kv_f16_kernels(kt->isa).load(x.Data(), out.Data(), n);
    return out;
  }
  if (name == "bf16_to_f32") {
    auto x = field<Napi::Uint16Array>(a, "x", n);
    Napi::Float32Array out = Napi::Float32Array::New(env, n);
    kt->bf16_to_f32(x.Data(), out.Data(), n);
    return out;
  }
  throw Napi::Error::New(env, "unknown kernel '" + name + "'");
}

}  // namespace lowbit
