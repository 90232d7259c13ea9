// A model file mapped read-only into memory (GGUF weights that need no
// conversion are used in place, as llama.cpp's mmap does: no copy, and the
// pages are the page cache's, shared by every process that maps the file).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace lowbit {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws std::runtime_error naming the path and errno
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return p_; }
  size_t size() const { return n_; }
  const std::string& path() const { return path_; }
  // bytes [offset, offset + length) of the file; throws std::out_of_range when they are not all inside it
  const uint8_t* range(uint64_t offset, uint64_t length) const;

 private:
  std::string path_;
  const uint8_t* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace lowbit
