// Multi-threaded transformer ops built on the kernel table. Activations are
// row-major [rows, cols] f32 (one row per token).
#pragma once
#include <cstdint>
#include <vector>

#include "buffer.h"
#include "kernels/kernels.h"
#include "kvcache.h"
#include "threadpool.h"
#include "weights.h"

namespace lowbit {

// cos/sin tables [n][head_dim/2] for the given positions, as llama.cpp's rope
// cache computes them: pair i turns by freq_scale * (pos * theta^(-2i/d) /
// factors[i]), the power by repeated f32 multiplication, cosf / sinf.
// freq_scale is 1 / the linear scaling factor; factors (head_dim/2 entries, or
// null for all 1) are llama3's / longrope's per-frequency divisors (GGUF
// rope_freqs.weight).
void rope_tables(float theta, int head_dim, const int32_t* pos, int n, std::vector<float>* cos_t,
                 std::vector<float>* sin_t, float freq_scale = 1.0f, const float* factors = nullptr, float mscale = 1.0f);

// out[i, :] = E[tokens[i], :] widened to f32; out is [n, E.cols].
void op_embed(ThreadPool& pool, const Weight& E, const int32_t* tokens, int n, float* out);
// A shard of the table: E holds rows first.. of the vocabulary; out[i] = E[tokens[i] - first], or zeros
// when tokens[i] is not in the shard (tensor parallelism: the ranks' rows are summed).
void op_embed_shard(ThreadPool& pool, const Weight& E, const int32_t* tokens, int n, int64_t first, float* out);
// out[i] = x[i] * rsqrt(mean(x[i]^2) + eps) * w ; x, out are [n, d] (may alias).
void op_rms_norm(ThreadPool& pool, const KernelTable& kt, const float* x, int n, int64_t d, const float* w,
                 float eps, float* out);
// In-place RoPE on x [n, heads*head_dim] with per-row cos/sin tables: the
// rotate-half pairs (i, i + head_dim/2) of the checkpoint's (HF) order, written
// out interleaved at (2i, 2i + 1). Queries and keys (the KV cache) are thus in
// llama.cpp's order for its "normal" RoPE, which is what its attention sums
// over (a dot product's rounding depends on the order of its terms).
// dims (<= head_dim, even) are the rotary dims of each head (the rest pass
// unchanged); gptj: the pairs are (2i, 2i + 1) in the checkpoint (GPT-J's
// rotate_every_two) instead of (i, i + dims/2). Either way they are written
// out interleaved, so the KV cache holds every family's keys the same way.
void op_rope(ThreadPool& pool, float* x, int n, int heads, int head_dim, const float* cos_t, const float* sin_t,
             int dims = 0, bool gptj = false);

// Scalar ops of the model families (graph.h). Norms: x, out are [n, d]
// (may alias), w (and b) [d]; llama.cpp's ggml_norm: sums in double, the
// centred values and the variance in f32.
void op_layer_norm(ThreadPool& pool, const float* x, int n, int64_t d, const float* w, const float* b, float eps,
                   float* out);
// out[i, :] += b (a matmul's bias), [n, d].
void op_add_bias(ThreadPool& pool, float* out, const float* b, int n, int64_t d);
// GeluGgml: llama.cpp's CPU GELU (GGML_GELU_FP16): x rounded to f16, its
// tanh-approximation GELU looked up in an f16 table (so rounded to f16), 0
// below -10 and x above 10. GGUF models use it, as llama.cpp runs them.
enum class Act { GeluTanh, GeluErf, Relu, GeluGgml };
float gelu_ggml(float x);
// out = act(a), count elements (may alias).
void op_act(ThreadPool& pool, Act act, const float* a, float* out, int64_t count);
// out = gelu_tanh(g) * u, count elements (GeGLU); ggml: llama.cpp's table GELU.
void op_gelu_mul(ThreadPool& pool, const float* g, const float* u, float* out, int64_t count, bool ggml = false);
// out = a * s
void op_scale(ThreadPool& pool, const float* a, float s, float* out, int64_t count);
// out = cap * tanh(a / cap)
void op_softcap(ThreadPool& pool, const float* a, float cap, float* out, int64_t count);
// out[i, :] = a[i, :] + P[pos[i] + offset, :] (positions checked by the caller).
void op_pos_embed(ThreadPool& pool, const Weight& P, const float* a, const int32_t* pos, int offset, int n,
                  float* out);
// ALiBi slopes of `heads` heads for max bias m (llama.cpp's ggml_soft_max_ext;
// = BLOOM's and MPT's for max bias 8).
std::vector<float> alibi_slopes(int heads, float max_bias);
float gelu_tanh(float x);
float gelu_erf(float x);

struct AttnOptions {
  float scale = 0;    // 0: 1 / sqrt(head_dim)
  int window = 0;     // > 0: keys at p - window < pos <= p
  float softcap = 0;  // > 0: cap * tanh(s / cap)
  float alibi = 0;    // > 0: ALiBi max bias
  int head0 = 0, model_heads = 0;  // ALiBi of a shard: its heads are head0.. of model_heads (0: heads)
};
// out = a + b, count elements (out may alias a or b).
void op_add(ThreadPool& pool, const float* a, const float* b, float* out, int64_t count);
// out = silu(g) * u, [n, d].
void op_silu_mul(ThreadPool& pool, const KernelTable& kt, const float* g, const float* u, float* out, int n,
                 int64_t d);
// Copies k, v [n, kv_heads*head_dim] into cache cells [first, first+n) of `layer`.
void op_kv_store(ThreadPool& pool, const KernelTable& kt, KVCache& cache, int layer, int first, const float* k,
                 const float* v, int n);
// op_kv_store of several sequences (each into its own cache: a batched step) in one dispatch.
struct KvStoreSeq {
  KVCache* cache;
  int first;
  const float* k;
  const float* v;
  int n;
};
void op_kv_store_seqs(ThreadPool& pool, const KernelTable& kt, const KvStoreSeq* seqs, int nseqs, int layer);
// Causal GQA attention of q [n, heads*head_dim] (positions qpos) over the cache's
// first `cells` cells of `layer`; out is [n, heads*head_dim].
void op_attention(ThreadPool& pool, const KernelTable& kt, KVCache& cache, int layer, int cells, const float* q,
                  const int32_t* qpos, int n, int heads, float* out, std::vector<AlignedBuf>& scratch,
                  const AttnOptions& opt = {});
// op_attention of several sequences (a batched step), each over the first `cells` cells of its
// own cache, with its own numerics (as alone), in one dispatch of the pool. Every cache has the
// same layout (heads, head_dim, element type).
struct AttnSeq {
  KVCache* cache;
  int cells;
  const float* q;
  const int32_t* qpos;
  int n;
  float* out;
};
void op_attention_seqs(ThreadPool& pool, const KernelTable& kt, const AttnSeq* seqs, int nseqs, int layer, int heads,
                       std::vector<AlignedBuf>& scratch, const AttnOptions& opt = {});

}  // namespace lowbit
