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
struct OpSpec {
  std::string op, a, b, out, weight;
  int layer = -1, heads = 0;
  float eps = 0;
};

enum class OpType { Embed, RmsNorm, Matmul, Rope, KvStore, Attention, Add, SiluMul, OutputRows };

struct Op {
  OpType type;
  int a = -1, b = -1, out = -1;  // buffer indices
  const Weight* w = nullptr;
  int layer = -1, heads = 0;
  float eps = 0;
  // Matmuls reading the same input (q/k/v, gate/up) are fused by the compiler
  // into one op: extra weights and their output buffers.
  std::vector<const Weight*> more_w;
  std::vector<int> more_out;
};

struct BufInfo {
  std::string name;
  int64_t cols = 0;
  bool out_rows = false;
};

struct GraphDims {
  int n_layers, n_kv_heads, head_dim;
};

using WeightMap = std::map<std::string, std::unique_ptr<Weight>>;

struct Graph {
  std::vector<Op> ops;
  std::vector<BufInfo> bufs;
  int output = -1;  // the logits buffer
  int64_t vocab = 0;
  const Weight* embedding = nullptr;

  // Throws std::invalid_argument with a message naming the op on any error.
  // Fuses runs of matmuls that share an input buffer and weight format, when
  // no op in the run writes that input. Called by compile().
  void fuse_matmuls();

  static Graph compile(const std::vector<OpSpec>& specs, const std::string& output, const WeightMap& weights,
                       const GraphDims& dims);
};

}  // namespace lowbit
