// A loaded model: weights in kernel formats, the compiled graph, the KV cache
// and the thread pool. forward() runs one whole step (prefill of n tokens or a
// decode step) and is called off the JS thread by the addon's async worker.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "act_stats.h"
#include "graph.h"
#include "kernels/kernels.h"
#include "kvcache.h"
#include "mapped_file.h"
#include "matmul.h"
#include "ops.h"
#include "threadpool.h"
#include "weights.h"

namespace lowbit {

struct ModelParams {
  int threads = 1;
  std::string kernels = "auto";
  int n_layers = 0, n_kv_heads = 0, head_dim = 0, n_ctx = 0;
  float rope_theta = 10000.0f;
  float rope_freq_scale = 1.0f;          // 1 / linear rope scaling factor
  std::vector<float> rope_freq_factors;  // empty, or rope_dims/2 divisors (llama3 rope_freqs; longrope's short factors)
  // longrope (Phi-3): a step whose last position + 1 exceeds rope_long_from turns by these divisors
  // instead (transformers' dynamic choice per forward); empty: none
  std::vector<float> rope_freq_factors_long;
  int rope_long_from = 0;
  float rope_attn_factor = 1.0f;         // cos / sin multiplied by this (longrope's attention factor, llama.cpp's mscale)
  std::vector<float> layer_rope_theta;   // empty, or n_layers thetas (a rope op names its layer)
  std::vector<float> layer_rope_freq_scale;  // empty, or n_layers freq scales (Gemma 3: linear scaling of its global layers only)
  int rope_dims = -1;                    // rotary dims of a head: -1 = head_dim, 0 = no RoPE (ALiBi, learned positions)
  KvType kv_type = KvType::F32;          // element type of the cached keys and values
};

enum class LogitsMode { Last, All };

// One sequence's part of a batched step (continuous batching): n consecutive
// rows of the step's tokens, appended to KV slot `slot`; all: logits of each of
// its rows, else of its last.
struct Segment {
  int slot = 0, n = 0;
  bool all = false;
};

class Model {
 public:
  explicit Model(const ModelParams& p);  // throws std::invalid_argument
  const float* freq_factors() const { return p_.rope_freq_factors.empty() ? nullptr : p_.rope_freq_factors.data(); }
  // the divisors a step at these positions turns by (longrope: long ones past rope_long_from)
  const float* step_freq_factors(const int32_t* pos, int n) const;

  void add_weight(std::unique_ptr<Weight> w);
  // Maps a model file for the model's lifetime (weights may view its bytes:
  // make_weight's source_outlives); returns its id. The same path maps once.
  int map_file(const std::string& path);
  const MappedFile& file(int id) const;
  // Replaces a loaded weight by one of the same shape (sequential GPTQ writes a
  // quantized layer back into its f32 calibration model); the graph is unset
  // until the next set_graph (it pointed at the old weight).
  void replace_weight(std::unique_ptr<Weight> w);
  void alias_weight(const std::string& name, const std::string& target);
  void set_graph(const std::vector<OpSpec>& specs, const std::string& output);

  // tokens/positions have n entries. With targets (n_out entries), returns the
  // negative log-likelihood of each target under its row's logits instead of
  // the logits. Returns the output row count via *rows.
  std::vector<float> forward(const int32_t* tokens, const int32_t* positions, int n, LogitsMode mode,
                             const int32_t* targets, int* rows);
  // Several sequences in one step (their rows concatenated, segs in row order,
  // each slot at most once): every matmul reads its weights once for all rows,
  // attention runs per sequence over its own KV slot. Returns the output rows of
  // each segment in order ([rows, vocab]). Throws std::invalid_argument on bad
  // segments, std::range_error when a slot is full (no slot is then changed).
  std::vector<float> forward_batch(const int32_t* tokens, const int32_t* positions, const std::vector<Segment>& segs,
                                   int* rows);

  // Calibration: while enabled, every matmul records statistics of its input
  // (act_stats.h), keyed by weight name; the weights of a fused matmul share
  // their input's entry (stats_alias_: name -> the name holding it).
  void set_collect_stats(bool on, const ActStatsOptions& o = {}) {
    collect_stats_ = on;
    stats_opts_ = o;
  }
  const std::map<std::string, ActStats>& activation_stats() const { return stats_; }
  const std::map<std::string, std::string>& activation_stats_aliases() const { return stats_alias_; }
  void clear_stats() {
    stats_.clear();
    stats_alias_.clear();
  }

  // Stored weights and aliases (save / load: weights_io.h, addon_io.cc).
  const WeightMap& weights() const { return weights_; }
  const std::map<std::string, std::string>& aliases() const { return aliases_; }

  // KV slot i (0: the one forward() uses). set_slots(n): slots 0..n-1, each of
  // the model's context capacity (new ones empty; slots past n are freed).
  KVCache& cache(int slot = 0) { return *caches_.at((size_t)slot); }
  int slots() const { return (int)caches_.size(); }
  void set_slots(int n);
  size_t cache_bytes() const;
  const KernelTable& kernels() const { return *kt_; }
  int threads() const { return pool_->size(); }
  int64_t vocab() const { return graph_.vocab; }
  size_t weight_bytes() const;
  size_t mapped_weight_bytes() const;  // of weight_bytes: viewed in a mapped file, not copied
  std::atomic<bool> busy{false};

 private:
  ModelParams p_;
  const KernelTable* kt_;
  std::shared_ptr<ThreadPool> pool_;  // shared with other models of the same thread count
  std::vector<std::unique_ptr<KVCache>> caches_;  // the KV slots
  std::unique_ptr<KVCache> make_cache() const;
  std::vector<float> step(const int32_t* tokens, const int32_t* positions, const std::vector<Segment>& segs,
                          const int32_t* targets, int* rows);
  std::vector<std::unique_ptr<MappedFile>> files_;  // before weights_: destroyed after the weights that view them
  WeightMap weights_;
  std::map<std::string, std::string> aliases_;
  Graph graph_;
  bool has_graph_ = false;
  std::vector<float> cos_, sin_;
  // tables of the other thetas of this step (per-layer thetas)
  // the cos / sin tables of a (theta, freq scale) other than the model's, computed once per step
  std::vector<std::pair<std::pair<float, float>, std::pair<std::vector<float>, std::vector<float>>>> rope_more_;
  std::vector<AlignedBuf> bufs_;
  std::vector<AlignedBuf> attn_scratch_;
  std::vector<AttnSeq> attn_seqs_;    // a step's sequences (attention, kv_store)
  std::vector<KvStoreSeq> kv_seqs_;
  MatmulScratch mm_scratch_;
  std::vector<float> gather_scratch_;  // all_gather's [ranks][rows][cols]
  bool collect_stats_ = false;
  ActStatsOptions stats_opts_;
  std::map<std::string, ActStats> stats_;
  std::map<std::string, std::string> stats_alias_;
};

}  // namespace lowbit
