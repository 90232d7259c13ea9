#include "model.h"

#include "act_hessian.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "comm.h"
#include "ops.h"

namespace lowbit {

Model::Model(const ModelParams& p) : p_(p) {
  kt_ = kernels_by_name(p.kernels.c_str());
  if (!kt_) throw std::invalid_argument("kernel variant '" + p.kernels + "' is unknown or not supported by this CPU");
  if (p.threads < 1 || p.threads > 256) throw std::invalid_argument("threads must be in [1, 256]");
  if (p.n_layers < 1 || p.n_kv_heads < 1 || p.head_dim < 2 || p.head_dim % 2 || p.n_ctx < 1)
    throw std::invalid_argument("invalid model dimensions");
  if (!(p.rope_theta > 0) || !std::isfinite(p.rope_theta)) throw std::invalid_argument("ropeTheta must be > 0");
  if (!(p.rope_freq_scale > 0) || !std::isfinite(p.rope_freq_scale)) throw std::invalid_argument("ropeFreqScale must be > 0");
  if (p_.rope_dims == -1) p_.rope_dims = p.head_dim;
  if (p_.rope_dims < 0 || p_.rope_dims > p.head_dim || p_.rope_dims % 2)
    throw std::invalid_argument("ropeDims must be even and in [0, headDim]");
  if (!p.rope_freq_factors.empty() && p.rope_freq_factors.size() != (size_t)p_.rope_dims / 2)
    throw std::invalid_argument("ropeFreqFactors must have ropeDims / 2 entries");
  for (float f : p.rope_freq_factors)
    if (!(f > 0) || !std::isfinite(f)) throw std::invalid_argument("ropeFreqFactors must be finite and > 0");
  if (!p.rope_freq_factors_long.empty()) {
    if (p.rope_freq_factors_long.size() != p.rope_freq_factors.size())
      throw std::invalid_argument("ropeFreqFactorsLong must have as many entries as ropeFreqFactors");
    for (float f : p.rope_freq_factors_long)
      if (!(f > 0) || !std::isfinite(f)) throw std::invalid_argument("ropeFreqFactorsLong must be finite and > 0");
    if (p.rope_long_from < 1) throw std::invalid_argument("ropeLongFrom must be >= 1 with ropeFreqFactorsLong");
  }
  if (!(p.rope_attn_factor > 0) || !std::isfinite(p.rope_attn_factor)) throw std::invalid_argument("ropeAttnFactor must be > 0");
  if (!p.layer_rope_theta.empty() && p.layer_rope_theta.size() != (size_t)p.n_layers)
    throw std::invalid_argument("ropeThetaLayers must have nLayers entries");
  for (float t : p.layer_rope_theta)
    if (!(t > 0) || !std::isfinite(t)) throw std::invalid_argument("ropeThetaLayers must be finite and > 0");
  if (!p.layer_rope_freq_scale.empty() && p.layer_rope_freq_scale.size() != (size_t)p.n_layers)
    throw std::invalid_argument("ropeFreqScaleLayers must have nLayers entries");
  for (float s : p.layer_rope_freq_scale)
    if (!(s > 0) || !std::isfinite(s)) throw std::invalid_argument("ropeFreqScaleLayers must be finite and > 0");
  pool_ = ThreadPool::shared(p.threads);
  caches_.push_back(make_cache());
}

std::unique_ptr<KVCache> Model::make_cache() const {
  return std::make_unique<KVCache>(p_.n_layers, p_.n_kv_heads, p_.head_dim, p_.n_ctx, p_.rope_theta, p_.rope_freq_scale,
                                   freq_factors(), p_.rope_dims, p_.layer_rope_theta, p_.kv_type, p_.layer_rope_freq_scale);
}

void Model::set_slots(int n) {
  if (n < 1 || n > 4096) throw std::invalid_argument("slots must be in [1, 4096]");
  while ((int)caches_.size() > n) caches_.pop_back();
  while ((int)caches_.size() < n) caches_.push_back(make_cache());
}

size_t Model::cache_bytes() const {
  size_t b = 0;
  for (auto& c : caches_) b += c->bytes();
  return b;
}

const float* Model::step_freq_factors(const int32_t* pos, int n) const {
  if (p_.rope_freq_factors_long.empty()) return freq_factors();
  int32_t last = 0;
  for (int i = 0; i < n; i++) last = std::max(last, pos[i]);
  return (int64_t)last + 1 > p_.rope_long_from ? p_.rope_freq_factors_long.data() : freq_factors();
}

int Model::map_file(const std::string& path) {
  for (size_t i = 0; i < files_.size(); i++)
    if (files_[i]->path() == path) return (int)i;
  files_.push_back(std::make_unique<MappedFile>(path));
  return (int)files_.size() - 1;
}

const MappedFile& Model::file(int id) const {
  if (id < 0 || (size_t)id >= files_.size()) throw std::out_of_range("no mapped file " + std::to_string(id));
  return *files_[(size_t)id];
}

void Model::add_weight(std::unique_ptr<Weight> w) {
  if (has_graph_) throw std::invalid_argument("weights cannot be added after the graph is set");
  std::string name = w->name;
  weights_[name] = std::move(w);
}

void Model::replace_weight(std::unique_ptr<Weight> w) {
  auto it = weights_.find(w->name);
  if (it == weights_.end()) throw std::invalid_argument("cannot replace '" + w->name + "': not loaded");
  if (it->second->rows != w->rows || it->second->cols != w->cols)
    throw std::invalid_argument("cannot replace '" + w->name + "': shape [" + std::to_string(w->rows) + ", " + std::to_string(w->cols) +
                                "] differs from the loaded [" + std::to_string(it->second->rows) + ", " + std::to_string(it->second->cols) + "]");
  has_graph_ = false;
  graph_ = Graph{};
  bufs_.clear();
  it->second = std::move(w);
}

void Model::alias_weight(const std::string& name, const std::string& target) {
  auto it = weights_.find(target);
  if (it == weights_.end()) throw std::invalid_argument("alias target '" + target + "' not loaded");
  aliases_[name] = target;
}

void Model::set_graph(const std::vector<OpSpec>& specs, const std::string& output) {
  // Aliases (tied embeddings) resolve to the target tensor.
  std::vector<OpSpec> resolved = specs;
  for (OpSpec& s : resolved) {
    auto it = aliases_.find(s.weight);
    if (it != aliases_.end()) s.weight = it->second;
  }
  graph_ = Graph::compile(resolved, output, weights_, {p_.n_layers, p_.n_kv_heads, p_.head_dim, p_.rope_dims});
  bufs_.clear();
  bufs_.resize(graph_.bufs.size());
  has_graph_ = true;
}

size_t Model::weight_bytes() const {
  size_t n = 0;
  for (auto& kv : weights_) n += kv.second->bytes();
  return n;
}

size_t Model::mapped_weight_bytes() const {
  size_t n = 0;
  for (auto& kv : weights_)
    if (kv.second->data.borrowed()) n += kv.second->bytes();
  return n;
}

std::vector<float> Model::forward(const int32_t* tokens, const int32_t* positions, int n, LogitsMode mode,
                                  const int32_t* targets, int* rows) {
  if (n < 1) throw std::invalid_argument("forward needs at least one token");
  return step(tokens, positions, {Segment{0, n, mode == LogitsMode::All}}, targets, rows);
}

std::vector<float> Model::forward_batch(const int32_t* tokens, const int32_t* positions, const std::vector<Segment>& segs,
                                        int* rows) {
  if (segs.empty()) throw std::invalid_argument("a batched step needs at least one sequence");
  std::vector<bool> seen(caches_.size());
  for (const Segment& s : segs) {
    if (s.slot < 0 || s.slot >= (int)caches_.size())
      throw std::invalid_argument("slot " + std::to_string(s.slot) + " out of range [0, " + std::to_string(caches_.size()) + ")");
    if (seen[(size_t)s.slot]) throw std::invalid_argument("slot " + std::to_string(s.slot) + " appears twice in one step");
    seen[(size_t)s.slot] = true;
    if (s.n < 1) throw std::invalid_argument("every sequence of a batched step needs at least one token");
  }
  return step(tokens, positions, segs, nullptr, rows);
}

std::vector<float> Model::step(const int32_t* tokens, const int32_t* positions, const std::vector<Segment>& segs,
                               const int32_t* targets, int* rows) {
  if (!has_graph_) throw std::invalid_argument("model has no graph");
  // rows of the step, output rows; each segment's first row, first output row and first cell
  int n = 0, n_out = 0;
  std::vector<int> row0, out0, first;
  for (const Segment& s : segs) {
    row0.push_back(n);
    out0.push_back(n_out);
    n += s.n;
    n_out += s.all ? s.n : 1;
  }
  const int64_t vocab_in = graph_.vocab_in;
  for (int i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= vocab_in)
      throw std::invalid_argument("token id " + std::to_string(tokens[i]) + " out of range [0, " +
                                  std::to_string(vocab_in) + ")");
  if (graph_.pos_embedding)
    for (int i = 0; i < n; i++)
      if (positions[i] < 0 || (int64_t)positions[i] + graph_.pos_offset >= graph_.pos_embedding->rows)
        throw std::invalid_argument("position " + std::to_string(positions[i]) + " is outside the model's " +
                                    std::to_string(graph_.pos_embedding->rows - graph_.pos_offset) +
                                    " learned positions");
  if (targets)
    for (int r = 0; r < n_out; r++)
      if (targets[r] < 0 || targets[r] >= graph_.vocab) throw std::invalid_argument("target id out of range");
  for (size_t i = 0; i < segs.size(); i++) {
    KVCache& c = cache(segs[i].slot);
    first.push_back(c.size());
    c.stage(positions + row0[i], segs[i].n);  // throws when the slot is full (nothing committed)
  }
  for (size_t b = 0; b < graph_.bufs.size(); b++)
    bufs_[b].reserve((size_t)(graph_.bufs[b].out_rows ? n_out : n) * graph_.bufs[b].cols * sizeof(float));
  // cos / sin rows of every token: each sequence's own (longrope picks its factors per sequence)
  auto rope_rows = [&](float theta, float sc, std::vector<float>* c, std::vector<float>* sn) {
    if (segs.size() == 1) {
      rope_tables(theta, p_.rope_dims, positions, n, c, sn, sc, step_freq_factors(positions, n), p_.rope_attn_factor);
      return;
    }
    std::vector<float> cs, ss;
    c->clear();
    sn->clear();
    for (size_t i = 0; i < segs.size(); i++) {
      const int32_t* ps = positions + row0[i];
      rope_tables(theta, p_.rope_dims, ps, segs[i].n, &cs, &ss, sc, step_freq_factors(ps, segs[i].n), p_.rope_attn_factor);
      c->insert(c->end(), cs.begin(), cs.end());
      sn->insert(sn->end(), ss.begin(), ss.end());
    }
  };
  if (p_.rope_dims > 0) rope_rows(p_.rope_theta, p_.rope_freq_scale, &cos_, &sin_);
  rope_more_.clear();
  // the tables of a rope op's layer theta and freq scale (computed once per step and pair)
  auto tables = [&](int layer) -> std::pair<const float*, const float*> {
    const float th = layer < 0 || p_.layer_rope_theta.empty() ? p_.rope_theta : p_.layer_rope_theta[layer];
    const float sc = layer < 0 || p_.layer_rope_freq_scale.empty() ? p_.rope_freq_scale : p_.layer_rope_freq_scale[layer];
    if (th == p_.rope_theta && sc == p_.rope_freq_scale) return {cos_.data(), sin_.data()};
    for (auto& e : rope_more_)
      if (e.first.first == th && e.first.second == sc) return {e.second.first.data(), e.second.second.data()};
    rope_more_.emplace_back(std::make_pair(th, sc), std::make_pair(std::vector<float>(), std::vector<float>()));
    auto& e = rope_more_.back().second;
    rope_rows(th, sc, &e.first, &e.second);
    return {e.first.data(), e.second.data()};
  };
  auto B = [&](int id) { return bufs_[id].as<float>(); };
  ThreadPool& pool = *pool_;
  std::lock_guard<std::mutex> step(pool.step_lock());  // one model's step at a time on the shared pool
  const KernelTable& kt = *kt_;

  for (const Op& op : graph_.ops) {
    const int rows_a = op.a >= 0 && graph_.bufs[op.a].out_rows ? n_out : n;
    switch (op.type) {
      case OpType::Embed:
        if (graph_.vocab_in != op.w->rows || op.offset)  // a tensor-parallel shard of the table
          op_embed_shard(pool, *op.w, tokens, n, op.offset, B(op.out));
        else
          op_embed(pool, *op.w, tokens, n, B(op.out));
        break;
      case OpType::AllReduce: {
        const int64_t count = (int64_t)rows_a * graph_.bufs[op.a].cols;
        comm::all_reduce_sum(B(op.a), (size_t)count);
        break;
      }
      case OpType::AllGather:
        comm::all_gather_cols(B(op.a), rows_a, graph_.bufs[op.a].cols, B(op.out), gather_scratch_);
        break;
      case OpType::RmsNorm:
        if (op.heads > 0)  // per head: [rows * heads, head_dim]
          op_rms_norm(pool, kt, B(op.a), rows_a * op.heads, p_.head_dim, op.w->data.as<float>(), op.eps, B(op.out));
        else
          op_rms_norm(pool, kt, B(op.a), rows_a, graph_.bufs[op.a].cols, op.w->data.as<float>(), op.eps, B(op.out));
        break;
      case OpType::LayerNorm: {
        const int rows = op.heads > 0 ? rows_a * op.heads : rows_a;
        const int64_t d = op.heads > 0 ? p_.head_dim : graph_.bufs[op.a].cols;
        op_layer_norm(pool, B(op.a), rows, d, op.w->data.as<float>(), op.bias ? op.bias->data.as<float>() : nullptr,
                      op.eps, B(op.out));
        break;
      }
      case OpType::Gelu: case OpType::GeluErf: case OpType::Relu:
        op_act(pool, op.type == OpType::Gelu ? (op.variant ? Act::GeluGgml : Act::GeluTanh) : op.type == OpType::GeluErf ? Act::GeluErf : Act::Relu,
               B(op.a), B(op.out), (int64_t)rows_a * graph_.bufs[op.a].cols);
        break;
      case OpType::GeluMul:
        op_gelu_mul(pool, B(op.a), B(op.b), B(op.out), (int64_t)rows_a * graph_.bufs[op.a].cols, op.variant);
        break;
      case OpType::Scale: op_scale(pool, B(op.a), op.scale, B(op.out), (int64_t)rows_a * graph_.bufs[op.a].cols); break;
      case OpType::Softcap:
        op_softcap(pool, B(op.a), op.softcap, B(op.out), (int64_t)rows_a * graph_.bufs[op.a].cols);
        break;
      case OpType::PosEmbed: op_pos_embed(pool, *op.w, B(op.a), positions, op.offset, n, B(op.out)); break;
      case OpType::Matmul: {
        if (collect_stats_ && op.w->name.compare(0, stats_opts_.prefix.size(), stats_opts_.prefix) == 0) {
          act_stats_add(stats_[op.w->name], stats_opts_, B(op.a), rows_a, graph_.bufs[op.a].cols);
          if (stats_opts_.hessian) act_hessian_add(stats_[op.w->name], pool, kt, B(op.a), rows_a, graph_.bufs[op.a].cols);
          for (const Weight* w2 : op.more_w) stats_alias_[w2->name] = op.w->name;
        }
        const Weight* ws[8] = {op.w};
        float* cs[8] = {B(op.out)};
        int count = 1;
        for (size_t i = 0; i < op.more_w.size(); i++, count++) {  // <= 7 (fuse_matmuls)
          ws[count] = op.more_w[i];
          cs[count] = B(op.more_out[i]);
        }
        if (op.variant)  // row-parallel: this rank's input columns, the sum over the ranks
          matmul_row_parallel(pool, kt, B(op.a), graph_.bufs[op.a].cols, rows_a, *op.w, cs[0], mm_scratch_);
        else
          matmul_multi(pool, kt, B(op.a), graph_.bufs[op.a].cols, rows_a, ws, cs, count, mm_scratch_);
        if (op.bias) op_add_bias(pool, cs[0], op.bias->data.as<float>(), rows_a, op.w->rows);
        for (size_t i = 0; i < op.more_bias.size(); i++)
          if (op.more_bias[i]) op_add_bias(pool, cs[i + 1], op.more_bias[i]->data.as<float>(), rows_a, op.more_w[i]->rows);
        break;
      }
      case OpType::Rope: {
        const auto t = tables(op.layer);
        op_rope(pool, B(op.a), n, op.heads, p_.head_dim, t.first, t.second, op.dims, op.variant);
        break;
      }
      case OpType::KvStore: {  // each sequence into its own slot
        kv_seqs_.clear();
        for (size_t i = 0; i < segs.size(); i++)
          kv_seqs_.push_back({&cache(segs[i].slot), first[i], B(op.a) + (int64_t)row0[i] * graph_.bufs[op.a].cols,
                              B(op.b) + (int64_t)row0[i] * graph_.bufs[op.b].cols, segs[i].n});
        op_kv_store_seqs(pool, kt, kv_seqs_.data(), (int)kv_seqs_.size(), op.layer);
        break;
      }
      case OpType::Attention: {  // each sequence over its own slot
        attn_seqs_.clear();
        for (size_t i = 0; i < segs.size(); i++)
          attn_seqs_.push_back({&cache(segs[i].slot), first[i] + segs[i].n, B(op.a) + (int64_t)row0[i] * graph_.bufs[op.a].cols,
                                positions + row0[i], segs[i].n, B(op.out) + (int64_t)row0[i] * graph_.bufs[op.out].cols});
        op_attention_seqs(pool, kt, attn_seqs_.data(), (int)attn_seqs_.size(), op.layer, op.heads, attn_scratch_,
                          {op.scale, op.window, op.softcap, op.alibi, op.offset, op.alibi_heads});
        break;
      }
      case OpType::Add: op_add(pool, B(op.a), B(op.b), B(op.out), (int64_t)rows_a * graph_.bufs[op.a].cols); break;
      case OpType::SiluMul: op_silu_mul(pool, kt, B(op.a), B(op.b), B(op.out), rows_a, graph_.bufs[op.a].cols); break;
      case OpType::OutputRows: {  // each sequence's rows, or its last
        const int64_t cols = graph_.bufs[op.a].cols;
        for (size_t i = 0; i < segs.size(); i++) {
          const float* src = B(op.a) + (int64_t)(segs[i].all ? row0[i] : row0[i] + segs[i].n - 1) * cols;
          std::memmove(B(op.out) + (int64_t)out0[i] * cols, src, (size_t)(segs[i].all ? segs[i].n : 1) * cols * sizeof(float));
        }
        break;
      }
    }
  }
  for (const Segment& sg : segs) cache(sg.slot).commit(sg.n);

  const int64_t V = graph_.vocab;
  float* logits = B(graph_.output);
  *rows = n_out;
  if (!targets) return std::vector<float>(logits, logits + (size_t)n_out * V);
  // Negative log-likelihood of each target: logsumexp(row) - row[target].
  std::vector<float> nll(n_out);
  pool.run([&](int tid, int nth) {
    for (int r = tid; r < n_out; r += nth) {
      float* row = logits + (int64_t)r * V;
      const float t = row[targets[r]];
      const float mx = kt.max_f32(row, V);
      const double sum = kt.exp_sum_f32(row, V, mx);
      nll[r] = (float)((double)mx + std::log(sum) - (double)t);
    }
  });
  return nll;
}

}  // namespace lowbit
