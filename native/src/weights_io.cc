#include "weights_io.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "kernels/kernels.h"

namespace lowbit {

namespace {

// The storage format named `name` (as wformat_name() spells it). WFormat has
// int as its underlying type, so every value below is a valid enumerator to ask.
bool stored_format(const std::string& name, WFormat* out) {
  for (int i = 0; i < 256; i++)
    if (std::strcmp(wformat_name((WFormat)i), "?") != 0 && name == wformat_name((WFormat)i)) {
      *out = (WFormat)i;
      return true;
    }
  return false;
}

// Bounds on shapes read from a file, far above any real model, that keep every
// size computation below well inside 64 bits and the template weight small.
constexpr int64_t kMaxRows = (int64_t)1 << 31;
constexpr int64_t kMaxCols = (int64_t)1 << 20;

// max over rows of 127 * sum_p |si[j, g(p)]| * |q[j, p] - 8| (the bound of quantize.h)
int64_t q4a8_worst_case(const Weight& w) {
  const int64_t ng = w.ngroups();
  int64_t worst = 0;
  for (int64_t j = 0; j < w.rows; j++) {
    int64_t t = 0;
    for (int64_t p = 0; p < w.kp; p++) {
      const int q = q4_code_at(w.data.as<uint8_t>(), j, p, w.kp);
      t += std::llabs((int64_t)w.iscales.as<int32_t>()[q4a8_scale_index(j, p / w.group, ng)]) * std::abs(q - 8);
    }
    worst = std::max(worst, 127 * t);
  }
  return worst;
}

// q8 from a file: codes in the quantizer's [-127, 127] and wsum[j] the sum of
// row j's codes, which the VNNI kernels subtract (128 * wsum) from their u8 x s8
// dot products; a corrupt wsum overflows int32 there (found by fuzzing).
void check_q8_codes(const Weight& w) {
  const int64_t ch = chunk_elems(1);
  for (int64_t j = 0; j < w.rows; j++) {
    int64_t t = 0;
    for (int64_t p = 0; p < w.kp; p++) {
      const int8_t q = w.data.as<int8_t>()[packed_index(j, p, w.kp, ch)];
      if (q == -128) throw std::invalid_argument(w.name + ": q8 code -128 at row " + std::to_string(j) + " (codes are in [-127, 127])");
      t += q;
    }
    if (t != w.wsum.as<int32_t>()[j])
      throw std::invalid_argument(w.name + ".wsum[" + std::to_string(j) + "] = " + std::to_string(w.wsum.as<int32_t>()[j]) +
                                  " is not the sum of the row's codes (" + std::to_string(t) + ")");
  }
}

}  // namespace

WeightMeta weight_meta(const Weight& w) {
  WeightMeta m;
  m.format = w.matrix ? wformat_name(w.format) : "vector";
  m.rows = w.rows;
  m.cols = w.cols;
  m.kp = w.kp;
  m.group = w.group;
  m.asym = w.asym;
  m.act_scale = w.act_scale;
  m.amplifier = w.amplifier;
  return m;
}

std::vector<WeightBuffer> weight_buffers(const Weight& w) {
  // Packed matrices pad rows to whole groups of kGroupRows (kernels/kernels.h).
  const size_t prow = (size_t)(w.matrix ? pad_to(w.rows, kGroupRows) : w.rows);
  const size_t rows = (size_t)w.rows, kp = (size_t)w.kp, ng = (size_t)w.ngroups();
  switch (w.format) {
    case WFormat::F32: return {{"data", "F32", prow * kp * 4, &Weight::data}};
    case WFormat::BF16: return {{"data", "BF16", prow * kp * 2, &Weight::data}};
    case WFormat::Q8:
      return {{"data", "I8", prow * kp, &Weight::data},
              {"scales", "F32", rows * 4, &Weight::scales},
              {"wsum", "I32", rows * 4, &Weight::wsum}};
    case WFormat::Q4:
      return {{"data", "U8", prow * kp / 2, &Weight::data},
              {"scales", "F32", rows * ng * 4, &Weight::scales},
              {"offsets", "F32", rows * ng * 4, &Weight::offsets}};
    case WFormat::Q4A8:  // scales in the row-group layout (padded rows): float, or int32 with an amplifier
      if (w.amplifier > 0) return {{"data", "U8", prow * kp / 2, &Weight::data}, {"iscales", "I32", prow * ng * 4, &Weight::iscales}};
      return {{"data", "U8", prow * kp / 2, &Weight::data}, {"scales", "F32", prow * ng * 4, &Weight::scales}};
    case WFormat::Q4_0:
    case WFormat::Q8_0: {  // kernels/ggml.h: codes of whole 8-row groups, f16 block scales
      const size_t n8 = (size_t)pad_to(w.rows, kGgmlRows), nb = (size_t)(w.cols / kQK);
      if (w.format == WFormat::Q4_0) return {{"data", "U8", n8 * nb * 16, &Weight::data}, {"scales", "F16", n8 * nb * 2, &Weight::scales}};
      return {{"data", "I8", n8 * nb * 32, &Weight::data}, {"scales", "F16", n8 * nb * 2, &Weight::scales}};
    }
    case WFormat::KQuant: break;  // not saved (a GGUF file already holds these blocks)
  }
  throw std::invalid_argument(w.name + ": weight format " + std::to_string((int)w.format) +
                              " declares no buffers for save/load (native/src/weights_io.cc)");
}

WeightMeta format_layout(const std::string& format, int64_t rows, int64_t cols) {
  WSpec spec;
  const bool matrix = format != "vector";
  if (matrix && !parse_wformat(format, &spec)) throw std::invalid_argument("unknown weight format '" + format + "'");
  if (rows < 1 || rows > kMaxRows || cols < 1 || cols > kMaxCols || (!matrix && rows != 1))
    throw std::invalid_argument(format + ": shape [" + std::to_string(rows) + ", " + std::to_string(cols) + "] out of range");
  std::vector<float> zeros((size_t)cols, 0.0f);
  WeightMeta m = weight_meta(*make_weight("layout", SrcDtype::F32, zeros.data(), zeros.size() * 4, 1, cols, spec, matrix));
  m.rows = rows;
  return m;
}

std::vector<WeightBuffer> check_weight_meta(const std::string& name, const WeightMeta& m) {
  auto fail = [&](const std::string& why) { return std::invalid_argument(name + ": " + why); };
  const bool matrix = m.format != "vector";
  WSpec spec;
  if (matrix && !stored_format(m.format, &spec.format)) throw fail("unknown weight format '" + m.format + "'");
  if (m.rows < 1 || m.rows > kMaxRows || m.cols < 1 || m.cols > kMaxCols)
    throw fail("shape [" + std::to_string(m.rows) + ", " + std::to_string(m.cols) + "] out of range");
  if (!matrix && m.rows != 1) throw fail("a vector has 1 row, not " + std::to_string(m.rows));
  if (spec.format == WFormat::Q4) {
    if (m.group < 32 || m.group > kMaxCols || m.group % 32)
      throw fail("int4 group " + std::to_string(m.group) + " is not a multiple of 32 in [32, " + std::to_string(kMaxCols) + "]");
    spec.group = m.group;
    spec.asym = m.asym;
  } else if (spec.format == WFormat::Q4A8) {
    if (m.group < 32 || m.group > 128 || m.group % 32 || m.asym)
      throw fail("w4a8 group " + std::to_string(m.group) + " must be 32, 64, 96 or 128, symmetric");
    spec.group = m.group;
    int e = 0;
    if (m.amplifier != 0 && (!std::isfinite(m.amplifier) || std::frexp(m.amplifier, &e) != 0.5 || e < -29 || e > 41))
      throw fail("amplifier must be 0 or a power of two in [2^-30, 2^40]");
    spec.iscale = m.amplifier > 0;
    spec.amp = m.amplifier;
  } else if (m.group != 0 || m.asym) {
    throw fail("group / asym are only valid for q4 weights");
  }
  if (m.amplifier != 0 && spec.format != WFormat::Q4A8) throw fail("amplifier is only valid for q4a8 weights");
  if (!std::isfinite(m.act_scale) || m.act_scale < 0 || (m.act_scale > 0 && spec.format != WFormat::Q8))
    throw fail("act_scale must be 0, or a positive finite number for q8 weights");

  // kp and group exactly as make_weight lays this format out for `cols`: a
  // one-row template built by make_weight itself, so the rules live in one place.
  std::vector<float> zeros((size_t)m.cols, 0.0f);
  std::unique_ptr<Weight> t = make_weight(name, SrcDtype::F32, zeros.data(), zeros.size() * 4, 1, m.cols, spec, matrix);
  if (m.kp != t->kp) throw fail("kp " + std::to_string(m.kp) + " does not match the layout (" + std::to_string(t->kp) + ")");
  if (m.group != t->group) throw fail("group " + std::to_string(m.group) + " does not match the layout (" + std::to_string(t->group) + ")");

  Weight w;  // the described weight, without storage
  w.name = name;
  w.format = t->format;
  w.matrix = matrix;
  w.rows = m.rows;
  w.cols = m.cols;
  w.kp = t->kp;
  w.group = t->group;
  w.asym = t->asym;
  w.amplifier = t->amplifier;
  std::vector<WeightBuffer> bufs = weight_buffers(w);
  size_t total = 0;
  for (const WeightBuffer& b : bufs) total += b.bytes;
  if (total != w.bytes())  // a format whose declaration above is incomplete
    throw fail(std::string("the buffers declared for format ") + wformat_name(w.format) + " (" + std::to_string(total) +
               " bytes) do not add up to its size (" + std::to_string(w.bytes()) + "); fix native/src/weights_io.cc");
  return bufs;
}

std::unique_ptr<Weight> import_weight(const std::string& name, const WeightMeta& m, const std::vector<RawBuffer>& bufs) {
  std::vector<WeightBuffer> want = check_weight_meta(name, m);
  if (bufs.size() != want.size())
    throw std::invalid_argument(name + ": " + std::to_string(bufs.size()) + " buffers given, format " + m.format + " has " +
                                std::to_string(want.size()));
  for (size_t i = 0; i < want.size(); i++)
    if (bufs[i].bytes != want[i].bytes)
      throw std::invalid_argument(name + "." + want[i].name + ": " + std::to_string(bufs[i].bytes) + " bytes, the layout of " +
                                  m.format + " [" + std::to_string(m.rows) + ", " + std::to_string(m.cols) + "] needs " +
                                  std::to_string(want[i].bytes));
  auto w = std::make_unique<Weight>();
  w->name = name;
  w->matrix = m.format != "vector";
  if (w->matrix) stored_format(m.format, &w->format);  // known: checked above
  w->rows = m.rows;
  w->cols = m.cols;
  w->kp = m.kp;
  w->group = m.group;
  w->asym = m.asym;
  w->act_scale = m.act_scale;
  w->amplifier = m.amplifier;
  for (size_t i = 0; i < want.size(); i++) {
    AlignedBuf& b = (*w).*(want[i].member);
    b.reserve(want[i].bytes);
    std::memcpy(b.data(), bufs[i].data, want[i].bytes);
  }
  if (w->format == WFormat::Q8) check_q8_codes(*w);
  if (w->format == WFormat::Q4A8 && w->amplifier > 0) {
    // Integer scales from a file: recheck the int32 bound the kernels rely on.
    w->is_bound = q4a8_worst_case(*w);
    if (w->is_bound > 2147483647)
      throw std::invalid_argument(name + ": integer scales could overflow int32 (worst case " + std::to_string(w->is_bound) + ")");
  }
  return w;
}

}  // namespace lowbit
