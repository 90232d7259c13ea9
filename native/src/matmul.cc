#include "matmul.h"

#include "formats/q8.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>


namespace lowbit {

void matmul(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m, const Weight& W,
            float* C, int64_t ldc, MatmulScratch& scratch) {
  if (ldc != W.rows) throw std::logic_error("matmul: ldc must equal the weight's rows");
  const Weight* w = &W;
  matmul_multi(pool, kt, A, lda, m, &w, &C, 1, scratch);
}

void matmul_multi(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m,
                  const Weight* const* W, float* const* C, int count, MatmulScratch& scratch) {
  // the format table's row of the first weight prepares the activations; each
  // weight's own row runs it (K-quant types of one activation type may mix)
  const FormatOps& ops = W[0]->fmt->ops;
  const int64_t k = W[0]->cols;
  for (int i = 0; i < count; i++)
    if (!W[i]->matrix || W[i]->cols != k || !shares_activations(*W[0], *W[i]))
      throw std::logic_error("matmul_multi: mixed weights");
  size_t ab = ops.act_bytes(*W[0], m);
  if (ab) scratch.act.reserve(ab);
  void* act = ab ? scratch.act.data() : nullptr;
  const bool row_scaled = scratch.row_scale && (W[0]->format == WFormat::Q8 || W[0]->format == WFormat::Q4A8);
  if (act) {
    pool.run_sized((long)(m * k), [&](int tid, int nth) {
      long r0, r1;
      split_range(m, nth, tid, &r0, &r1);
      if (row_scaled) {  // kQ8's int8 rows and scales, with the given scale of each row
        const Weight& w = *W[0];
        int8_t* q = static_cast<int8_t*>(act);
        float* sa = reinterpret_cast<float*>(q + q8_scales_at(w, m));
        for (long r = r0; r < r1; r++) kt.quantize_q8(A + r * lda, w.cols, w.kp, q + r * w.kp, sa + r, scratch.row_scale[r]);
      } else {
        ops.prepare(kt, *W[0], A, lda, m, r0, r1, act);
      }
    });
  }
  // Output columns of all weights, in blocks of 16 (whole register tiles),
  // split evenly over the threads.
  int64_t first_block[9] = {0};
  if (count > 8) throw std::logic_error("matmul_multi: at most 8 weights");
  for (int i = 0; i < count; i++) first_block[i + 1] = first_block[i] + (W[i]->rows + 15) / 16;
  const int64_t nblocks = first_block[count];
  pool.run([&](int tid, int nth) {
    long b0, b1;
    split_range(nblocks, nth, tid, &b0, &b1);
    for (int i = 0; i < count && b0 < b1; i++) {
      int64_t lo = std::max<int64_t>(b0, first_block[i]), hi = std::min<int64_t>(b1, first_block[i + 1]);
      if (lo >= hi) continue;
      const int64_t n = W[i]->rows;
      int64_t j0 = (lo - first_block[i]) * 16, j1 = std::min<int64_t>((hi - first_block[i]) * 16, n);
      W[i]->fmt->ops.run(kt, A, lda, act, m, *W[i], C[i], n, j0, j1);
    }
  });
}

}  // namespace lowbit
