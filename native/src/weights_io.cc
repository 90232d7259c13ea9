#include "weights_io.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace lowbit {

void plain_meta_spec(const WeightMeta& m, WSpec&) {
  if (m.group != 0 || m.asym) throw std::invalid_argument("group / asym are only valid for q4 weights");
  if (m.amplifier != 0) throw std::invalid_argument("amplifier is only valid for q4a8 weights");
}

WeightMeta weight_meta(const Weight& w) {
  WeightMeta m;
  m.format = w.matrix ? w.fmt->name : "vector";
  m.rows = w.rows;
  m.cols = w.cols;
  m.kp = w.kp;
  if (w.fmt->meta) w.fmt->meta(w, m);
  return m;
}

std::vector<WeightBuffer> weight_buffers(const Weight& w) {
  if (!w.fmt->buffers)
    throw std::invalid_argument(w.name + ": weight format " + w.fmt->name + " declares no buffers for save/load (its module's row in formats/registry.cc)");
  return w.fmt->buffers(const_cast<Weight&>(w));  // the pointers are only read through a const Weight
}

WeightMeta format_layout(const WSpec& spec, int64_t rows, int64_t cols) {
  const std::string name = spec.matrix ? (spec.format ? spec.format->name : "f32") : "vector";
  if (rows < 1 || rows > kMaxSavedRows || cols < 1 || cols > kMaxSavedCols || (!spec.matrix && rows != 1))
    throw std::invalid_argument(name + ": shape [" + std::to_string(rows) + ", " + std::to_string(cols) + "] out of range");
  std::vector<float> zeros((size_t)cols, 0.0f);
  WeightMeta m = weight_meta(*make_weight("layout", SrcDtype::F32, zeros.data(), zeros.size() * 4, 1, cols, spec));
  m.rows = rows;
  return m;
}

WSpec spec_of_meta(const WeightMeta& m) {
  WSpec spec;
  spec.matrix = m.format != "vector";
  spec.format = spec.matrix ? weight_format(m.format) : &weight_format(WFormat::F32);
  if (!spec.format) throw std::invalid_argument("unknown weight format '" + m.format + "'");
  if (m.rows < 1 || m.rows > kMaxSavedRows || m.cols < 1 || m.cols > kMaxSavedCols)
    throw std::invalid_argument("shape [" + std::to_string(m.rows) + ", " + std::to_string(m.cols) + "] out of range");
  if (!spec.matrix && m.rows != 1) throw std::invalid_argument("a vector has 1 row, not " + std::to_string(m.rows));
  spec.format->meta_spec(m, spec);
  if (!std::isfinite(m.act_scale) || m.act_scale < 0 || (m.act_scale > 0 && !spec.format->static_act_scale))
    throw std::invalid_argument("act_scale must be 0, or a positive finite number for q8 weights");
  return spec;
}

std::vector<WeightBuffer> check_weight_meta(const std::string& name, const WeightMeta& m) {
  auto fail = [&](const std::string& why) { return std::invalid_argument(name + ": " + why); };
  WSpec spec;
  try {
    spec = spec_of_meta(m);
  } catch (const std::invalid_argument& e) {
    throw fail(e.what());
  }
  // kp and group exactly as the format lays itself out for `cols`: a one-row
  // template built by make_weight itself, so the rules live in one place.
  std::vector<float> zeros((size_t)m.cols, 0.0f);
  std::unique_ptr<Weight> t = make_weight(name, SrcDtype::F32, zeros.data(), zeros.size() * 4, 1, m.cols, spec);
  const WeightMeta tm = weight_meta(*t);
  if (m.kp != tm.kp) throw fail("kp " + std::to_string(m.kp) + " does not match the layout (" + std::to_string(tm.kp) + ")");
  if (m.group != tm.group) throw fail("group " + std::to_string(m.group) + " does not match the layout (" + std::to_string(tm.group) + ")");
  t->rows = m.rows;  // the described weight, without storage
  std::vector<WeightBuffer> bufs = weight_buffers(*t);
  size_t total = 0;
  for (WeightBuffer& b : bufs) {
    total += b.bytes;
    b.buf = nullptr;
  }
  if (total != t->bytes())  // a format whose declaration is incomplete
    throw fail(std::string("the buffers declared for format ") + t->fmt->name + " (" + std::to_string(total) +
               " bytes) do not add up to its size (" + std::to_string(t->bytes()) + "); fix its module's buffers");
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
  // The weight with the file's meta and buffers (its parameters: the format's layout).
  WSpec spec = spec_of_meta(m);
  spec.act_scale = m.act_scale;
  std::unique_ptr<Weight> w = layout_weight(name, spec, m.rows, m.cols);
  std::vector<WeightBuffer> own = weight_buffers(*w);
  for (size_t i = 0; i < own.size(); i++) {
    own[i].buf->reserve(own[i].bytes);
    std::memcpy(own[i].buf->data(), bufs[i].data, own[i].bytes);
  }
  if (w->fmt->check_import) w->fmt->check_import(*w);
  return w;
}

}  // namespace lowbit
