// KV cache with explicit positions.
//
// Layout per layer: K and V are [n_kv_heads][capacity][head_dim] of the cache
// type (f32, or f16: kv/kv_f16.h), so one head's keys are contiguous for the
// attention kernels. Cell c holds the token
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

// Element type of the cached keys and values (llama.cpp's -ctk / -ctv): q8_0
// rows are blocks of 32 (kv/kv_q8.h), so it needs a head size divisible by 32.
enum class KvType : int { F32 = 0, F16 = 1, Q8_0 = 2 };
const char* kv_type_name(KvType t);
// bytes of a cached row of head_dim elements
int64_t kv_row_bytes(KvType t, int64_t head_dim);

class KVCache {
 public:
  // freq_scale / factors as in rope_tables (ops.h): a shift turns keys back by
  // the same per-pair frequencies their rotation used
  // rope_dims: the rotary dims of a head (-1: all; 0: none, so a shift moves
  // keys without turning them: ALiBi and learned positions)
  KVCache(int n_layers, int n_kv_heads, int head_dim, int capacity, float rope_theta, float freq_scale = 1.0f,
          const float* factors = nullptr, int rope_dims = -1, const std::vector<float>& layer_theta = {},
          KvType type = KvType::F32, const std::vector<float>& layer_freq_scale = {});

  int size() const { return size_; }
  int capacity() const { return capacity_; }
  int head_dim() const { return head_dim_; }
  int n_kv_heads() const { return n_kv_heads_; }
  const int32_t* positions() const { return pos_.data(); }
  KvType type() const { return type_; }

  // Row of cell c for (layer, kv head): f32 caches (k, v), f16 caches (k16, v16), q8_0 caches (k8, v8).
  float* k(int layer, int head, int cell) { return (float*)row(k_, layer, head, cell); }
  float* v(int layer, int head, int cell) { return (float*)row(v_, layer, head, cell); }
  uint16_t* k16(int layer, int head, int cell) { return (uint16_t*)row(k_, layer, head, cell); }
  uint16_t* v16(int layer, int head, int cell) { return (uint16_t*)row(v_, layer, head, cell); }
  uint8_t* k8(int layer, int head, int cell) { return row(k_, layer, head, cell); }
  uint8_t* v8(int layer, int head, int cell) { return row(v_, layer, head, cell); }
  // elements between two cells' rows (f32, f16); bytes for every type
  int64_t row_stride() const { return head_dim_; }
  int64_t row_bytes() const { return row_bytes_; }

  // Reserves cells [size, size+n) for a forward step with these positions.
  // They become visible (size grows) only on commit().
  void stage(const int32_t* positions, int n);
  void commit(int n) { size_ += n; }

  void rollback(int n);
  void drop(int start, int count, int shift);
  void clear() { size_ = 0; }
  size_t bytes() const { return k_.size() * 2; }

 private:
  uint8_t* row(const AlignedBuf& b, int layer, int head, int cell) {
    return b.as<uint8_t>() + (((int64_t)layer * n_kv_heads_ + head) * capacity_ + cell) * row_bytes_;
  }
  int n_layers_, n_kv_heads_, head_dim_, capacity_;
  KvType type_;
  int64_t row_bytes_;
  int size_ = 0;
  std::vector<int32_t> pos_;
  std::vector<std::vector<float>> inv_freq_;  // per layer (Gemma 3's local and global layers differ)
  AlignedBuf k_, v_;
};

}  // namespace lowbit
