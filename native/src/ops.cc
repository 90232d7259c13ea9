#include "ops.h"

#include <cmath>
#include <cstring>

#include "kernels/ggml.h"
#include "kv/kv_f16.h"

namespace lowbit {

void rope_tables(float theta, int head_dim, const int32_t* pos, int n, std::vector<float>* cos_t,
                 std::vector<float>* sin_t, float freq_scale, const float* factors) {
  // llama.cpp's rope cache (ggml_rope_cache_init + rope_yarn without yarn):
  // the angle of pair i is freq_scale * (pos * base^(-2i/d) / factors[i]), the
  // power built by repeated f32 multiplication, cos / sin by libm's cosf / sinf.
  const int half = head_dim / 2;
  const float step = std::pow(theta, -2.0f / (float)head_dim);
  cos_t->resize((size_t)n * half);
  sin_t->resize((size_t)n * half);
  for (int r = 0; r < n; r++) {
    float angle = (float)pos[r];
    for (int i = 0; i < half; i++) {
      const float a = freq_scale * (factors ? angle / factors[i] : angle);
      (*cos_t)[(size_t)r * half + i] = std::cos(a);
      (*sin_t)[(size_t)r * half + i] = std::sin(a);
      angle *= step;
    }
  }
}

void op_embed(ThreadPool& pool, const Weight& E, const int32_t* tokens, int n, float* out) {
  pool.run_sized((long)n * E.cols, [&](int tid, int nth) {
    for (int i = tid; i < n; i += nth) E.row_f32(tokens[i], out + (int64_t)i * E.cols);
  });
}

void op_rms_norm(ThreadPool& pool, const KernelTable& kt, const float* x, int n, int64_t d, const float* w,
                 float eps, float* out) {
  pool.run_sized((long)n * d, [&](int tid, int nth) {
    for (int i = tid; i < n; i += nth) {
      const float* xi = x + (int64_t)i * d;
      // llama.cpp's rms_norm: f32 squares summed in double, in order, the mean
      // rounded to f32. Every kernel variant gets the same scale: with
      // activations quantized after the norm (q4_0 / q8_0), a scale one ulp
      // off moves codes across rounding boundaries.
      double sq = 0;
      for (int64_t t = 0; t < d; t++) sq += (double)(xi[t] * xi[t]);
      const float mean = (float)(sq / (double)d);
      const float s = 1.0f / std::sqrt(mean + eps);
      kt.scale_mul_f32(xi, s, w, out + (int64_t)i * d, d);
    }
  });
}

void op_rope(ThreadPool& pool, float* x, int n, int heads, int head_dim, const float* cos_t, const float* sin_t,
             int dims, bool gptj) {
  if (dims == 0) dims = head_dim;
  const int half = dims / 2;
  // the pair of rotation i: (i, i + half), or (2i, 2i + 1) for GPT-J's order
  const int stride0 = gptj ? 2 : 1, off1 = gptj ? 1 : half;
  pool.run_sized((long)n * heads * head_dim, [&](int tid, int nth) {
    std::vector<float> rot(dims);
    for (int r = tid; r < n; r += nth) {
      const float* c = cos_t + (int64_t)r * half;
      const float* s = sin_t + (int64_t)r * half;
      for (int h = 0; h < heads; h++) {
        float* v = x + ((int64_t)r * heads + h) * head_dim;
        for (int i = 0; i < half; i++) {
          // llama.cpp's rotation as compiled (contracted): x0 c - x1 s and
          // x0 s + x1 c with the x0 product fused
          const float x0 = v[stride0 * i], x1 = v[stride0 * i + off1];
          const float x1s = x1 * s[i], x1c = x1 * c[i];
          rot[2 * i] = std::fma(x0, c[i], -x1s);
          rot[2 * i + 1] = std::fma(x0, s[i], x1c);
        }
        std::memcpy(v, rot.data(), dims * sizeof(float));
      }
    }
  });
}

void op_add(ThreadPool& pool, const float* a, const float* b, float* out, int64_t count) {
  pool.run_sized(count, [&](int tid, int nth) {
    long i0, i1;
    split_range(count, nth, tid, &i0, &i1);
    for (long i = i0; i < i1; i++) out[i] = a[i] + b[i];
  });
}

void op_silu_mul(ThreadPool& pool, const KernelTable& kt, const float* g, const float* u, float* out, int n,
                 int64_t d) {
  // Row by row (llama.cpp's SwiGLU treats the last d % 8 elements of a row
  // apart); a row split between threads at multiples of 8.
  pool.run_sized((long)n * d, [&](int tid, int nth) {
    if (n >= nth) {
      long r0, r1;
      split_range(n, nth, tid, &r0, &r1);
      for (long r = r0; r < r1; r++) kt.silu_mul_f32(g + r * d, u + r * d, out + r * d, d);
      return;
    }
    long b0, b1;
    split_range((long)(d / 8), nth, tid, &b0, &b1);
    const int64_t c0 = b0 * 8, c1 = tid == nth - 1 ? d : b1 * 8;
    if (c1 > c0)
      for (int r = 0; r < n; r++) kt.silu_mul_f32(g + r * d + c0, u + r * d + c0, out + r * d + c0, c1 - c0);
  });
}

void op_kv_store(ThreadPool& pool, const KernelTable& kt, KVCache& cache, int layer, int first, const float* k,
                 const float* v, int n) {
  const int kvh = cache.n_kv_heads(), hd = cache.head_dim();
  const KvF16Kernels& f16 = kv_f16_kernels(kt.name);
  const bool half = cache.type() == KvType::F16;
  pool.run_sized((long)n * kvh * hd, [&](int tid, int nth) {
    for (int h = tid; h < kvh; h += nth)
      for (int i = 0; i < n; i++) {
        const float* ks = k + ((int64_t)i * kvh + h) * hd;
        const float* vs = v + ((int64_t)i * kvh + h) * hd;
        if (half) {
          f16.store(ks, cache.k16(layer, h, first + i), hd);
          f16.store(vs, cache.v16(layer, h, first + i), hd);
        } else {
          std::memcpy(cache.k(layer, h, first + i), ks, hd * sizeof(float));
          std::memcpy(cache.v(layer, h, first + i), vs, hd * sizeof(float));
        }
      }
  });
}

void op_attention(ThreadPool& pool, const KernelTable& kt, KVCache& cache, int layer, int cells, const float* q,
                  const int32_t* qpos, int n, int heads, float* out, std::vector<AlignedBuf>& scratch,
                  const AttnOptions& opt) {
  const int hd = cache.head_dim(), kvh = cache.n_kv_heads(), group = heads / kvh;
  const float scale = opt.scale > 0 ? opt.scale : 1.0f / std::sqrt((float)hd);
  const std::vector<float> slopes = opt.alibi > 0 ? alibi_slopes(heads, opt.alibi) : std::vector<float>();
  // llama.cpp (no flash attention) multiplies the softmax weights into V with
  // tinyBLAS for a batch of queries (8 lanes over the cells) and with
  // ggml_vec_dot_f32 for one query or a head size tinyBLAS declines (32 lanes)
  const int lanes = n >= 2 && hd % 4 == 0 ? 8 : 32;
  // an f16 cache: kv/kv_f16.h's kernels of the same instruction set
  const KvF16Kernels& f16 = kv_f16_kernels(kt.name);
  const bool half = cache.type() == KvType::F16;
  const int32_t* cpos = cache.positions();
  // With non-decreasing cell positions (the normal case) the cells a query may
  // see are a prefix, found by binary search; otherwise mask cell by cell.
  bool sorted = true;
  for (int c = 1; c < cells && sorted; c++) sorted = cpos[c - 1] <= cpos[c];
  if ((int)scratch.size() < pool.size()) scratch.resize(pool.size());
  pool.run([&](int tid, int nth) {
    scratch[tid].reserve((size_t)cells * sizeof(float));
    float* s = scratch[tid].as<float>();
    const long tasks = (long)n * heads;
    for (long t = tid; t < tasks; t += nth) {
      const int i = (int)(t / heads), h = (int)(t % heads), g = h / group;
      const int32_t p = qpos[i];
      // a sliding window sees positions above p - window only (in 64 bits: p - window may wrap)
      const int64_t low = opt.window > 0 ? (int64_t)p - opt.window : INT64_MIN;
      int first = 0, visible = cells;
      if (sorted) {
        int lo = 0, hi = cells;
        while (lo < hi) {
          int mid = (lo + hi) / 2;
          if (cpos[mid] <= p) lo = mid + 1;
          else hi = mid;
        }
        visible = lo;
        if (opt.window > 0) {
          int a = 0, b = visible;
          while (a < b) {
            int mid = (a + b) / 2;
            if ((int64_t)cpos[mid] <= low) a = mid + 1;
            else b = mid;
          }
          first = a;
        }
      }
      float* o = out + ((int64_t)i * heads + h) * hd;
      const int count = visible - first;
      if (count <= 0) {  // nothing visible: output zeros
        std::memset(o, 0, hd * sizeof(float));
        continue;
      }
      const float* qi = q + ((int64_t)i * heads + h) * hd;
      if (half)
        f16.dot_rows(qi, cache.k16(layer, g, first), cache.row_stride(), count, hd, scale, s);
      else
        kt.dot_rows_f32(qi, cache.k(layer, g, first), cache.row_stride(), count, hd, scale, s);
      if (opt.softcap > 0)
        for (int c = 0; c < count; c++) s[c] = opt.softcap * std::tanh(s[c] / opt.softcap);
      if (!slopes.empty())
        for (int c = 0; c < count; c++) s[c] += slopes[h] * (float)(cpos[first + c] - p);
      if (!sorted) {
        bool any = false;
        for (int c = 0; c < count; c++) {
          if (cpos[c] > p || (int64_t)cpos[c] <= low) s[c] = -INFINITY;
          else any = true;
        }
        if (!any) {
          std::memset(o, 0, hd * sizeof(float));
          continue;
        }
      }
      // llama.cpp's soft_max: weights normalized by the f32 of 1 / (the double
      // sum) before they multiply V
      const float mx = kt.max_f32(s, count);
      const double sum = kt.exp_sum_f32(s, count, mx);
      const float inv = (float)(1.0 / sum);
      for (int c = 0; c < count; c++) s[c] *= inv;
      if (half)
        f16.attn_pv(s, cache.v16(layer, g, first), cache.row_stride(), count, hd, o);
      else
        kt.attn_pv_f32(s, cache.v(layer, g, first), cache.row_stride(), count, hd, lanes, o);
    }
  });
}

float gelu_tanh(float x) {
  const float c = 0.7978845608028654f;  // sqrt(2 / pi)
  return 0.5f * x * (1.0f + std::tanh(c * (x + 0.044715f * x * x * x)));
}

float gelu_ggml(float x) {
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x;
  const float v = f16_to_f32_scalar(f32_to_f16_scalar(x));
  // ggml_gelu_f32, then the table's f16 rounding
  const float g = 0.5f * v * (1.0f + std::tanh(0.79788456080286535587989211986876f * v * (1.0f + 0.044715f * v * v)));
  return f16_to_f32_scalar(f32_to_f16_scalar(g));
}

float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f)); }

namespace {
template <class F>
void elementwise(ThreadPool& pool, int64_t count, F f) {
  pool.run_sized(count, [&](int tid, int nth) {
    long i0, i1;
    split_range(count, nth, tid, &i0, &i1);
    for (long i = i0; i < i1; i++) f(i);
  });
}
}  // namespace

void op_layer_norm(ThreadPool& pool, const float* x, int n, int64_t d, const float* w, const float* b, float eps,
                   float* out) {
  pool.run_sized((long)n * d, [&](int tid, int nth) {
    for (int i = tid; i < n; i += nth) {
      const float* xi = x + (int64_t)i * d;
      float* yi = out + (int64_t)i * d;
      double sum = 0;
      for (int64_t t = 0; t < d; t++) sum += (double)xi[t];
      const float mean = (float)(sum / (double)d);
      double sq = 0;
      for (int64_t t = 0; t < d; t++) {
        const float v = xi[t] - mean;
        yi[t] = v;
        sq += (double)(v * v);
      }
      const float var = (float)(sq / (double)d);
      const float s = 1.0f / std::sqrt(var + eps);
      for (int64_t t = 0; t < d; t++) yi[t] = yi[t] * s * w[t] + (b ? b[t] : 0.0f);
    }
  });
}

void op_add_bias(ThreadPool& pool, float* out, const float* b, int n, int64_t d) {
  elementwise(pool, (int64_t)n * d, [&](long i) { out[i] += b[i % d]; });
}

void op_act(ThreadPool& pool, Act act, const float* a, float* out, int64_t count) {
  switch (act) {
    case Act::GeluTanh: elementwise(pool, count, [&](long i) { out[i] = gelu_tanh(a[i]); }); break;
    case Act::GeluErf: elementwise(pool, count, [&](long i) { out[i] = gelu_erf(a[i]); }); break;
    case Act::Relu: elementwise(pool, count, [&](long i) { out[i] = a[i] > 0 ? a[i] : 0.0f; }); break;
    case Act::GeluGgml: elementwise(pool, count, [&](long i) { out[i] = gelu_ggml(a[i]); }); break;
  }
}

void op_gelu_mul(ThreadPool& pool, const float* g, const float* u, float* out, int64_t count, bool ggml) {
  if (ggml) elementwise(pool, count, [&](long i) { out[i] = gelu_ggml(g[i]) * u[i]; });
  else elementwise(pool, count, [&](long i) { out[i] = gelu_tanh(g[i]) * u[i]; });
}

void op_scale(ThreadPool& pool, const float* a, float s, float* out, int64_t count) {
  elementwise(pool, count, [&](long i) { out[i] = a[i] * s; });
}

void op_softcap(ThreadPool& pool, const float* a, float cap, float* out, int64_t count) {
  elementwise(pool, count, [&](long i) { out[i] = cap * std::tanh(a[i] / cap); });
}

void op_pos_embed(ThreadPool& pool, const Weight& P, const float* a, const int32_t* pos, int offset, int n,
                  float* out) {
  const int64_t d = P.cols;
  pool.run_sized((long)n * d, [&](int tid, int nth) {
    std::vector<float> row(d);
    for (int i = tid; i < n; i += nth) {
      P.row_f32((int64_t)pos[i] + offset, row.data());
      for (int64_t t = 0; t < d; t++) out[(int64_t)i * d + t] = a[(int64_t)i * d + t] + row[t];
    }
  });
}

std::vector<float> alibi_slopes(int heads, float max_bias) {
  // ggml_soft_max_ext: n_head_log2 = 2^floor(log2(heads)); heads below it take
  // powers of m0 = 2^(-max_bias / n_head_log2), the rest odd powers of m1
  const int n_log2 = 1 << (int)std::floor(std::log2((double)heads));
  const float m0 = std::pow(2.0f, -max_bias / (float)n_log2);
  const float m1 = std::pow(2.0f, -(max_bias / 2.0f) / (float)n_log2);
  std::vector<float> s(heads);
  for (int h = 0; h < heads; h++) s[h] = h < n_log2 ? std::pow(m0, (float)(h + 1)) : std::pow(m1, (float)(2 * (h - n_log2) + 1));
  return s;
}

}  // namespace lowbit
