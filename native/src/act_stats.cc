#include "act_stats.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace lowbit {

void act_stats_add(ActStats& s, const ActStatsOptions& o, const float* A, int64_t rows, int64_t cols) {
  if (s.cols == 0) {
    s.cols = cols;
    s.colmax.assign(cols, 0.0f);
  }
  if (s.cols != cols) throw std::logic_error("act_stats_add: input width changed");
  if (o.histograms && s.hist.empty()) {
    s.hist.assign(kActHistBins, 0.0);
    s.tokmax.assign(kActHistBins, 0.0);
  }
  for (int64_t r = 0; r < rows; r++) {
    const float* x = A + r * cols;
    float m = 0;
    for (int64_t c = 0; c < cols; c++) {
      const float a = std::fabs(x[c]);
      s.colmax[c] = std::max(s.colmax[c], a);
      m = std::max(m, a);
      if (o.histograms) s.hist[act_hist_bin(a)] += 1;
    }
    if (o.histograms) s.tokmax[act_hist_bin(m)] += 1;
    if (o.sample_stride > 0 && (s.rows_seen + r) % o.sample_stride == 0 && s.sample_rows() < o.sample_cap)
      s.sample.insert(s.sample.end(), x, x + cols);
  }
  s.rows_seen += rows;
}

}  // namespace lowbit
