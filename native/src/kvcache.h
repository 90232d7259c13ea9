// KV cache with explicit positions.
//
// Layout per layer: K and V are [n_kv_heads][capacity][head_dim] f32, so one
// head's keys are contiguous for the attention kernels. Cell c holds the token
// whose RoPE position is pos[c]; attention lets a query at position p see every
// cell with pos[c] <= p (causal mask by position, not by cell index).
//
// Editing operations needed by generation, assisted decoding and StreamingLLM:
//  - rollback(n): forget the last n cells (rejected draft tokens).
//  - drop(start, count, shift): remove cells [start, start+count), move the
//    following cells down, and lower their positions by `shift` (0 = keep);
//    the cached keys are re-rotated by -shift ("shift-RoPE") instead of being
//    recomputed.
#pragma once
#include <cstdint>
#include <vector>

#include "buffer.h"

namespace lowbit {

class KVCache {
 public:
  // freq_scale / factors as in rope_tables (ops.h): a shift turns keys back by
  // the same per-pair frequencies their rotation used
  // rope_dims: the rotary dims of a head (-1: all; 0: none, so a shift moves
  // keys without turning them: ALiBi and learned positions)
  KVCache(int n_layers, int n_kv_heads, int head_dim, int capacity, float rope_theta, float freq_scale = 1.0f,
          const float* factors = nullptr, int rope_dims = -1, const std::vector<float>& layer_theta = {});

  int size() const { return size_; }
  int capacity() const { return capacity_; }
  int head_dim() const { return head_dim_; }
  int n_kv_heads() const { return n_kv_heads_; }
  const int32_t* positions() const { return pos_.data(); }

  // Row of cell c for (layer, kv head).
  float* k(int layer, int head, int cell) { return base(k_, layer, head) + (int64_t)cell * head_dim_; }
  float* v(int layer, int head, int cell) { return base(v_, layer, head) + (int64_t)cell * head_dim_; }
  int64_t row_stride() const { return head_dim_; }

  // Reserves cells [size, size+n) for a forward step with these positions.
  // They become visible (size grows) only on commit().
  void stage(const int32_t* positions, int n);
  void commit(int n) { size_ += n; }

  void rollback(int n);
  void drop(int start, int count, int shift);
  void clear() { size_ = 0; }
  size_t bytes() const { return k_.size() * 2; }

 private:
  float* base(const AlignedBuf& b, int layer, int head) {
    return b.as<float>() + ((int64_t)layer * n_kv_heads_ + head) * capacity_ * head_dim_;
  }
  int n_layers_, n_kv_heads_, head_dim_, capacity_;
  int size_ = 0;
  std::vector<int32_t> pos_;
  std::vector<std::vector<float>> inv_freq_;  // per layer (Gemma 3's local and global layers differ)
  AlignedBuf k_, v_;
};

}  // namespace lowbit
