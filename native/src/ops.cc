#include "ops.h"

#include <cmath>
#include <cstring>

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

void op_rope(ThreadPool& pool, float* x, int n, int heads, int head_dim, const float* cos_t, const float* sin_t) {
  const int half = head_dim / 2;
  pool.run_sized((long)n * heads * head_dim, [&](int tid, int nth) {
    std::vector<float> rot(head_dim);
    for (int r = tid; r < n; r += nth) {
      const float* c = cos_t + (int64_t)r * half;
      const float* s = sin_t + (int64_t)r * half;
      for (int h = 0; h < heads; h++) {
        float* v = x + ((int64_t)r * heads + h) * head_dim;
        for (int i = 0; i < half; i++) {
          // llama.cpp's rotation as compiled (contracted): x0 c - x1 s and
          // x0 s + x1 c with the x0 product fused
          const float x0 = v[i], x1 = v[i + half];
          const float x1s = x1 * s[i], x1c = x1 * c[i];
          rot[2 * i] = std::fma(x0, c[i], -x1s);
          rot[2 * i + 1] = std::fma(x0, s[i], x1c);
        }
        std::memcpy(v, rot.data(), head_dim * sizeof(float));
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

void op_kv_store(ThreadPool& pool, KVCache& cache, int layer, int first, const float* k, const float* v, int n) {
  const int kvh = cache.n_kv_heads(), hd = cache.head_dim();
  pool.run_sized((long)n * kvh * hd, [&](int tid, int nth) {
    for (int h = tid; h < kvh; h += nth)
      for (int i = 0; i < n; i++) {
        std::memcpy(cache.k(layer, h, first + i), k + ((int64_t)i * kvh + h) * hd, hd * sizeof(float));
        std::memcpy(cache.v(layer, h, first + i), v + ((int64_t)i * kvh + h) * hd, hd * sizeof(float));
      }
  });
}

void op_attention(ThreadPool& pool, const KernelTable& kt, KVCache& cache, int layer, int cells, const float* q,
                  const int32_t* qpos, int n, int heads, float* out, std::vector<AlignedBuf>& scratch) {
  const int hd = cache.head_dim(), kvh = cache.n_kv_heads(), group = heads / kvh;
  const float scale = 1.0f / std::sqrt((float)hd);
  // llama.cpp (no flash attention) multiplies the softmax weights into V with
  // tinyBLAS for a batch of queries (8 lanes over the cells) and with
  // ggml_vec_dot_f32 for one query or a head size tinyBLAS declines (32 lanes)
  const int lanes = n >= 2 && hd % 4 == 0 ? 8 : 32;
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
      int visible = cells;
      if (sorted) {
        int lo = 0, hi = cells;
        while (lo < hi) {
          int mid = (lo + hi) / 2;
          if (cpos[mid] <= p) lo = mid + 1;
          else hi = mid;
        }
        visible = lo;
      }
      float* o = out + ((int64_t)i * heads + h) * hd;
      if (visible == 0) {  // nothing visible: output zeros
        std::memset(o, 0, hd * sizeof(float));
        continue;
      }
      kt.dot_rows_f32(q + ((int64_t)i * heads + h) * hd, cache.k(layer, g, 0), cache.row_stride(), visible, hd, scale,
                      s);
      if (!sorted)
        for (int c = 0; c < visible; c++)
          if (cpos[c] > p) s[c] = -INFINITY;
      // llama.cpp's soft_max: weights normalized by the f32 of 1 / (the double
      // sum) before they multiply V
      const float mx = kt.max_f32(s, visible);
      const double sum = kt.exp_sum_f32(s, visible, mx);
      const float inv = (float)(1.0 / sum);
      for (int c = 0; c < visible; c++) s[c] *= inv;
      kt.attn_pv_f32(s, cache.v(layer, g, 0), cache.row_stride(), visible, hd, lanes, o);
    }
  });
}

}  // namespace lowbit
