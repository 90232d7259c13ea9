// 64-byte aligned, growable scratch/storage buffer; or a borrowed view of
// memory something else owns (a mapped model file: mapped_file.h).
#pragma once
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace lowbit {

class AlignedBuf {
 public:
  AlignedBuf() = default;
  explicit AlignedBuf(size_t bytes) { reserve(bytes); }
  ~AlignedBuf() { release(); }
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  AlignedBuf(AlignedBuf&& o) noexcept : p_(o.p_), n_(o.n_), owned_(o.owned_) { o.p_ = nullptr, o.n_ = 0, o.owned_ = true; }
  AlignedBuf& operator=(AlignedBuf&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    std::swap(owned_, o.owned_);
    return *this;
  }
  // Ensures capacity >= bytes (contents are not preserved when it grows; a
  // borrowed view is replaced by an owned buffer).
  void reserve(size_t bytes) {
    if (owned_ && bytes <= n_) return;
    release();
    // Large buffers (weights, KV cache) start on a 2 MiB boundary and ask for
    // transparent huge pages: first-touching 4 KiB pages one by one costs ~4 s
    // per GB in a VM that hands its pages back to the host.
    const bool large = bytes >= kHuge;
    const size_t align = large ? kHuge : 64;
    size_t rounded = (bytes + align - 1) & ~(align - 1);
    p_ = std::aligned_alloc(align, rounded ? rounded : 64);
    if (!p_) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (large) madvise(p_, rounded, MADV_HUGEPAGE);  // advice only: failure changes nothing
#endif
    n_ = rounded;
  }
  // Views n bytes at p, which must outlive this buffer and is never written
  // through it (read-only mapped memory).
  void borrow(const void* p, size_t n) {
    release();
    p_ = const_cast<void*>(p);
    n_ = n;
    owned_ = false;
  }
  bool borrowed() const { return !owned_; }
  void* data() const { return p_; }
  template <class T>
  T* as() const { return static_cast<T*>(p_); }
  size_t size() const { return n_; }

 private:
  static constexpr size_t kHuge = size_t(2) << 20;
  void release() {
    if (owned_) std::free(p_);
    p_ = nullptr;
    n_ = 0;
    owned_ = true;
  }
  void* p_ = nullptr;
  size_t n_ = 0;
  bool owned_ = true;
};

}  // namespace lowbit
