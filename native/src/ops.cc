#include "ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ggml.h"
#include "kv/kv_f16.h"
#include "kv/kv_q8.h"

namespace lowbit {

void rope_tables(float theta, int head_dim, const int32_t* pos, int n, std::vector<float>* cos_t,
                 std::vector<float>* sin_t, float freq_scale, const float* factors, float mscale) {
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
      (*cos_t)[(size_t)r * half + i] = std::cos(a) * mscale;
      (*sin_t)[(size_t)r * half + i] = std::sin(a) * mscale;
      angle *= step;
    }
  }
}

void op_embed(ThreadPool& pool, const Weight& E, const int32_t* tokens, int n, float* out) {
  pool.run_sized((long)n * E.cols, [&](int tid, int nth) {
    for (int i = tid; i < n; i += nth) E.row_f32(tokens[i], out + (int64_t)i * E.cols);
  });
}

void op_embed_shard(ThreadPool& pool, const Weight& E, const int32_t* tokens, int n, int64_t first, float* out) {
  pool.run_sized((long)n * E.cols, [&](int tid, int nth) {
    for (int i = tid; i < n; i += nth) {
      const int64_t r = (int64_t)tokens[i] - first;
      if (r >= 0 && r < E.rows) E.row_f32(r, out + (int64_t)i * E.cols);
      else std::memset(out + (int64_t)i * E.cols, 0, (size_t)E.cols * sizeof(float));
    }
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
  const KvStoreSeq seq{&cache, first, k, v, n};
  op_kv_store_seqs(pool, kt, &seq, 1, layer);
}

void op_kv_store_seqs(ThreadPool& pool, const KernelTable& kt, const KvStoreSeq* seqs, int nseqs, int layer) {
  if (nseqs < 1) return;
  const int kvh = seqs[0].cache->n_kv_heads(), hd = seqs[0].cache->head_dim();
  const KvF16Kernels& f16 = kv_f16_kernels(kt.isa);
  const KvQ8Kernels& q8 = kv_q8_kernels(kt.isa);
  const bool half = seqs[0].cache->type() == KvType::F16, q8c = seqs[0].cache->type() == KvType::Q8_0;
  long rows = 0;
  for (int si = 0; si < nseqs; si++) rows += seqs[si].n;
  // tasks: (sequence, KV head) pairs, each that head's rows of the sequence
  pool.run_sized(rows * kvh * hd, [&](int tid, int nth) {
    for (long t = tid; t < (long)nseqs * kvh; t += nth) {
      const KvStoreSeq& sq = seqs[t / kvh];
      const int h = (int)(t % kvh);
      KVCache& cache = *sq.cache;
      for (int i = 0; i < sq.n; i++) {
        const float* ks = sq.k + ((int64_t)i * kvh + h) * hd;
        const float* vs = sq.v + ((int64_t)i * kvh + h) * hd;
        if (half) {
          f16.store(ks, cache.k16(layer, h, sq.first + i), hd);
          f16.store(vs, cache.v16(layer, h, sq.first + i), hd);
        } else if (q8c) {
          q8.store(ks, cache.k8(layer, h, sq.first + i), hd);
          q8.store(vs, cache.v8(layer, h, sq.first + i), hd);
        } else {
          std::memcpy(cache.k(layer, h, sq.first + i), ks, hd * sizeof(float));
          std::memcpy(cache.v(layer, h, sq.first + i), vs, hd * sizeof(float));
        }
      }
    }
  });
}

namespace {

// Cells [first, visible) a query at position p sees in a cache of non-decreasing positions:
// positions <= p, and above p - window with a sliding window.
void visible_range(const int32_t* cpos, int cells, int32_t p, int window, int* first, int* visible) {
  int lo = 0, hi = cells;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (cpos[mid] <= p) lo = mid + 1;
    else hi = mid;
  }
  *visible = lo;
  *first = 0;
  if (window > 0) {
    // in 64 bits: p - window may wrap
    const int64_t low = (int64_t)p - window;
    int a = 0, b = lo;
    while (a < b) {
      const int mid = (a + b) / 2;
      if ((int64_t)cpos[mid] <= low) a = mid + 1;
      else b = mid;
    }
    *first = a;
  }
}

// Softcap and ALiBi on one query's scores s[count] (cells first..).
void score_terms(float* s, int count, const AttnOptions& opt, float slope, const int32_t* cpos, int first, int32_t p) {
  if (opt.softcap > 0)
    for (int c = 0; c < count; c++) s[c] = opt.softcap * std::tanh(s[c] / opt.softcap);
  if (slope != 0)
    for (int c = 0; c < count; c++) s[c] += slope * (float)(cpos[first + c] - p);
}

// llama.cpp's soft_max on s[count]: weights normalized by the f32 of 1 / (the double sum) before
// they multiply V.
void softmax(const KernelTable& kt, float* s, int count) {
  const float mx = kt.max_f32(s, count);
  const double sum = kt.exp_sum_f32(s, count, mx);
  const float inv = (float)(1.0 / sum);
  for (int c = 0; c < count; c++) s[c] *= inv;
}

}  // namespace

void op_attention(ThreadPool& pool, const KernelTable& kt, KVCache& cache, int layer, int cells, const float* q,
                  const int32_t* qpos, int n, int heads, float* out, std::vector<AlignedBuf>& scratch,
                  const AttnOptions& opt) {
  const AttnSeq seq{&cache, cells, q, qpos, n, out};
  op_attention_seqs(pool, kt, &seq, 1, layer, heads, scratch, opt);
}

void op_attention_seqs(ThreadPool& pool, const KernelTable& kt, const AttnSeq* seqs, int nseqs, int layer, int heads,
                       std::vector<AlignedBuf>& scratch, const AttnOptions& opt) {
  if (nseqs < 1) return;
  const int hd = seqs[0].cache->head_dim(), kvh = seqs[0].cache->n_kv_heads(), group = heads / kvh;
  const float scale = opt.scale > 0 ? opt.scale : 1.0f / std::sqrt((float)hd);
  std::vector<float> slopes = opt.alibi > 0 ? alibi_slopes(opt.model_heads ? opt.model_heads : heads, opt.alibi) : std::vector<float>();
  if (!slopes.empty()) slopes.erase(slopes.begin(), slopes.begin() + opt.head0);  // a shard's heads
  // f16 and q8_0 caches: kv/kv_f16.h's and kv/kv_q8.h's kernels of the same instruction set,
  // whose weights into V sum straight into [hd] (no lanes to reduce, unlike f32's)
  const KvF16Kernels& f16 = kv_f16_kernels(kt.isa);
  const KvQ8Kernels& q8 = kv_q8_kernels(kt.isa);
  const KvType type = seqs[0].cache->type();
  const bool narrow = type != KvType::F32;
  // out[0:count] = scale * q . K over `count` cells from cell a of KV head g
  auto dot_keys = [&](KVCache& c, const float* qv, int g, int a, int count, float* out) {
    if (type == KvType::Q8_0) q8.dot_rows(qv, c.k8(layer, g, a), c.row_bytes(), count, hd, scale, out);
    else if (type == KvType::F16) f16.dot_rows(qv, c.k16(layer, g, a), c.row_stride(), count, hd, scale, out);
    else kt.dot_rows_f32(qv, c.k(layer, g, a), c.row_stride(), count, hd, scale, out);
  };
  // o[0:hd] += w . V over `count` cells from cell a of KV head g (f16 and q8_0 caches)
  auto pv_narrow = [&](KVCache& c, const float* w, int g, int a, int count, float* o) {
    if (type == KvType::Q8_0) q8.attn_pv(w, c.v8(layer, g, a), c.row_bytes(), count, hd, o);
    else f16.attn_pv(w, c.v16(layer, g, a), c.row_stride(), count, hd, o);
  };
  if ((int)scratch.size() < 2 * pool.size()) scratch.resize(2 * pool.size());

  // Each sequence's tasks (its own cache, queries and numerics, as if it ran alone), all run in
  // one pool dispatch: a batched step's many one-token sequences cost one wake-up of the threads.
  struct Plan {
    bool sorted, blocked;
    int lanes, bq, blocks;
    long tasks;
  };
  std::vector<Plan> plans((size_t)nseqs);
  std::vector<long> task0((size_t)nseqs + 1, 0);
  for (int si = 0; si < nseqs; si++) {
    const AttnSeq& sq = seqs[si];
    Plan& pl = plans[(size_t)si];
    const int32_t* cpos = sq.cache->positions();
    // With non-decreasing cell positions (the normal case) the cells a query may
    // see are a range, found by binary search; otherwise mask cell by cell.
    pl.sorted = true;
    for (int c = 1; c < sq.cells && pl.sorted; c++) pl.sorted = cpos[c - 1] <= cpos[c];
    // llama.cpp (no flash attention) multiplies the softmax weights into V with
    // tinyBLAS for a batch of queries (8 lanes over the cells) and with
    // ggml_vec_dot_f32 for one query or a head size tinyBLAS declines (32 lanes)
    pl.lanes = sq.n >= 2 && hd % 4 == 0 ? 8 : 32;
    pl.blocked = sq.n >= 2 && pl.sorted;
    if (pl.blocked) {
      pl.bq = std::max(1, 64 / group);
      while (pl.bq > 1 && (long)kvh * ((sq.n + pl.bq - 1) / pl.bq) < 2L * pool.size()) pl.bq /= 2;
      pl.blocks = (sq.n + pl.bq - 1) / pl.bq;
      pl.tasks = (long)kvh * pl.blocks;
    } else {
      pl.bq = pl.blocks = 0;
      pl.tasks = (long)sq.n * heads;
    }
    task0[(size_t)si + 1] = task0[(size_t)si] + pl.tasks;
  }

  // A batch of queries (prefill, draft verification): a task is a block of query positions
  // times the heads of one KV head, R rows in all; it reads each block of KB cached keys and
  // values once for its R rows (from L1) instead of once per row (from L2/L3). Every row's
  // sums are the per-row path's, in the same order: the kernels take the cells in pieces.
  auto block_task = [&](int tid, const AttnSeq& sq, const Plan& pl, long task, std::vector<int>& first, std::vector<int>& count) {
    KVCache& cache = *sq.cache;
    const int cells = sq.cells, n = sq.n, bq = pl.bq, lanes = pl.lanes;
    const float* q = sq.q;
    const int32_t* qpos = sq.qpos;
    float* out = sq.out;
    const int32_t* cpos = cache.positions();
    const int kb = std::max(8, 16384 / (hd * 4));
    const int g = (int)(task % kvh), i0 = (int)(task / kvh) * bq, i1 = std::min(n, i0 + bq);
    const int rows = (i1 - i0) * group;
    if ((int)first.size() < rows) first.resize(rows), count.resize(rows);
    // row r: query i0 + r / group, head g * group + r % group
    int kmin = cells, kmax = 0, widest = 0;
    for (int r = 0; r < rows; r++) {
      int vis;
      visible_range(cpos, cells, qpos[i0 + r / group], opt.window, &first[r], &vis);
      count[r] = std::max(0, vis - first[r]);
      if (count[r] > 0) kmin = std::min(kmin, first[r]), kmax = std::max(kmax, vis);
      widest = std::max(widest, count[r]);
    }
    scratch[2 * tid].reserve((size_t)rows * std::max(widest, 1) * sizeof(float));
    scratch[2 * tid + 1].reserve((size_t)rows * (narrow ? 1 : lanes) * hd * sizeof(float));
    float* S = scratch[2 * tid].as<float>();      // [rows][widest] scores, then weights
    float* P = scratch[2 * tid + 1].as<float>();  // [rows][lanes][hd] lane partials (f16, q8_0: [rows][hd] sums)
    auto qrow = [&](int r) { return q + ((int64_t)(i0 + r / group) * heads + g * group + r % group) * hd; };
    auto orow = [&](int r) { return out + ((int64_t)(i0 + r / group) * heads + g * group + r % group) * hd; };
    // scores, key block by key block
    for (int k0 = kmin; k0 < kmax; k0 += kb) {
      const int k1 = std::min(kmax, k0 + kb);
      for (int r = 0; r < rows; r++) {
        const int a = std::max(first[r], k0), b = std::min(first[r] + count[r], k1);
        if (a >= b) continue;
        float* s = S + (int64_t)r * widest + (a - first[r]);
        dot_keys(cache, qrow(r), g, a, b - a, s);
      }
    }
    for (int r = 0; r < rows; r++) {
      if (count[r] <= 0) continue;
      float* s = S + (int64_t)r * widest;
      score_terms(s, count[r], opt, slopes.empty() ? 0.0f : slopes[g * group + r % group], cpos, first[r], qpos[i0 + r / group]);
      softmax(kt, s, count[r]);
    }
    // weights into V, value block by value block
    const int64_t pstride = (int64_t)(narrow ? 1 : lanes) * hd;
    std::memset(P, 0, (size_t)rows * pstride * sizeof(float));
    for (int k0 = kmin; k0 < kmax; k0 += kb) {
      const int k1 = std::min(kmax, k0 + kb);
      for (int r = 0; r < rows; r++) {
        const int a = std::max(first[r], k0), b = std::min(first[r] + count[r], k1);
        if (a >= b) continue;
        const float* w = S + (int64_t)r * widest + (a - first[r]);
        if (narrow)
          pv_narrow(cache, w, g, a, b - a, P + r * pstride);
        else
          kt.attn_pv_acc_f32(w, cache.v(layer, g, a), cache.row_stride(), b - a, hd, lanes, a - first[r], P + r * pstride);
      }
    }
    for (int r = 0; r < rows; r++) {
      if (count[r] <= 0) std::memset(orow(r), 0, hd * sizeof(float));  // nothing visible: zeros
      else if (narrow) std::memcpy(orow(r), P + r * pstride, hd * sizeof(float));
      else kt.attn_pv_reduce_f32(P + r * pstride, hd, lanes, orow(r));
    }
  };

  // One query row and head (decode, or cells out of position order).
  auto row_task = [&](int tid, const AttnSeq& sq, const Plan& pl, long t) {
    KVCache& cache = *sq.cache;
    const int cells = sq.cells;
    const int32_t* cpos = cache.positions();
    scratch[2 * tid].reserve((size_t)std::max(cells, 1) * sizeof(float));
    float* s = scratch[2 * tid].as<float>();
    const int i = (int)(t / heads), h = (int)(t % heads), g = h / group;
    const int32_t p = sq.qpos[i];
    const int64_t low = opt.window > 0 ? (int64_t)p - opt.window : INT64_MIN;
    int first = 0, visible = cells;
    if (pl.sorted) visible_range(cpos, cells, p, opt.window, &first, &visible);
    float* o = sq.out + ((int64_t)i * heads + h) * hd;
    const int count = visible - first;
    if (count <= 0) {  // nothing visible: output zeros
      std::memset(o, 0, hd * sizeof(float));
      return;
    }
    const float* qi = sq.q + ((int64_t)i * heads + h) * hd;
    dot_keys(cache, qi, g, first, count, s);
    score_terms(s, count, opt, slopes.empty() ? 0.0f : slopes[h], cpos, first, p);
    if (!pl.sorted) {  // positions out of order (a shifted cache edited by hand): mask cell by cell
      bool any = false;
      for (int c = 0; c < count; c++) {
        if (cpos[c] > p || (int64_t)cpos[c] <= low) s[c] = -INFINITY;
        else any = true;
      }
      if (!any) {
        std::memset(o, 0, hd * sizeof(float));
        return;
      }
    }
    softmax(kt, s, count);
    if (narrow) {
      std::memset(o, 0, hd * sizeof(float));
      pv_narrow(cache, s, g, first, count, o);
    } else {
      kt.attn_pv_f32(s, cache.v(layer, g, first), cache.row_stride(), count, hd, pl.lanes, o);
    }
  };

  const long total = task0[(size_t)nseqs];
  pool.run([&](int tid, int nth) {
    std::vector<int> first, count;
    int si = 0;
    for (long t = tid; t < total; t += nth) {
      while (t >= task0[(size_t)si + 1]) si++;  // tasks ascend: the sequence only moves forward
      const Plan& pl = plans[(size_t)si];
      if (pl.blocked) block_task(tid, seqs[si], pl, t - task0[(size_t)si], first, count);
      else row_task(tid, seqs[si], pl, t - task0[(size_t)si]);
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
