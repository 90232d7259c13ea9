#include "gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "formats/kquant_quantize.h"
#include "formats/q4_k.h"
#include "kernels/ggml.h"
#include "matmul.h"
#include "quantize.h"
#include "weights.h"

namespace lowbit {

void gptq_group_grid(const float* w, int64_t n, const GptqGrid& g, float* scale, float* off) {
  if (!g.q4_0) return q4_group_grid(w, n, g.asym, scale, off);
  float amax = 0, max = 0;  // the value of largest |w| (the first one), as llama.cpp's Q4_0 rule
  for (int64_t p = 0; p < n; p++)
    if (amax < std::fabs(w[p])) amax = std::fabs(w[p]), max = w[p];
  *scale = f16_to_f32_scalar(f32_to_f16_scalar(max / -8.0f));
  *off = -8.0f * *scale;
}

void gptq_q4_k_grid(const float* x, float* scale, float* off, uint8_t* blk) {
  BlockQ4K b;
  uint8_t L[256];
  kq_quantize_scaled_mins(x, 15, -1.0f, 20, b.scales, &b.d, &b.dmin, L);
  uint8_t s6[8], m6[8];
  q4_k_scales(b.scales, s6, m6);
  const float d = f16_to_f32_scalar(b.d), dmin = f16_to_f32_scalar(b.dmin);
  for (int j = 0; j < 8; j++) scale[j] = d * (float)s6[j], off[j] = -(dmin * (float)m6[j]);
  if (blk) std::memcpy(blk, &b, 16);
}

uint8_t gptq_code(float x, float scale, float off, const GptqGrid& g) {
  if (g.q4_k) return scale > 0 ? (uint8_t)std::min(15.0f, std::max(0.0f, std::nearbyint((x - off) / scale))) : 0;
  if (!g.q4_0) return q4_code(x, scale, off, g.asym);
  const float inv = scale != 0 ? 1.0f / scale : 0.0f;  // q4_0's d may be negative
  return (uint8_t)std::min(15.0f, std::max(0.0f, std::nearbyint(x * inv) + 8.0f));
}

void inverse_cholesky_upper(ThreadPool& pool, const double* A, int64_t n, double* U) {
  // Reversed order: A' = P A P (P reverses indices) = L L^T, L lower. Then
  // V = P L P is upper with A = V V^T, so A^-1 = (V^-1)^T V^-1 and U = V^-1.
  std::vector<double> L((size_t)n * n, 0.0);
  auto a = [&](int64_t i, int64_t j) { return A[(n - 1 - i) * n + (n - 1 - j)]; };
  auto dot = [](const double* x, const double* y, int64_t k) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t p = 0;
    for (; p + 4 <= k; p += 4) s0 += x[p] * y[p], s1 += x[p + 1] * y[p + 1], s2 += x[p + 2] * y[p + 2], s3 += x[p + 3] * y[p + 3];
    for (; p < k; p++) s0 += x[p] * y[p];
    return (s0 + s1) + (s2 + s3);
  };
  for (int64_t j = 0; j < n; j++) {
    double* lj = &L[j * n];
    const double d = a(j, j) - dot(lj, lj, j);
    if (!(d > 0) || !std::isfinite(d)) throw std::invalid_argument("GPTQ: the damped Hessian is not positive definite");
    lj[j] = std::sqrt(d);
    pool.run_sized((long)((n - j) * j), [&](int tid, int nt) {
      for (int64_t i = j + 1 + tid; i < n; i += nt) L[i * n + j] = (a(i, j) - dot(&L[i * n], lj, j)) / lj[j];
    });
  }
  // V[r][k] = L[n-1-r][n-1-k] (upper); U = V^-1 column by column: U[c][c] = 1 / V[c][c],
  // U[r][c] = -(sum_{k=r+1..c} V[r][k] U[k][c]) / V[r][r] for r < c. Ucol[c][r] = U[r][c].
  std::vector<double> V((size_t)n * n, 0.0), Ucol((size_t)n * n, 0.0);
  for (int64_t r = 0; r < n; r++)
    for (int64_t k = r; k < n; k++) V[r * n + k] = L[(n - 1 - r) * n + (n - 1 - k)];
  L = std::vector<double>();
  pool.run([&](int tid, int nt) {
    for (int64_t c = tid; c < n; c += nt) {
      double* u = &Ucol[c * n];
      u[c] = 1.0 / V[c * n + c];
      for (int64_t r = c - 1; r >= 0; r--) u[r] = -dot(&V[r * n + r + 1], &u[r + 1], c - r) / V[r * n + r];
    }
  });
  for (int64_t r = 0; r < n; r++)
    for (int64_t c = 0; c < n; c++) U[r * n + c] = c >= r ? Ucol[c * n + r] : 0.0;
}

void gptq_quantize(ThreadPool& pool, float* W, int64_t rows, int64_t cols, const double* H, const GptqGrid& g,
                   const GptqOptions& o, float* scales, float* offsets, uint8_t* kblocks) {
  const int64_t n = cols, G = g.group, ng = gptq_groups(cols, g);
  if (g.q4_k && (G != 32 || cols % 256)) throw std::invalid_argument("GPTQ q4_k: cols must be a multiple of 256");
  const int64_t nsb = cols / 256;  // q4_k super-blocks per row
  // Dead columns (never active): H_ii = 1, weights zero. Order: by decreasing diagonal with act_order.
  std::vector<char> dead((size_t)n, 0);
  double mean = 0;
  for (int64_t i = 0; i < n; i++) {
    dead[i] = H[i * n + i] == 0;
    mean += dead[i] ? 1.0 : H[i * n + i];
  }
  mean /= (double)n;
  std::vector<int64_t> perm((size_t)n);
  std::iota(perm.begin(), perm.end(), 0);
  auto diag = [&](int64_t i) { return dead[i] ? 1.0 : H[i * n + i]; };
  if (o.act_order) std::stable_sort(perm.begin(), perm.end(), [&](int64_t x, int64_t y) { return diag(x) > diag(y); });
  std::vector<int64_t> pos((size_t)n);  // column -> its place in the order
  for (int64_t i = 0; i < n; i++) pos[perm[i]] = i;
  std::vector<double> hp((size_t)n * n), ud((size_t)n * n);
  for (int64_t a = 0; a < n; a++)
    for (int64_t b = 0; b < n; b++) {
      const int64_t i = perm[a], j = perm[b];
      hp[a * n + b] = i == j ? diag(i) + o.damp * mean : dead[i] || dead[j] ? 0.0 : H[i * n + j];
    }
  inverse_cholesky_upper(pool, hp.data(), n, ud.data());
  hp = std::vector<double>();
  std::vector<float> U(ud.begin(), ud.end());
  ud = std::vector<double>();

  constexpr int64_t kTile = 8;  // rows sharing each read of U's row
  pool.run([&](int tid, int nt) {
    std::vector<float> w((size_t)(kTile * n)), gv((size_t)(g.q4_k ? 256 : G));
    std::vector<char> set((size_t)(kTile * ng));
    for (int64_t r0 = tid * kTile; r0 < rows; r0 += (int64_t)nt * kTile) {
      const int64_t T = std::min(kTile, rows - r0);
      std::fill(set.begin(), set.end(), 0);
      for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < n; i++) w[t * n + i] = dead[perm[i]] ? 0.0f : W[(r0 + t) * cols + perm[i]];
      for (int64_t i = 0; i < n; i++) {
        const int64_t gi = perm[i] / G, c0 = gi * G, c1 = std::min(c0 + G, n);
        const float* u = &U[i * n];
        for (int64_t t = 0; t < T; t++) {
          float* wt = &w[t * n];
          float& s = scales[(r0 + t) * ng + gi];
          float& off = offsets[(r0 + t) * ng + gi];
          if (!set[t * ng + gi] && g.q4_k) {  // the super-block's 8 sub-blocks at once
            const int64_t sb = gi / 8;
            for (int64_t c = 0; c < 256; c++) gv[c] = wt[pos[sb * 256 + c]];
            gptq_q4_k_grid(gv.data(), &scales[(r0 + t) * ng + sb * 8], &offsets[(r0 + t) * ng + sb * 8],
                           kblocks ? kblocks + ((r0 + t) * nsb + sb) * sizeof(BlockQ4K) : nullptr);
            for (int j = 0; j < 8; j++) set[t * ng + sb * 8 + j] = 1;
          } else if (!set[t * ng + gi]) {
            for (int64_t c = c0; c < c1; c++) gv[c - c0] = wt[pos[c]];
            gptq_group_grid(gv.data(), c1 - c0, g, &s, &off);
            set[t * ng + gi] = 1;
          }
          const float x = wt[i], q = gptq_dequant(gptq_code(x, s, off, g), s, off);
          const float e = (x - q) / u[i];
          wt[i] = q;
          for (int64_t k = i + 1; k < n; k++) wt[k] -= e * u[k];
        }
      }
      for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < n; i++) W[(r0 + t) * cols + perm[i]] = w[t * n + i];
      if (kblocks)  // codes of the final values: element 64q + e in the low nibble of qs[32q + e], 64q + 32 + e in its high nibble
        for (int64_t t = 0; t < T; t++)
          for (int64_t sb = 0; sb < nsb; sb++) {
            BlockQ4K* b = reinterpret_cast<BlockQ4K*>(kblocks + ((r0 + t) * nsb + sb) * sizeof(BlockQ4K));
            const float* x = &W[(r0 + t) * cols + sb * 256];
            const float* sc = &scales[(r0 + t) * ng + sb * 8];
            const float* of = &offsets[(r0 + t) * ng + sb * 8];
            auto code = [&](int e) { return gptq_code(x[e], sc[e / 32], of[e / 32], g); };
            for (int q = 0; q < 4; q++)
              for (int e = 0; e < 32; e++) b->qs[32 * q + e] = (uint8_t)(code(64 * q + e) | code(64 * q + 32 + e) << 4);
          }
    }
  });
}

double q4_output_error(ThreadPool& pool, const KernelTable& kt, const float* W, int64_t rows, int64_t cols,
                       const double* H, const float* s, const GptqGrid& g) {
  const int64_t G = g.group, ng = gptq_groups(cols, g);
  std::vector<float> e((size_t)(rows * cols));
  pool.run([&](int tid, int nt) {
    std::vector<float> x((size_t)cols);
    for (int64_t r = tid; r < rows; r += nt) {
      for (int64_t c = 0; c < cols; c++) x[c] = W[r * cols + c] * (s ? s[c] : 1.0f);
      float sc8[8], off8[8];
      for (int64_t gi = 0; gi < ng; gi++) {
        const int64_t c0 = gi * G, c1 = std::min(c0 + G, cols);
        float sc, off;
        if (g.q4_k) {
          if (gi % 8 == 0) gptq_q4_k_grid(&x[c0], sc8, off8, nullptr);
          sc = sc8[gi % 8], off = off8[gi % 8];
        } else {
          gptq_group_grid(&x[c0], c1 - c0, g, &sc, &off);
        }
        for (int64_t c = c0; c < c1; c++) {
          const float q = gptq_dequant(gptq_code(x[c], sc, off, g), sc, off);
          e[r * cols + c] = q / (s ? s[c] : 1.0f) - W[r * cols + c];
        }
      }
    }
  });
  // E H: H (symmetric) as an f32 weight [cols, cols]; C [rows, cols] = E . H^T.
  std::vector<float> hf(H, H + cols * cols);
  auto hw = make_weight("hessian", SrcDtype::F32, hf.data(), hf.size() * 4, cols, cols, WSpec{});
  std::vector<float> c((size_t)(rows * cols));
  MatmulScratch scratch;
  matmul(pool, kt, e.data(), cols, rows, *hw, c.data(), cols, scratch);
  double loss = 0;
  for (size_t i = 0; i < e.size(); i++) loss += (double)e[i] * c[i];
  return loss;
}

}  // namespace lowbit
