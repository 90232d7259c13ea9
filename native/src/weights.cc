#include "weights.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "ggml_quants.h"
#include "kernels/ggml.h"
#include "kernels/kernels.h"
#include "quantize.h"

namespace lowbit {

const char* wformat_name(WFormat f) {
  switch (f) {
    case WFormat::F32: return "f32";
    case WFormat::BF16: return "bf16";
    case WFormat::Q8: return "q8";
    case WFormat::Q4: return "q4";
    case WFormat::Q4A8: return "q4a8";
    case WFormat::Q4_0: return "q4_0";
    case WFormat::Q8_0: return "q8_0";
    case WFormat::KQuant: return "kquant";
  }
  return "?";
}

namespace {
// "q4a8-gG[-is[-max|-<2^n>]]"
bool parse_q4a8(const std::string& s, WSpec* out) {
  WSpec w;
  w.format = WFormat::Q4A8;
  std::string rest;
  if (s.rfind("q4a8-g32", 0) == 0) w.group = 32, rest = s.substr(8);
  else if (s.rfind("q4a8-g128", 0) == 0) w.group = 128, rest = s.substr(9);
  else return false;
  if (rest.empty()) {
    *out = w;
    return true;
  }
  if (rest.rfind("-is", 0) != 0) return false;
  w.iscale = true;
  rest = rest.substr(3);
  if (rest.empty()) w.amp = kAmpHeuristic;
  else if (rest == "-max") w.amp = kAmpMax;
  else {
    if (rest[0] != '-' || rest.size() > 12 || rest.find_first_not_of("0123456789", 1) != std::string::npos || rest.size() < 2)
      return false;
    const long long v = std::stoll(rest.substr(1));
    if (v < 1 || (v & (v - 1))) return false;  // a power of two
    w.amp = (double)v;
  }
  *out = w;
  return true;
}
}  // namespace

bool parse_wformat(const std::string& s, WSpec* out) {
  if (s.rfind("q4a8-", 0) == 0) return parse_q4a8(s, out);
  if (const KQuantFormat* kq = kquant_format(s.c_str())) {
    if (s != kq->name) return false;  // the native (lower-case) name only
    WSpec w;
    w.format = WFormat::KQuant;
    w.kq = kq;
    *out = w;
    return true;
  }
  WSpec w;
  std::string base = s;
  if (base.size() > 5 && base.compare(base.size() - 5, 5, "-asym") == 0) {
    w.asym = true;
    base = base.substr(0, base.size() - 5);
  }
  if (base == "f32") w.format = WFormat::F32;
  else if (base == "bf16") w.format = WFormat::BF16;
  else if (base == "q8") w.format = WFormat::Q8;
  else if (base == "q4-g32") w = {WFormat::Q4, 32, w.asym};
  else if (base == "q4-g128") w = {WFormat::Q4, 128, w.asym};
  else if (base == "q4-ch") w = {WFormat::Q4, 0, w.asym};
  else if (base == "q4_0") w.format = WFormat::Q4_0;
  else if (base == "q8_0") w.format = WFormat::Q8_0;
  else return false;
  if (w.asym && w.format != WFormat::Q4) return false;
  *out = w;
  return true;
}

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
GgmlType ggml_type_of(WFormat f) { return f == WFormat::Q4_0 ? GgmlType::Q4_0 : GgmlType::Q8_0; }
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

// Bytes per packed element for the float formats; 1 for q8. (q4 packs two per byte.)
size_t wformat_elem_bytes(WFormat f) { return f == WFormat::F32 ? 4 : f == WFormat::BF16 ? 2 : 1; }

size_t Weight::bytes() const {
  const size_t prow = (size_t)(matrix ? pad_to(rows, kGroupRows) : rows);
  switch (format) {
    case WFormat::Q8: return prow * kp + (size_t)rows * 8;
    case WFormat::Q4: return prow * kp / 2 + (size_t)rows * ngroups() * 8;
    case WFormat::Q4A8: return prow * kp / 2 + prow * ngroups() * 4;
    case WFormat::Q4_0:
    case WFormat::Q8_0:  // codes + f16 scales of whole 8-row groups
      return (size_t)pad_to(rows, kGgmlRows) * (size_t)(kp / kQK) * (size_t)ggml_block_bytes(ggml_type_of(format));
    case WFormat::KQuant: return (size_t)rows * (size_t)kq_row_bytes();  // the file's bytes
    default: return prow * (size_t)kp * wformat_elem_bytes(format);
  }
}

void Weight::row_f32(int64_t r, float* out) const {
  if (!matrix) {
    std::memcpy(out, data.as<float>() + r * cols, cols * sizeof(float));
    return;
  }
  if (format == WFormat::KQuant) {  // ggml's dequantize_row_<type>
    kq->dequantize_row(data.as<uint8_t>() + r * kq_row_bytes(), cols, out);
    return;
  }
  if (ggml()) {  // w = fp32(d) * code, as ggml's dequantize_row_q4_0 / _q8_0 (token_embd of GGUF files)
    const int64_t nb = cols / kQK, cb = ggml_code_bytes(ggml_type_of(format));
    const uint8_t* codes = data.as<uint8_t>();
    for (int64_t b = 0; b < nb; b++) {
      const float d = f16_to_f32_scalar(scales.as<uint16_t>()[ggml_scale_index(r, b, nb)]);
      for (int64_t t = 0; t < cb; t++) {
        const uint8_t byte = codes[ggml_code_offset(r, b, t, nb, cb)];
        if (format == WFormat::Q8_0) {
          out[b * kQK + t] = (float)(int8_t)byte * d;
        } else {
          out[b * kQK + t] = (float)((byte & 15) - 8) * d;
          out[b * kQK + t + 16] = (float)((byte >> 4) - 8) * d;
        }
      }
    }
    return;
  }
  if (format != WFormat::F32 && format != WFormat::BF16) throw std::logic_error(name + ": row lookup of a quantized matrix");
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
    case SrcDtype::Q4_0:
    case SrcDtype::Q8_0: return ggml_dequantize_at(ggml_type_of(src), static_cast<const uint8_t*>(data), i);
    case SrcDtype::KQuant: break;  // make_weight copies K-quant blocks as they are
  }
  return 0;
}

// Q4_0 / Q8_0 matrix: raw GGUF blocks of the same type are repacked bit for
// bit; any other source is converted to f32 and quantized with ggml's
// reference quantizer (so an f32/f16/bf16 checkpoint loaded as q4_0 equals the
// same checkpoint converted to a GGUF Q4_0 file).
void fill_ggml(Weight& w, SrcDtype src, const void* data) {
  const GgmlType t = ggml_type_of(w.format);
  const int64_t nb = w.cols / kQK, bb = ggml_block_bytes(t);
  const size_t n8 = (size_t)pad_to(w.rows, kGgmlRows);  // padding rows: zero codes and scales
  w.data.reserve(n8 * nb * ggml_code_bytes(t));
  std::memset(w.data.data(), 0, n8 * nb * ggml_code_bytes(t));
  w.scales.reserve(n8 * nb * 2);
  std::memset(w.scales.data(), 0, n8 * nb * 2);
  const bool raw = src_is_block(src) && ggml_type_of(src) == t;
  std::vector<float> rowf(raw ? 0 : (size_t)w.cols);
  std::vector<uint8_t> blocks(raw ? 0 : (size_t)(nb * bb));
  for (int64_t j = 0; j < w.rows; j++) {
    const uint8_t* row = static_cast<const uint8_t*>(data) + (size_t)j * nb * bb;
    if (!raw) {
      for (int64_t p = 0; p < w.cols; p++) rowf[p] = src_at(src, data, (size_t)j * w.cols + p);
      ggml_quantize_row(t, rowf.data(), w.cols, blocks.data());
      row = blocks.data();
    }
    ggml_pack_row(t, row, j, nb, w.data.as<uint8_t>(), w.scales.as<uint16_t>());
  }
}
// Per (row, group) results of the q4a8 row quantization, kept until the
// amplifier is known: scales, sums of |q - 8|, and sums of (q-8)^2, w (q-8), w^2
// for the squared weight error.
struct Q4A8Rows {
  std::vector<float> s, o;
  std::vector<int32_t> l1;
  std::vector<double> qq, wq, ww;
  void resize(int64_t n) {
    s.assign(n, 0.0f);
    o.assign(n, 0.0f);
    l1.assign(n, 0);
    qq.assign(n, 0.0);
    wq.assign(n, 0.0);
    ww.assign(n, 0.0);
  }
};

// Moves q4a8 scales into the row-group layout: float scales, or integer
// scales round(s * alpha) with the amplifier chosen for this matrix.
void finish_q4a8(Weight& w, const WSpec& target, const Q4A8Rows& r) {
  const int64_t ng = w.ngroups(), prow = pad_to(w.rows, kGroupRows);
  const std::vector<float>& s = r.s;
  const std::vector<int32_t>& l1 = r.l1;
  // squared error of a group dequantized with scale c: c^2 sum q^2 - 2 c sum w q + sum w^2
  auto sse = [&](size_t i, double c) { return std::max(0.0, c * c * r.qq[i] - 2 * c * r.wq[i] + r.ww[i]); };
  w.sse_float = 0;
  for (size_t i = 0; i < s.size(); i++) w.sse_float += sse(i, s[i]);
  if (!target.iscale) {
    w.scales.reserve(prow * ng * 4);
    std::memset(w.scales.data(), 0, prow * ng * 4);
    for (int64_t j = 0; j < w.rows; j++)
      for (int64_t g = 0; g < ng; g++) w.scales.as<float>()[q4a8_scale_index(j, g, ng)] = s[j * ng + g];
    return;
  }
  w.amplifier = choose_amplifier(s.data(), l1.data(), w.rows, ng, target.amp, &w.is_bound);
  if (w.is_bound > 2147483647)  // scales too large (or infinite) for any amplifier in [2^-30, 2^40]
    throw std::invalid_argument(w.name + ": w4a8 integer scales cannot hold these weights (group scales too large or " +
                                "not finite for int32 sums); use float scales (" + (w.group == 32 ? "q4a8-g32" : "q4a8-g128") + ")");
  w.iscales.reserve(prow * ng * 4);
  std::memset(w.iscales.data(), 0, prow * ng * 4);
  w.sse_int = 0;
  for (int64_t j = 0; j < w.rows; j++)
    for (int64_t g = 0; g < ng; g++) {
      const int32_t si = (int32_t)std::nearbyint(s[j * ng + g] * w.amplifier);
      w.iscales.as<int32_t>()[q4a8_scale_index(j, g, ng)] = si;
      w.sse_int += sse(j * ng + g, si / w.amplifier);
    }
}

}  // namespace

std::unique_ptr<Weight> make_weight(const std::string& name, SrcDtype src, const void* data, size_t nbytes,
                                    int64_t rows, int64_t cols, WSpec target, bool matrix, const Q4Grid* grid) {
  if (rows <= 0 || cols <= 0) throw std::invalid_argument(name + ": empty or negative shape");
  if (!matrix && (rows != 1 || target.format != WFormat::F32)) throw std::invalid_argument(name + ": vectors are f32 [1, n]");
  if ((src == SrcDtype::KQuant) != (target.format == WFormat::KQuant) || (src == SrcDtype::KQuant && !target.kq))
    throw std::invalid_argument(name + ": K-quant blocks load only into their own format (and that format only from them)");
  if (target.format == WFormat::KQuant) {  // the GGUF blocks, unchanged
    const KQuantFormat& f = *target.kq;
    if (cols % f.block_elems)
      throw std::invalid_argument(name + ": " + f.ggml_name + " needs the input dimension (cols = " + std::to_string(cols) +
                                  ") to be a multiple of " + std::to_string(f.block_elems));
    if (rows > ((int64_t)1 << 40) || cols > ((int64_t)1 << 40) || (size_t)(cols / f.block_elems) > SIZE_MAX / 256 / (size_t)rows)
      throw std::invalid_argument(name + ": shape too large");
    auto w = std::make_unique<Weight>();
    w->name = name;
    w->format = WFormat::KQuant;
    w->kq = &f;
    w->rows = rows;
    w->cols = cols;
    w->kp = cols;
    const size_t n = (size_t)rows * (size_t)w->kq_row_bytes();
    if (nbytes != n) throw std::invalid_argument(name + ": byte size does not match shape and dtype");
    w->data.reserve(n);
    std::memcpy(w->data.data(), data, n);
    return w;
  }
  // Overflow-safe: rows * cols * element size must fit and equal nbytes.
  if (nbytes != src_bytes(name, src, rows, cols)) throw std::invalid_argument(name + ": byte size does not match shape and dtype");
  const size_t count = (size_t)rows * (size_t)cols;
  const bool ggml = target.format == WFormat::Q4_0 || target.format == WFormat::Q8_0;
  if (ggml && cols % kQK)
    throw std::invalid_argument(name + ": " + wformat_name(target.format) + " needs the input dimension (cols = " +
                                std::to_string(cols) + ") to be a multiple of 32 (GGUF blocks of 32)");
  auto w = std::make_unique<Weight>();
  w->name = name;
  w->format = target.format;
  w->matrix = matrix;
  w->rows = rows;
  w->cols = cols;
  const WFormat f = target.format;
  const bool int4 = f == WFormat::Q4 || f == WFormat::Q4A8;
  const int64_t ch = !matrix ? 1 : int4 || ggml ? 32 : chunk_elems((int64_t)wformat_elem_bytes(f));
  w->kp = matrix ? pad_to(cols, ch) : cols;
  // w8a8 kernels sum (a + 128) * w in int32: |sum| <= 255 * 127 * kp needs kp <= 65536
  if (f == WFormat::Q8 && w->kp > 65536) throw std::invalid_argument(name + ": q8 needs cols <= 65536 (int32 sums)");
  if (f == WFormat::Q4A8 && (target.group < 32 || target.group > 128 || target.asym))
    throw std::invalid_argument(name + ": w4a8 needs symmetric groups of 32..128");  // int16 sums in the kernels
  if (int4) {
    if (target.group % 32) throw std::invalid_argument(name + ": int4 group size must be a multiple of 32");
    // k is padded with zero columns to whole groups (their activations are zero too).
    if (target.group) w->kp = pad_to(cols, target.group);
    w->group = target.group ? target.group : w->kp;
    w->asym = target.asym;
    if (w->kp % w->group)
      throw std::invalid_argument(name + ": group size " + std::to_string(w->group) + " does not divide the input dimension " +
                                  std::to_string(cols));
  }
  if (grid && (!int4 || !matrix || grid->n != (size_t)rows * (size_t)w->ngroups()))
    throw std::invalid_argument(name + ": a given int4 grid needs a q4 / q4a8 matrix and rows * groups scales");
  if (ggml) {
    fill_ggml(*w, src, data);
    return w;
  }
  w->data.reserve(w->bytes());
  std::memset(w->data.data(), 0, w->bytes());  // padding rows/columns are zeros
  if (!matrix) {
    for (size_t i = 0; i < count; i++) w->data.as<float>()[i] = src_at(src, data, i);
    return w;
  }
  if (f == WFormat::Q8) {
    w->scales.reserve(rows * 4);
    w->wsum.reserve(rows * 4);
  } else if (f == WFormat::Q4) {
    w->scales.reserve(rows * w->ngroups() * 4);
    w->offsets.reserve(rows * w->ngroups() * 4);
  }
  // q4a8: row-major float scales and per-group sums of |q - 8| until the
  // amplifier is known; then moved into the row-group layout of kernels.h.
  Q4A8Rows q4a8;
  if (f == WFormat::Q4A8) q4a8.resize(rows * w->ngroups());
  // Convert one row at a time, then quantize and/or scatter it into the packed layout.
  std::vector<float> rowf((size_t)cols);
  std::vector<uint16_t> rowh((size_t)cols);
  std::vector<int8_t> rowq((size_t)w->kp);
  std::vector<uint8_t> rown((size_t)w->kp);
  const int64_t nch = w->kp / 32;
  for (int64_t j = 0; j < rows; j++) {
    for (int64_t p = 0; p < cols; p++) rowf[p] = src_at(src, data, (size_t)j * cols + p);
    switch (f) {
      case WFormat::Q4_0:
      case WFormat::Q8_0: break;  // fill_ggml above
      case WFormat::KQuant: break;  // copied above
      case WFormat::F32:
        pack_matrix(rowf.data(), 1, cols, w->data.as<float>() + (j / 4) * 4 * w->kp + (j % 4) * ch, w->kp, ch);
        break;
      case WFormat::BF16:
        if (src == SrcDtype::BF16)  // keep the checkpoint's bits
          std::memcpy(rowh.data(), static_cast<const char*>(data) + (size_t)j * cols * 2, (size_t)cols * 2);
        else
          for (int64_t p = 0; p < cols; p++) rowh[p] = f32_to_bf16_scalar(rowf[p]);
        pack_matrix(rowh.data(), 1, cols, w->data.as<uint16_t>() + (j / 4) * 4 * w->kp + (j % 4) * ch, w->kp, ch);
        break;
      case WFormat::Q8:
        quantize_row_q8(rowf.data(), cols, w->kp, rowq.data(), w->scales.as<float>() + j, w->wsum.as<int32_t>() + j);
        pack_matrix(rowq.data(), 1, w->kp, w->data.as<int8_t>() + (j / 4) * 4 * w->kp + (j % 4) * ch, w->kp, ch);
        break;
      case WFormat::Q4:
      case WFormat::Q4A8: {
        const int64_t ng = w->ngroups();
        float* s = f == WFormat::Q4 ? w->scales.as<float>() + j * ng : &q4a8.s[j * ng];
        float* o = f == WFormat::Q4 ? w->offsets.as<float>() + j * ng : &q4a8.o[j * ng];
        if (grid) {
          std::copy(grid->s + j * ng, grid->s + (j + 1) * ng, s);
          std::copy(grid->o + j * ng, grid->o + (j + 1) * ng, o);
          quantize_row_q4_grid(rowf.data(), cols, w->kp, w->group, w->asym, s, o, rown.data());
        } else {
          quantize_row_q4(rowf.data(), cols, w->kp, w->group, w->asym, rown.data(), s, o);
        }
        if (f == WFormat::Q4A8) {
          for (int64_t p = 0; p < w->kp; p++) {
            const int64_t gi = j * ng + p / w->group;
            const double q = (int)rown[p] - 8, x = p < cols ? rowf[p] : 0.0;
            q4a8.l1[gi] += (int32_t)std::fabs(q);
            q4a8.qq[gi] += q * q;
            q4a8.wq[gi] += x * q;
            q4a8.ww[gi] += x * x;
          }
        }
        uint8_t* base = w->data.as<uint8_t>() + (j / 4) * nch * 64 + (j % 4) * 16;
        for (int64_t c = 0; c < nch; c++)
          for (int64_t b = 0; b < 16; b++) base[c * 64 + b] = (uint8_t)(rown[c * 32 + b] | (rown[c * 32 + b + 16] << 4));
        break;
      }
    }
  }
  if (f == WFormat::Q4A8) finish_q4a8(*w, target, q4a8);
  return w;
}

std::unique_ptr<Weight> make_weight_checked(const std::string& name, const std::string& dtype, const void* data,
                                            size_t nbytes, int64_t rows, int64_t cols, const std::string& format,
                                            const double* act_scale, const Q4Grid* grid) {
  SrcDtype src;
  const KQuantFormat* kq_src = kquant_format(dtype.c_str());
  if (kq_src && dtype == kq_src->ggml_name) src = SrcDtype::KQuant;  // GGUF type names ("Q4_K") only
  else if (!parse_src_dtype(dtype, &src)) throw WeightArgTypeError("unsupported dtype");
  WSpec fmt;
  const bool matrix = format != "vector";  // "vector": a plain f32 [1, n] (norm weights)
  if (matrix && !parse_wformat(format, &fmt)) throw WeightArgTypeError("unknown weight format");
  if (src == SrcDtype::KQuant && fmt.kq != kq_src)
    throw std::invalid_argument(name + ": " + dtype + " blocks load only into format " + kq_src->name);
  auto w = make_weight(name, src, data, nbytes, rows, cols, fmt, matrix, grid);
  if (act_scale) {
    const double sc = *act_scale;
    if (!(sc > 0) || !std::isfinite(sc) || sc > 3.0e38 || !matrix || fmt.format != WFormat::Q8)
      throw std::invalid_argument(name + ": actScale must be a positive number and needs format q8");
    w->act_scale = (float)sc;
  }
  return w;
}

}  // namespace lowbit
