#include "graph.h"

#include <cmath>

#include "comm.h"
#include <stdexcept>

namespace lowbit {

namespace {

struct Compiler {
  const WeightMap& weights;
  const GraphDims& dims;
  Graph g;
  std::map<std::string, int> ids;
  size_t index = 0;

  [[noreturn]] void fail(const OpSpec& s, const std::string& msg) {
    throw std::invalid_argument("graph op #" + std::to_string(index) + " (" + s.op + "): " + msg);
  }
  int read(const OpSpec& s, const std::string& name) {
    auto it = ids.find(name);
    if (it == ids.end()) fail(s, "reads undefined buffer '" + name + "'");
    return it->second;
  }
  int write(const OpSpec& s, const std::string& name, int64_t cols, bool out_rows) {
    if (name.empty()) fail(s, "missing output buffer");
    auto it = ids.find(name);
    if (it != ids.end()) {
      BufInfo& b = g.bufs[it->second];
      if (b.cols != cols || b.out_rows != out_rows) fail(s, "buffer '" + name + "' redefined with another shape");
      return it->second;
    }
    g.bufs.push_back({name, cols, out_rows});
    return ids[name] = (int)g.bufs.size() - 1;
  }
  const Weight* weight(const OpSpec& s) {
    auto it = weights.find(s.weight);
    if (it == weights.end()) fail(s, "unknown weight '" + s.weight + "'");
    return it->second.get();
  }
  // An optional f32 vector of `cols` entries (a bias).
  const Weight* bias(const OpSpec& s, int64_t cols) {
    if (s.bias.empty()) return nullptr;
    auto it = weights.find(s.bias);
    if (it == weights.end()) fail(s, "unknown bias '" + s.bias + "'");
    const Weight* b = it->second.get();
    if (b->matrix || b->cols != cols) fail(s, "bias '" + s.bias + "' must be an f32 vector [" + std::to_string(cols) + "]");
    return b;
  }
  // A norm's weight: [cols], or [head_dim] applied per head when heads > 0.
  void norm(const OpSpec& s, Op& op) {
    op.a = read(s, s.a);
    op.w = weight(s);
    int64_t width = buf(op.a).cols;
    if (s.heads > 0) {
      check_heads(s, op.a, s.heads);
      width = dims.head_dim;
      op.heads = s.heads;
    } else if (s.heads < 0) {
      fail(s, "heads must be >= 0");
    }
    if (op.w->matrix || op.w->cols != width) fail(s, "norm weight must be f32 [" + std::to_string(width) + "]");
    if (!(s.eps > 0)) fail(s, "eps must be > 0");
    op.eps = s.eps;
    op.bias = bias(s, width);
    op.out = write(s, s.out, buf(op.a).cols, buf(op.a).out_rows);
  }
  // gelu / gelu_mul: mode "ggml" is llama.cpp's f16-table GELU
  void gelu_mode(const OpSpec& s, Op& op) {
    if (s.mode.empty()) return;
    if (s.mode != "ggml" || (s.op != "gelu" && s.op != "gelu_mul")) fail(s, "mode '" + s.mode + "' is not one of this op's");
    op.variant = true;
  }
  void unary(const OpSpec& s, Op& op) {
    op.a = read(s, s.a);
    op.out = write(s, s.out, buf(op.a).cols, buf(op.a).out_rows);
  }
  const BufInfo& buf(int id) { return g.bufs[id]; }
  void check_heads(const OpSpec& s, int id, int heads) {
    if (heads <= 0 || buf(id).cols != (int64_t)heads * dims.head_dim)
      fail(s, "buffer '" + buf(id).name + "' width is not heads * head_dim");
  }
  void check_layer(const OpSpec& s) {
    if (s.layer < 0 || s.layer >= dims.n_layers) fail(s, "layer out of range");
  }

  void add(const OpSpec& s) {
    Op op;
    if (s.op == "embed") {
      op.type = OpType::Embed;
      op.w = weight(s);
      if (!op.w->matrix || (op.w->format != WFormat::F32 && op.w->format != WFormat::BF16 && !op.w->ggml() &&
                           op.w->format != WFormat::KQuant))
        fail(s, "embedding must be an f32, bf16, q4_0, q8_0 or K-quant matrix");
      if (g.embedding) fail(s, "one embed op per graph");
      g.embedding = op.w;
      g.vocab_in = op.w->rows;
      if (s.vocab != 0 || s.offset != 0) {  // a shard of the vocabulary
        if (s.offset < 0 || s.vocab < s.offset + op.w->rows) fail(s, "the table's rows must lie in [0, vocab) from offset");
        op.offset = s.offset;
        g.vocab_in = s.vocab;
      }
      op.out = write(s, s.out, op.w->cols, false);
    } else if (s.op == "rms_norm") {
      op.type = OpType::RmsNorm;
      if (!s.bias.empty()) fail(s, "rms_norm takes no bias");
      norm(s, op);
    } else if (s.op == "layer_norm") {
      op.type = OpType::LayerNorm;
      norm(s, op);
    } else if (s.op == "gelu" || s.op == "gelu_erf" || s.op == "relu") {
      op.type = s.op == "gelu" ? OpType::Gelu : s.op == "gelu_erf" ? OpType::GeluErf : OpType::Relu;
      gelu_mode(s, op);
      unary(s, op);
    } else if (s.op == "scale" || s.op == "softcap") {
      op.type = s.op == "scale" ? OpType::Scale : OpType::Softcap;
      const float v = s.op == "scale" ? s.scale : s.softcap;
      if (!std::isfinite(v) || (s.op == "softcap" && !(v > 0))) fail(s, s.op + " needs a finite" + (s.op == "softcap" ? " positive" : "") + " value");
      op.scale = s.scale;
      op.softcap = s.softcap;
      unary(s, op);
    } else if (s.op == "pos_embed") {
      op.type = OpType::PosEmbed;
      op.a = read(s, s.a);
      op.w = weight(s);
      if (!op.w->matrix || (op.w->format != WFormat::F32 && op.w->format != WFormat::BF16 && !op.w->ggml()))
        fail(s, "position table must be an f32, bf16, q4_0 or q8_0 matrix");
      if (op.w->cols != buf(op.a).cols) fail(s, "position table width does not match");
      if (buf(op.a).out_rows) fail(s, "pos_embed needs one row per token");
      if (s.offset < 0 || s.offset >= op.w->rows) fail(s, "offset out of range");
      if (g.pos_embedding && (g.pos_embedding != op.w || g.pos_offset != s.offset)) fail(s, "one position table per graph");
      g.pos_embedding = op.w;
      g.pos_offset = op.offset = s.offset;
      op.out = write(s, s.out, buf(op.a).cols, false);
    } else if (s.op == "matmul") {
      op.type = OpType::Matmul;
      op.a = read(s, s.a);
      op.w = weight(s);
      if (!op.w->matrix) fail(s, "weight '" + s.weight + "' is a vector");
      if (op.w->cols != buf(op.a).cols) fail(s, "weight '" + s.weight + "' input width does not match");
      if (s.out == s.a) fail(s, "matmul cannot write its input");
      if (!s.mode.empty()) {
        if (s.mode != "row_parallel") fail(s, "mode must be row_parallel");
        if (!comm::available()) fail(s, "row_parallel needs the MPI build of the addon (npm run build:mpi)");
        op.variant = true;
      }
      op.bias = bias(s, op.w->rows);
      op.out = write(s, s.out, op.w->rows, buf(op.a).out_rows);
    } else if (s.op == "rope") {
      op.type = OpType::Rope;
      op.a = op.out = read(s, s.a);
      op.heads = s.heads;
      check_heads(s, op.a, s.heads);
      if (buf(op.a).out_rows) fail(s, "rope needs one row per token");
      op.dims = s.dims == 0 ? dims.head_dim : s.dims;
      if (dims.rope_dims == 0) fail(s, "the model has no RoPE (ropeDims 0)");
      if (op.dims != dims.rope_dims) fail(s, "dims must be the model's ropeDims (" + std::to_string(dims.rope_dims) + ")");
      if (s.mode != "" && s.mode != "neox" && s.mode != "gptj") fail(s, "mode must be neox or gptj");
      op.variant = s.mode == "gptj";
      if (s.layer != -1) {  // the layer whose theta it uses (ropeThetaLayers)
        check_layer(s);
        op.layer = s.layer;
      }
    } else if (s.op == "kv_store") {
      op.type = OpType::KvStore;
      check_layer(s);
      op.layer = s.layer;
      op.a = read(s, s.a);
      op.b = read(s, s.b);
      check_heads(s, op.a, dims.n_kv_heads);
      check_heads(s, op.b, dims.n_kv_heads);
      if (buf(op.a).out_rows || buf(op.b).out_rows) fail(s, "kv_store needs one row per token");
    } else if (s.op == "attention") {
      op.type = OpType::Attention;
      check_layer(s);
      op.layer = s.layer;
      op.a = read(s, s.a);
      op.heads = s.heads;
      check_heads(s, op.a, s.heads);
      if (s.heads % dims.n_kv_heads) fail(s, "heads must be a multiple of kv heads");
      if (buf(op.a).out_rows) fail(s, "attention needs one row per token");
      if (!(s.scale >= 0) || !std::isfinite(s.scale)) fail(s, "scale must be finite and >= 0");
      if (!(s.softcap >= 0) || !std::isfinite(s.softcap)) fail(s, "softcap must be finite and >= 0");
      if (!(s.alibi >= 0) || !std::isfinite(s.alibi)) fail(s, "alibi must be finite and >= 0");
      if (s.window < 0) fail(s, "window must be >= 0");
      if (s.alibi_heads || s.offset) {  // a tensor-parallel shard of the heads
        if (!(s.alibi > 0)) fail(s, "offset and alibiHeads apply to ALiBi attention");
        if (s.offset < 0 || s.alibi_heads < s.heads || s.offset > s.alibi_heads - s.heads)
          fail(s, "heads offset.. must lie within alibiHeads");
      }
      op.scale = s.scale;
      op.softcap = s.softcap;
      op.alibi = s.alibi;
      op.offset = s.offset;
      op.alibi_heads = s.alibi_heads;
      op.window = s.window;
      op.out = write(s, s.out, buf(op.a).cols, false);
    } else if (s.op == "add" || s.op == "silu_mul" || s.op == "gelu_mul") {
      op.type = s.op == "add" ? OpType::Add : s.op == "silu_mul" ? OpType::SiluMul : OpType::GeluMul;
      gelu_mode(s, op);
      op.a = read(s, s.a);
      op.b = read(s, s.b);
      if (buf(op.a).cols != buf(op.b).cols || buf(op.a).out_rows != buf(op.b).out_rows)
        fail(s, "operands differ in shape");
      op.out = write(s, s.out, buf(op.a).cols, buf(op.a).out_rows);
    } else if (s.op == "all_reduce" || s.op == "all_gather") {
      if (!comm::available()) fail(s, "needs the MPI build of the addon (npm run build:mpi)");
      if (!comm::initialized()) fail(s, "MPI is not initialized (start under mpirun with --tp)");
      op.a = read(s, s.a);
      if (s.op == "all_reduce") {
        op.type = OpType::AllReduce;
        if (!s.out.empty() && s.out != s.a) fail(s, "all_reduce works in place (out must be a)");
        op.out = op.a;
        if (!s.bias.empty()) fail(s, "all_reduce takes no bias (a row-parallel matmul adds its own after its sum)");
      } else {
        op.type = OpType::AllGather;
        if (s.out == s.a) fail(s, "all_gather cannot write its input");
        op.out = write(s, s.out, buf(op.a).cols * comm::size(), buf(op.a).out_rows);
      }
    } else if (s.op == "output_rows") {
      op.type = OpType::OutputRows;
      op.a = read(s, s.a);
      if (buf(op.a).out_rows) fail(s, "input already has output rows");
      op.out = write(s, s.out, buf(op.a).cols, true);
    } else {
      fail(s, "unknown op");
    }
    g.ops.push_back(op);
  }
};

}  // namespace

Graph Graph::compile(const std::vector<OpSpec>& specs, const std::string& output, const WeightMap& weights,
                     const GraphDims& dims) {
  Compiler c{weights, dims, {}, {}};
  for (const OpSpec& s : specs) {
    c.add(s);
    c.index++;
  }
  auto it = c.ids.find(output);
  if (it == c.ids.end()) throw std::invalid_argument("graph output buffer '" + output + "' is never written");
  if (!c.g.bufs[it->second].out_rows) throw std::invalid_argument("graph output must come after output_rows");
  if (!c.g.embedding) throw std::invalid_argument("graph has no embed op");
  c.g.output = it->second;
  c.g.vocab = c.g.bufs[it->second].cols;
  c.g.fuse_matmuls();
  return std::move(c.g);
}

void Graph::fuse_matmuls() {
  std::vector<Op> fused;
  for (const Op& op : ops) {
    if (op.type == OpType::Matmul && !fused.empty()) {
      Op& prev = fused.back();
      bool out_is_input = op.out == prev.a || prev.out == op.a;
      for (int o : prev.more_out) out_is_input = out_is_input || o == op.a;
      if (prev.type == OpType::Matmul && !prev.variant && !op.variant && prev.a == op.a && shares_activations(*prev.w, *op.w) &&
          !out_is_input &&
          prev.more_w.size() < 7 /* matmul_multi takes at most 8 */) {
        prev.more_w.push_back(op.w);
        prev.more_bias.push_back(op.bias);
        prev.more_out.push_back(op.out);
        continue;
      }
    }
    fused.push_back(op);
  }
  ops = std::move(fused);
}

}  // namespace lowbit
