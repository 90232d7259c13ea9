#include "kvcache.h"

#include "kv/kv_f16.h"
#include "kv/kv_q8.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <new>
#include <cstring>
#include <stdexcept>
#include <string>

namespace lowbit {

const char* kv_type_name(KvType t) { return t == KvType::F16 ? "f16" : t == KvType::Q8_0 ? "q8_0" : "f32"; }
int64_t kv_row_bytes(KvType t, int64_t head_dim) {
  return t == KvType::Q8_0 ? kv_q8_row_bytes(head_dim) : head_dim * (t == KvType::F16 ? 2 : 4);
}

KVCache::KVCache(int n_layers, int n_kv_heads, int head_dim, int capacity, float rope_theta, float freq_scale,
                 const float* factors, int rope_dims, const std::vector<float>& layer_theta, KvType type,
                 const std::vector<float>& layer_freq_scale)
    : n_layers_(n_layers), n_kv_heads_(n_kv_heads), head_dim_(head_dim), capacity_(capacity), type_(type),
      row_bytes_(kv_row_bytes(type, head_dim)) {
  if (type == KvType::Q8_0 && head_dim % kKvQ8Block)
    throw std::invalid_argument("kvType q8_0 needs a head size divisible by 32 (this model's is " + std::to_string(head_dim) +
                                "): use f16 or f32");
  // Checked in 128 bits: the addon bounds each factor, but their product must not wrap.
  unsigned __int128 n128 = (unsigned __int128)n_layers * n_kv_heads * capacity * row_bytes_;
  const auto need = [&] {
    char gib[32];
    std::snprintf(gib, sizeof gib, "%.1f", (double)n128 * 2 / (1024.0 * 1024 * 1024));
    return "the KV cache for a context of " + std::to_string(capacity) + " tokens (" + std::to_string(n_layers) +
           " layers x " + std::to_string(n_kv_heads) + " KV heads x " + std::to_string(head_dim) +
           " dims, K and V in " + kv_type_name(type) + ") needs " + (n128 * 2 > SIZE_MAX ? std::string("more than 2^64") : std::to_string((uint64_t)(n128 * 2))) +
           " bytes (" + gib + " GiB)";
  };
  if (n128 * 2 > (unsigned __int128)(SIZE_MAX / 4)) throw std::length_error(need() + ": too large; use a shorter context length");
  try {
    k_.reserve((size_t)n128);
    v_.reserve((size_t)n128);
    pos_.assign(capacity, 0);
  } catch (const std::bad_alloc&) {
    throw std::runtime_error(need() + ", which could not be allocated; use a shorter context length");
  }
  if (rope_dims < 0) rope_dims = head_dim;
  inv_freq_.resize(n_layers);
  for (int l = 0; l < n_layers; l++) {
    const double theta = layer_theta.empty() ? (double)rope_theta : (double)layer_theta[l];
    const double scale = layer_freq_scale.empty() ? (double)freq_scale : (double)layer_freq_scale[l];
    for (int i = 0; i < rope_dims / 2; i++)
      inv_freq_[l].push_back((float)(scale / std::pow(theta, (2.0 * i) / rope_dims) /
                                     (factors ? (double)factors[i] : 1.0)));
  }
}

void KVCache::stage(const int32_t* positions, int n) {
  if (n < 0 || size_ + n > capacity_)
    throw std::range_error("KV cache full: " + std::to_string(size_) + " + " + std::to_string(n) + " > " +
                           std::to_string(capacity_) + " cells");
  std::memcpy(pos_.data() + size_, positions, n * sizeof(int32_t));
}

void KVCache::rollback(int n) {
  if (n < 0 || n > size_) throw std::range_error("rollback of " + std::to_string(n) + " cells, cache has " + std::to_string(size_));
  size_ -= n;
}

void KVCache::drop(int start, int count, int shift) {
  if (start < 0 || count < 0 || start + count > size_)
    throw std::range_error("drop range [" + std::to_string(start) + ", " + std::to_string(start + count) +
                           ") outside cache of " + std::to_string(size_) + " cells");
  if (count == 0) return;
  const int moved = size_ - start - count;
  const int half = (int)inv_freq_[0].size();  // rotary pairs (0: no RoPE)
  // Rotation by -shift for every frequency (keys are stored with their RoPE
  // pairs interleaved: (2i, 2i + 1), ops.h op_rope).
  const bool widened = type_ != KvType::F32;  // f16 / q8_0 keys are turned in f32 and stored again
  std::vector<float> cs(half), sn(half), wide(widened ? head_dim_ : 0);
  for (int l = 0; l < n_layers_; l++) {
    for (int i = 0; i < half; i++) {
      double a = -(double)shift * inv_freq_[l][i];
      cs[i] = (float)std::cos(a);
      sn[i] = (float)std::sin(a);
    }
    for (int h = 0; h < n_kv_heads_; h++) {
      std::memmove(row(k_, l, h, start), row(k_, l, h, start + count), (size_t)(moved * row_bytes_));
      std::memmove(row(v_, l, h, start), row(v_, l, h, start + count), (size_t)(moved * row_bytes_));
      if (shift == 0 || half == 0) continue;
      for (int c = start; c < start + moved; c++) {
        // an f16 / q8_0 key is turned in f32 and rounded back (as llama.cpp's K-shift of such a cache)
        float* x = widened ? wide.data() : k(l, h, c);
        if (type_ == KvType::F16) kv_f16_load_ref(k16(l, h, c), x, head_dim_);
        if (type_ == KvType::Q8_0) kv_q8_load_ref(k8(l, h, c), x, head_dim_);
        for (int i = 0; i < half; i++) {
          float x0 = x[2 * i], x1 = x[2 * i + 1];
          x[2 * i] = x0 * cs[i] - x1 * sn[i];
          x[2 * i + 1] = x1 * cs[i] + x0 * sn[i];
        }
        if (type_ == KvType::F16) kv_f16_store_ref(x, k16(l, h, c), head_dim_);
        if (type_ == KvType::Q8_0) kv_q8_store_ref(x, k8(l, h, c), head_dim_);
      }
    }
  }
  for (int c = start; c < start + moved; c++) pos_[c] = pos_[c + count] - shift;
  size_ -= count;
}

}  // namespace lowbit
