// The forward graph: a flat list of ops over named activation buffers, built
// by the TypeScript model file (src/models/*.ts) and compiled here once. Each
// forward step runs the whole list natively for n tokens.
//
// Buffers have a fixed width (cols) and either one row per input token or one
// row per *output* row (after an `output_rows` op, which keeps the last row or
// all rows depending on what the caller asked for).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "weights.h"

namespace lowbit {

// As received from JS (validated by Graph::compile).
//
// Ops of the model families (src/models/family.ts) beside Llama's:
//   matmul {bias}           y = x W^T + b (bias: an f32 vector weight)
//   rms_norm {heads}        heads > 0: per head (q/k norm), weight [head_dim]
//   layer_norm {bias}       (x - mean) / sqrt(var + eps) * w (+ b); heads as rms_norm
//   rope {dims, mode, layer} layer (optional): its theta of ropeThetaLayers; dims rotary dims of each head (0: head_dim; must be
//                           the model's ropeDims), mode "neox" (pairs i, i + dims/2:
//                           HF rotate_half) or "gptj" (pairs 2i, 2i + 1)
//   attention {scale, window, softcap, alibi}
//                           scale of q.k (0: 1/sqrt(head_dim)); window > 0: a
//                           query at p sees keys at p - window < pos <= p;
//                           softcap > 0: scores cap * tanh(s / cap); alibi > 0:
//                           ALiBi with that max bias (slope_h * (pos_k - pos_q))
//   gelu / gelu_erf / relu  out = act(a)
//   gelu_mul                out = gelu(a) * b (GeGLU, tanh approximation)
//   gelu, gelu_mul {mode}   mode "ggml": llama.cpp's GELU (x and the result rounded to f16; GGUF models)
//   scale {scale}           out = a * scale
//   softcap {softcap}       out = softcap * tanh(a / softcap)
//   pos_embed {weight, offset}  out = a + P[pos + offset] (learned absolute positions)
//
// Tensor parallelism (the MPI build only; elsewhere a compile error naming it):
//   embed {offset, vocab}   the table holds rows offset.. of a vocabulary of `vocab` ids
//                           (one rank's shard): other ids give zero rows (summed by all_reduce)
//   all_reduce {a}          a = sum of a over the ranks, in place
//   matmul {mode "row_parallel"}  its input columns are one rank's part (attn_output, ffn_down):
//                           out = the whole product, summed over the ranks, then its bias once
//                           (matmul.h matmul_row_parallel: w8a8 sums int32 dot products, exact)
//   all_gather {a, out}     out [rows, cols * ranks] = every rank's a [rows, cols] side by side
//   attention {alibi, offset, alibiHeads}  its heads are heads offset.. of a model of
//                           alibiHeads heads: ALiBi takes those heads' slopes
//                           (the vocab-sharded LM head's logits)
struct OpSpec {
  std::string op, a, b, out, weight, bias, mode;
  int layer = -1, heads = 0, dims = 0, window = 0, offset = 0, vocab = 0, alibi_heads = 0;
  float eps = 0, scale = 0, softcap = 0, alibi = 0;
};

enum class OpType {
  Embed, RmsNorm, Matmul, Rope, KvStore, Attention, Add, SiluMul, OutputRows,
  LayerNorm, Gelu, GeluErf, Relu, GeluMul, Scale, Softcap, PosEmbed, AllReduce, AllGather
};

struct Op {
  OpType type;
  int a = -1, b = -1, out = -1;  // buffer indices
  const Weight* w = nullptr;
  const Weight* bias = nullptr;  // matmul / layer_norm bias (f32 vector)
  int layer = -1, heads = 0;
  float eps = 0;
  int dims = 0, window = 0, offset = 0;
  bool variant = false;  // the op's mode: matmul "row_parallel"; rope "gptj" (GPT-J pair order); gelu / gelu_mul "ggml" (llama.cpp's table GELU)
  float scale = 0, softcap = 0, alibi = 0;
  int alibi_heads = 0;  // attention: the model's heads when a shard's (0: heads); its first is offset
  // Matmuls reading the same input (q/k/v, gate/up) are fused by the compiler
  // into one op: extra weights, their biases and their output buffers.
  std::vector<const Weight*> more_w;
  std::vector<const Weight*> more_bias;
  std::vector<int> more_out;
};

struct BufInfo {
  std::string name;
  int64_t cols = 0;
  bool out_rows = false;
};

struct GraphDims {
  int n_layers, n_kv_heads, head_dim;
  int rope_dims;  // rotary dims of each head (0: the model has no RoPE)
};

using WeightMap = std::map<std::string, std::unique_ptr<Weight>>;

struct Graph {
  std::vector<Op> ops;
  std::vector<BufInfo> bufs;
  int output = -1;  // the logits buffer
  int64_t vocab = 0;
  const Weight* embedding = nullptr;
  int64_t vocab_in = 0;  // token ids accepted: the embedding's rows, or its embed op's vocab (a shard)
  const Weight* pos_embedding = nullptr;  // pos_embed's table (positions are checked against it)
  int pos_offset = 0;

  // Throws std::invalid_argument with a message naming the op on any error.
  // Fuses runs of matmuls that share an input buffer and weight format, when
  // no op in the run writes that input. Called by compile().
  void fuse_matmuls();

  static Graph compile(const std::vector<OpSpec>& specs, const std::string& output, const WeightMap& weights,
                       const GraphDims& dims);
};

}  // namespace lowbit
