#include "mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace lowbit {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    throw std::runtime_error("cannot stat " + path + ": " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
    ::close(fd);
    throw std::runtime_error(path + " is not a non-empty regular file");
  }
  n_ = (size_t)st.st_size;
  void* p = ::mmap(nullptr, n_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int e = errno;
  ::close(fd);  // the mapping keeps the file
  if (p == MAP_FAILED) throw std::runtime_error("cannot map " + path + ": " + std::strerror(e));
  p_ = static_cast<const uint8_t*>(p);
}

MappedFile::~MappedFile() {
  if (p_) ::munmap(const_cast<uint8_t*>(p_), n_);
}

const uint8_t* MappedFile::range(uint64_t offset, uint64_t length) const {
  if (offset > n_ || length > n_ - offset)
    throw std::out_of_range(path_ + ": bytes " + std::to_string(offset) + "+" + std::to_string(length) +
                            " are past the end of the file (" + std::to_string(n_) + " bytes)");
  return p_ + offset;
}

}  // namespace lowbit
