#include "weights.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "formats/q8.h"
#include "ggml_quants.h"
#include "kernels/ggml.h"
#include "kernels/kernels.h"

namespace lowbit {

bool parse_src_dtype(const std::string& s, SrcDtype* out) {
  if (s == "F32") *out = SrcDtype::F32;
  else if (s == "F16") *out = SrcDtype::F16;
  else if (s == "BF16") *out = SrcDtype::BF16;
  else if (s == "Q4_0") *out = SrcDtype::Q4_0;
  else if (s == "Q8_0") *out = SrcDtype::Q8_0;
  else return false;
  return true;
}

namespace {
bool src_is_block(SrcDtype d) { return d == SrcDtype::Q4_0 || d == SrcDtype::Q8_0; }
GgmlType ggml_type_of(SrcDtype d) { return d == SrcDtype::Q4_0 ? GgmlType::Q4_0 : GgmlType::Q8_0; }
}  // namespace

size_t src_bytes(const std::string& name, SrcDtype d, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) throw std::invalid_argument(name + ": empty or negative shape");
  if (rows > ((int64_t)1 << 40) || cols > ((int64_t)1 << 40) || (size_t)cols > SIZE_MAX / 8 / (size_t)rows)
    throw std::invalid_argument(name + ": shape too large");
  const size_t count = (size_t)rows * (size_t)cols;
  if (!src_is_block(d)) return count * (d == SrcDtype::F32 ? 4 : 2);
  if (cols % kQK)
    throw std::invalid_argument(name + ": " + (d == SrcDtype::Q4_0 ? "Q4_0" : "Q8_0") + " data needs the row length (cols = " +
                                std::to_string(cols) + ") to be a multiple of 32 (GGUF blocks of 32)");
  return count / kQK * (size_t)ggml_block_bytes(ggml_type_of(d));
}

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
    case SrcDtype::Q4_0:
    case SrcDtype::Q8_0: return ggml_dequantize_at(ggml_type_of(src), static_cast<const uint8_t*>(data), i);
    case SrcDtype::KQuant: break;  // K-quant blocks load only into their own format, as they are
  }
  return 0;
}

void src_row_f32(SrcDtype src, const void* data, int64_t j, int64_t cols, float* out) {
  for (int64_t p = 0; p < cols; p++) out[p] = src_at(src, data, (size_t)j * cols + p);
}

const char* plain_check_spec(const WSpec& s) {
  return s.group || s.asym || s.iscale ? "this weight format takes no group, asym or amplifier" : nullptr;
}

size_t Weight::bytes() const { return fmt->bytes(*this); }

void Weight::row_f32(int64_t r, float* out) const {
  if (!fmt->row_f32) throw std::logic_error(name + ": row lookup of a quantized matrix");
  fmt->row_f32(*this, r, out);
}

bool int8_per_token_act(const Weight& w) {
  return (w.format == WFormat::Q8 && as_q8(w).act_scale == 0) || w.format == WFormat::Q4A8;
}

bool shares_activations(const Weight& a, const Weight& b) {
  return a.format == b.format && (!a.fmt->same_act || a.fmt->same_act(a, b));
}

std::unique_ptr<Weight> layout_weight(const std::string& name, const WSpec& spec, int64_t rows, int64_t cols) {
  const WeightFormat& f = spec.format ? *spec.format : weight_format(WFormat::F32);
  auto w = f.create();
  w->name = name;
  w->fmt = &f;
  w->format = f.id;
  w->matrix = spec.matrix;
  w->rows = rows;
  w->cols = cols;
  f.layout(*w, spec);
  return w;
}

std::unique_ptr<Weight> make_weight(const std::string& name, SrcDtype src, const void* data, size_t nbytes,
                                    int64_t rows, int64_t cols, const WSpec& target, bool source_outlives) {
  const WeightFormat& f = target.format ? *target.format : weight_format(WFormat::F32);
  if (rows <= 0 || cols <= 0) throw std::invalid_argument(name + ": empty or negative shape");
  if (!target.matrix && (rows != 1 || f.id != WFormat::F32)) throw std::invalid_argument(name + ": vectors are f32 [1, n]");
  if ((src == SrcDtype::KQuant) != (f.id == WFormat::KQuant))
    throw std::invalid_argument(name + ": K-quant blocks load only into their own format (and that format only from them)");
  // Overflow-safe: rows * cols * element size must fit and equal nbytes (K-quant
  // blocks: the format's own bytes, once its layout has checked the shape).
  if (src != SrcDtype::KQuant && nbytes != src_bytes(name, src, rows, cols))
    throw std::invalid_argument(name + ": byte size does not match shape and dtype");
  if (target.grid && f.id != WFormat::Q4 && f.id != WFormat::Q4A8)
    throw std::invalid_argument(name + ": a given int4 grid needs a q4 / q4a8 matrix and rows * groups scales");
  auto w = layout_weight(name, target, rows, cols);  // kp and the format's parameters; its shape checks
  if (src == SrcDtype::KQuant && nbytes != (size_t)rows * (size_t)(cols / f.kq->block_elems * f.kq->block_bytes))
    throw std::invalid_argument(name + ": byte size does not match shape and dtype");
  if (source_outlives && f.stores_source) w->data.borrow(data, w->bytes());
  else f.fill(*w, target, src, data);
  return w;
}

std::unique_ptr<Weight> make_weight_checked(const std::string& name, const std::string& dtype, const void* data,
                                            size_t nbytes, int64_t rows, int64_t cols, const WSpec& spec,
                                            const double* act_scale, bool source_outlives) {
  SrcDtype src;
  const KQuantFormat* kq_src = kquant_format(dtype.c_str());
  if (kq_src && dtype == kq_src->ggml_name) src = SrcDtype::KQuant;  // GGUF type names ("Q4_K") only
  else if (!parse_src_dtype(dtype, &src)) throw WeightArgTypeError("unsupported dtype");
  const WeightFormat& f = spec.format ? *spec.format : weight_format(WFormat::F32);
  if (const char* why = f.check_spec ? f.check_spec(spec) : nullptr) throw WeightArgTypeError(why);
  if (src == SrcDtype::KQuant && f.kq != kq_src)
    throw std::invalid_argument(name + ": " + dtype + " blocks load only into format " + kq_src->name);
  if (act_scale) {
    const double sc = *act_scale;
    if (!(sc > 0) || !std::isfinite(sc) || sc > 3.0e38 || !spec.matrix || !f.static_act_scale)
      throw std::invalid_argument(name + ": actScale must be a positive number and needs format q8");
  }
  WSpec t = spec;
  if (act_scale) t.act_scale = (float)*act_scale;
  return make_weight(name, src, data, nbytes, rows, cols, t, source_outlives);
}

}  // namespace lowbit
