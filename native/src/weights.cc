#include "weights.h"

#include <cstdint>
#include <stdexcept>
#include <vector>

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

size_t wformat_elem_bytes(WFormat f) { return f == WFormat::F32 ? 4 : 2; }

size_t Weight::bytes() const {
  return (size_t)(matrix ? pad_to(rows, kGroupRows) : rows) * (size_t)kp * wformat_elem_bytes(format);
}

void Weight::row_f32(int64_t r, float* out) const {
  if (!matrix) {
    std::memcpy(out, data.as<float>() + r * cols, cols * sizeof(float));
    return;
  }
  const int64_t ch = chunk_elems((int64_t)wformat_elem_bytes(format));
  for (int64_t p = 0; p < cols; p++) {
    int64_t i = packed_index(r, p, kp, ch);
    out[p] = format == WFormat::F32 ? data.as<float>()[i] : bf16_to_f32_scalar(data.as<uint16_t>()[i]);
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
                                    int64_t rows, int64_t cols, WFormat target, bool matrix) {
  if (rows <= 0 || cols <= 0) throw std::invalid_argument(name + ": empty or negative shape");
  if (!matrix && (rows != 1 || target != WFormat::F32)) throw std::invalid_argument(name + ": vectors are f32 [1, n]");
  // Overflow-safe: rows * cols * element size must fit and equal nbytes.
  const size_t esz = src_dtype_size(src);
  if (rows > ((int64_t)1 << 40) || cols > ((int64_t)1 << 40) || (size_t)cols > SIZE_MAX / 8 / (size_t)rows)
    throw std::invalid_argument(name + ": shape too large");
  size_t count = (size_t)rows * (size_t)cols;
  if (nbytes != count * esz)
    throw std::invalid_argument(name + ": byte size does not match shape and dtype");
  auto w = std::make_unique<Weight>();
  w->name = name;
  w->format = target;
  w->matrix = matrix;
  w->rows = rows;
  w->cols = cols;
  const int64_t ch = matrix ? chunk_elems((int64_t)wformat_elem_bytes(target)) : 1;
  w->kp = matrix ? pad_to(cols, ch) : cols;
  w->data.reserve(w->bytes());
  std::memset(w->data.data(), 0, w->bytes());  // padding rows/columns are zeros
  if (!matrix) {
    for (size_t i = 0; i < count; i++) w->data.as<float>()[i] = src_at(src, data, i);
    return w;
  }
  // Convert one row at a time, then scatter it into the packed layout.
  std::vector<float> rowf((size_t)cols);
  std::vector<uint16_t> rowh((size_t)cols);
  for (int64_t j = 0; j < rows; j++) {
    for (int64_t p = 0; p < cols; p++) rowf[p] = src_at(src, data, (size_t)j * cols + p);
    if (target == WFormat::F32) {
      pack_matrix(rowf.data(), 1, cols, w->data.as<float>() + (j / 4) * 4 * w->kp + (j % 4) * ch, w->kp, ch);
    } else {
      if (src == SrcDtype::BF16)  // keep the checkpoint's bits
        std::memcpy(rowh.data(), static_cast<const char*>(data) + (size_t)j * cols * 2, (size_t)cols * 2);
      else
        for (int64_t p = 0; p < cols; p++) rowh[p] = f32_to_bf16_scalar(rowf[p]);
      pack_matrix(rowh.data(), 1, cols, w->data.as<uint16_t>() + (j / 4) * 4 * w->kp + (j % 4) * ch, w->kp, ch);
    }
  }
  return w;
}

}  // namespace lowbit
