// GPTQ / AWQ calibration statistic: the Hessian of a linear layer's squared
// output error, H = X^T X over every row (token) x of its input X [rows, cols],
// accumulated in double across forward steps (ActStats::hess, [cols, cols]),
// and the per-column sum of |x| (ActStats::abssum, AWQ's activation scale).
#pragma once
#include <cstdint>

#include "act_stats.h"
#include "kernels/kernels.h"
#include "threadpool.h"

namespace lowbit {

// Adds A [rows, cols] to s.hess / s.abssum (s.cols must equal cols: act_stats_add
// sets it). The product X^T X runs on the f32 matmul kernels of kt.
void act_hessian_add(ActStats& s, ThreadPool& pool, const KernelTable& kt, const float* A, int64_t rows, int64_t cols);

}  // namespace lowbit
