// 64-byte aligned, growable scratch/storage buffer.
#pragma once
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace lowbit {

class AlignedBuf {
 public:
  AlignedBuf() = default;
  explicit AlignedBuf(size_t bytes) { reserve(bytes); }
  ~AlignedBuf() { std::free(p_); }
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  AlignedBuf(AlignedBuf&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  AlignedBuf& operator=(AlignedBuf&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  // Ensures capacity >= bytes (contents are not preserved when it grows).
  void reserve(size_t bytes) {
    if (bytes <= n_) return;
    std::free(p_);
    p_ = nullptr;
    n_ = 0;
    size_t rounded = (bytes + 63) & ~size_t(63);
    p_ = std::aligned_alloc(64, rounded ? rounded : 64);
    if (!p_) throw std::bad_alloc();
    n_ = rounded;
  }
  void* data() const { return p_; }
  template <class T>
  T* as() const { return static_cast<T*>(p_); }
  size_t size() const { return n_; }

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace lowbit
