// Calibration statistics of matmul inputs, recorded by Model::forward while
// enabled (SmoothQuant, static activation scales, GPTQ, the diagnosis tools).
// Per weight name, over every row (token) of every input A [rows, cols] seen:
//   colmax  [cols]   max |x| per input column (always)
//   hist    [32768]  count of |x| per bin, bin = f32 bits of |x| >> 16 (sign bit
//                    clear: 8 exponent bits and the top 7 mantissa bits, so a bin
//                    spans 2^-7 of its value; histograms on)
//   tokmax  [32768]  count of rows whose max |x| falls in each bin (histograms on)
//   sample  [n, cols] every `stride`-th row seen, at most `cap` rows (sampling on)
//   hess    [cols, cols] H = sum over rows of x^T x, in double (hessian on: GPTQ,
//                    AWQ; act_hessian.h), abssum [cols] sum of |x| per column
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lowbit {

constexpr int kActHistBins = 1 << 15;

struct ActStatsOptions {
  bool histograms = false;
  int64_t sample_stride = 0;  // 0: no sample
  int64_t sample_cap = 0;     // rows
  bool hessian = false;       // accumulate hess / abssum (act_hessian_add)
  std::string prefix;         // only the inputs of weights whose name starts with it (empty: all)
};

struct ActStats {
  int64_t cols = 0;
  int64_t rows_seen = 0;
  std::vector<float> colmax;
  std::vector<double> hist, tokmax;
  std::vector<float> sample;  // sample_rows() * cols
  std::vector<double> hess, abssum;  // hessian on: [cols * cols], [cols]
  int64_t sample_rows() const { return cols ? (int64_t)sample.size() / cols : 0; }
};

// the histogram bin of |x| (x finite or not; NaN lands in the top bins)
inline int act_hist_bin(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  return (int)((u & 0x7fffffffu) >> 16);
}

// Adds rows [0, rows) of A [rows, cols] to s (cols must match an earlier call).
void act_stats_add(ActStats& s, const ActStatsOptions& o, const float* A, int64_t rows, int64_t cols);

}  // namespace lowbit
