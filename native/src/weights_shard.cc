#include "weights_shard.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "weights_io.h"

namespace lowbit {

std::unique_ptr<Weight> shard_weight(const Weight& w, const WeightShard& s) {
  if (!w.fmt->shard)
    throw std::invalid_argument(w.name + ": weight format " + w.fmt->name + " cannot be split over ranks (its module declares no shard)");
  if (!w.matrix && !s.cols) throw std::invalid_argument(w.name + ": a vector is split by its elements (columns), not rows");
  const int64_t n = s.cols ? w.cols : w.rows;
  if (s.start < 0 || s.count < 1 || s.start > n - s.count)
    throw std::invalid_argument(w.name + ": shard " + (s.cols ? "columns [" : "rows [") + std::to_string(s.start) + ", " +
                                std::to_string(s.start + s.count) + ") outside its " + std::to_string(n));
  std::unique_ptr<Weight> t = w.fmt->shard(w, s);
  if (t->fmt->check_import) t->fmt->check_import(*t);  // the checks a weight read from a file passes
  return t;
}

std::unique_ptr<Weight> shard_layout(const Weight& w, const WeightShard& s) {
  const WeightMeta m = weight_meta(w);
  WSpec spec = spec_of_meta(m);  // the same format and parameters
  spec.act_scale = m.act_scale;
  std::unique_ptr<Weight> t = layout_weight(w.name, spec, s.cols ? w.rows : s.count, s.cols ? s.count : w.cols);
  for (WeightBuffer& b : weight_buffers(*t)) {
    b.buf->reserve(b.bytes);
    std::memset(b.buf->data(), 0, b.bytes);
  }
  return t;
}

void check_shard_unit(const Weight& w, const WeightShard& s, int64_t unit, const char* what) {
  if (s.cols && unit > 1 && (s.start % unit || s.count % unit))
    throw std::invalid_argument(w.name + ": columns [" + std::to_string(s.start) + ", " + std::to_string(s.start + s.count) +
                                ") of format " + w.fmt->name + " split its " + std::to_string(unit) + "-column " + what);
}

void shard_packed(const Weight& w, Weight& t, const WeightShard& s, int64_t eb) {
  const char* src = w.data.as<char>();
  char* dst = t.data.as<char>();
  if (!w.matrix) {  // a plain vector [1, cols]
    std::memcpy(dst, src + s.start * eb, (size_t)(s.count * eb));
    return;
  }
  const int64_t ch = chunk_elems(eb), c0 = shard_col0(s);
  for (int64_t j = 0; j < t.rows; j++) {
    const int64_t sj = shard_row(s, j);
    // runs of columns that stay within one chunk of both layouts
    for (int64_t p = 0; p < t.cols;) {
      const int64_t q = c0 + p, n = std::min({ch - p % ch, ch - q % ch, t.cols - p});
      std::memcpy(dst + packed_index(j, p, t.kp, ch) * eb, src + packed_index(sj, q, w.kp, ch) * eb, (size_t)(n * eb));
      p += n;
    }
  }
}

}  // namespace lowbit
