#include "weights.h"

#include <cstdint>
#include <stdexcept>

#include "kernels/kernels.h"

namespace lowbit {

const char* wformat_name(WFormat f) {
  switch (f) {
    case WFormat::F32: return "f32";
    case WFormat::BF16: return "bf16";
  }
  return "?";
}

bool parse_wformat(const std::string& s, WFormat* out) {
  if (s == "f32") *out = WFormat::F32;
  else if (s == "bf16") *out = WFormat::BF16;
  else return false;
  return true;
}

bool parse_src_dtype(const std::string& s, SrcDtype* out) {
  if (s == "F32") *out = SrcDtype::F32;
  else if (s == "F16") *out = SrcDtype::F16;
  else if (s == "BF16") *out = SrcDtype::BF16;
  else return false;
  return true;
}

size_t src_dtype_size(SrcDtype d) { return d == SrcDtype::F32 ? 4 : 2; }

size_t Weight::bytes() const { return (size_t)(rows * cols) * (format == WFormat::F32 ? 4 : 2); }

void Weight::row_f32(int64_t r, float* out) const {
  if (format == WFormat::F32) {
    std::memcpy(out, data.as<float>() + r * cols, cols * sizeof(float));
  } else {
    const uint16_t* p = data.as<uint16_t>() + r * cols;
    for (int64_t i = 0; i < cols; i++) out[i] = bf16_to_f32_scalar(p[i]);
  }
}

namespace {
float src_at(SrcDtype src, const void* data, size_t i) {
  switch (src) {
    case SrcDtype::F32: {
      float f;
      std::memcpy(&f, static_cast<const char*>(data) + i * 4, 4);
      return f;
    }
    case SrcDtype::F16: {
      uint16_t h;
      std::memcpy(&h, static_cast<const char*>(data) + i * 2, 2);
      return f16_to_f32_scalar(h);
    }
    case SrcDtype::BF16: {
      uint16_t h;
      std::memcpy(&h, static_cast<const char*>(data) + i * 2, 2);
      return bf16_to_f32_scalar(h);
    }
  }
  return 0;
}
}  // namespace

std::unique_ptr<Weight> make_weight(const std::string& name, SrcDtype src, const void* data, size_t nbytes,
                                    int64_t rows, int64_t cols, WFormat target) {
  if (rows <= 0 || cols <= 0) throw std::invalid_argument(name + ": empty or negative shape");
  // Overflow-safe: rows * cols * element size must fit and equal nbytes.
  const size_t esz = src_dtype_size(src);
  if ((size_t)cols > SIZE_MAX / esz / (size_t)rows) throw std::invalid_argument(name + ": shape too large");
  size_t count = (size_t)rows * (size_t)cols;
  if (nbytes != count * esz)
    throw std::invalid_argument(name + ": byte size does not match shape and dtype");
  auto w = std::make_unique<Weight>();
  w->name = name;
  w->format = target;
  w->rows = rows;
  w->cols = cols;
  w->data.reserve(w->bytes());
  if (target == WFormat::F32) {
    float* out = w->data.as<float>();
    for (size_t i = 0; i < count; i++) out[i] = src_at(src, data, i);
  } else if (src == SrcDtype::BF16) {
    std::memcpy(w->data.data(), data, nbytes);
  } else {
    uint16_t* out = w->data.as<uint16_t>();
    for (size_t i = 0; i < count; i++) out[i] = f32_to_bf16_scalar(src_at(src, data, i));
  }
  return w;
}

}  // namespace lowbit
