#include "act_hessian.h"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "matmul.h"
#include "weights.h"

namespace lowbit {

void act_hessian_add(ActStats& s, ThreadPool& pool, const KernelTable& kt, const float* A, int64_t rows, int64_t cols) {
  if (s.cols != cols) throw std::logic_error("act_hessian_add: input width changed");
  if (s.hess.empty()) {
    s.hess.assign((size_t)cols * cols, 0.0);
    s.abssum.assign((size_t)cols, 0.0);
  }
  // Xt [cols, rows]: as a weight (n = cols outputs over k = rows) and as the
  // activations (m = cols); C [cols, cols] = Xt . Xt^T = X^T X.
  std::vector<float> xt((size_t)cols * rows);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) {
      xt[(size_t)c * rows + r] = A[r * cols + c];
      s.abssum[c] += std::fabs(A[r * cols + c]);
    }
  auto w = make_weight("hessian", SrcDtype::F32, xt.data(), xt.size() * 4, cols, rows, WSpec{});
  std::vector<float> c((size_t)cols * cols);
  MatmulScratch scratch;
  matmul(pool, kt, xt.data(), rows, cols, *w, c.data(), cols, scratch);
  for (size_t i = 0; i < c.size(); i++) s.hess[i] += c[i];
}

}  // namespace lowbit
