// Q4_K: the scalar reference matmul (the definition in q4_k.h), the packed
// storage and row dequantization. Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/q4_k.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "formats/kquant_quantize.h"
#include "formats/kquant_tiling.h"
#include "ggml_dequant.h"
#include "kernels/ggml.h"
#include "kernels/kernels.h"

namespace lowbit {

namespace {
struct RefQ4K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    for (int t = 0; t < MT; t++) {
      const int64_t i = i0 + t;
      const int8_t* q8 = a.q + i * a.k;
      float acc = 0.0f, accm = 0.0f;
      for (int64_t b = 0; b < nb; b++) {
        const BlockQ4K* x = reinterpret_cast<const BlockQ4K*>(w + b * sizeof(BlockQ4K));
        uint8_t sc[8], mn[8];
        q4_k_scales(x->scales, sc, mn);
        const int8_t* qa = q8 + b * kQK_K;
        int32_t P[4] = {0, 0, 0, 0}, M[4];
        for (int s = 0; s < 8; s++) {
          int32_t dot = 0;
          for (int e = 0; e < 32; e++) {
            const uint8_t byte = x->qs[32 * (s / 2) + e];
            const int u = (s % 2) ? byte >> 4 : byte & 15;
            dot += u * qa[32 * s + e];
          }
          P[s / 2] += (int32_t)sc[s] * dot;
        }
        q4_k_min_pairs(mn, a.bsums + i * (a.k / 16) + b * 16, M);
        const float da = a.d[i * nb + b];
        q4_k_accumulate<MT == kKMaxTokens>(P, M, f16_to_f32_scalar(x->d) * da, f16_to_f32_scalar(x->dmin) * da, acc, accm);
      }
      c[t * ldc] = acc - accm;
    }
  }
};
}  // namespace

// the packed rows [j0, j1) back as GGUF rows, then the definition on them
void matmul_q4_k_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                     int64_t j1) {
  if (j1 <= j0) return;
  std::vector<uint8_t> rows((size_t)((j1 - j0) * row_bytes));
  for (int64_t j = j0; j < j1; j++) q4_k_unpack_row(W, j, row_bytes, rows.data() + (j - j0) * row_bytes);
  kquant_run<RefQ4K>(a, m, rows.data() - j0 * row_bytes, row_bytes, C, ldc, j0, j1);
}

namespace {
// row r's block x <-> its places in a group's super-block g (q4_k.h); to_packed: x -> g, else g -> x
template <bool to_packed>
inline void q4_k_move_block(uint8_t* g, int64_t r, uint8_t* x) {
  auto mv = [&](int64_t goff, int64_t xoff, size_t n) {
    if (to_packed) std::memcpy(g + goff, x + xoff, n);
    else std::memcpy(x + xoff, g + goff, n);
  };
  mv(2 * r, 0, 2);        // d
  mv(32 + 2 * r, 2, 2);   // dmin
  for (int64_t j = 0; j < 12; j++) mv(64 + 16 * j + r, 4 + j, 1);
  for (int64_t c = 0; c < 32; c++) mv(256 + 64 * c + 4 * r, 16 + 4 * c, 4);
}
}  // namespace

void q4_k_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out) {
  const int64_t nb = row_bytes / (int64_t)sizeof(BlockQ4K), groups = (n + kQ4KRows - 1) / kQ4KRows;
  std::memset(out + n / kQ4KRows * kQ4KRows * row_bytes, 0, (size_t)((groups * kQ4KRows - n / kQ4KRows * kQ4KRows) * row_bytes));
  for (int64_t j = 0; j < n; j++) {
    uint8_t* g = out + (j / kQ4KRows) * kQ4KRows * row_bytes;
    for (int64_t b = 0; b < nb; b++)
      q4_k_move_block<true>(g + b * kQ4KGroupBlock, j % kQ4KRows,
                            const_cast<uint8_t*>(rows + j * row_bytes + b * (int64_t)sizeof(BlockQ4K)));
  }
}

void q4_k_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row) {
  const int64_t nb = row_bytes / (int64_t)sizeof(BlockQ4K);
  uint8_t* g = const_cast<uint8_t*>(packed) + (j / kQ4KRows) * kQ4KRows * row_bytes;
  for (int64_t b = 0; b < nb; b++) q4_k_move_block<false>(g + b * kQ4KGroupBlock, j % kQ4KRows, row + b * (int64_t)sizeof(BlockQ4K));
}

void q4_k_dequantize_row(const uint8_t* row, int64_t cols, float* out) {
  ggml_dequantize(kGgmlQ4_K, row, (size_t)(cols / kQK_K) * sizeof(BlockQ4K), out, cols);
}

void q4_k_quantize_row(const float* x, int64_t k, uint8_t* out) {
  uint8_t L[256];
  for (int64_t b = 0; b < k / kQK_K; b++, x += kQK_K) {
    BlockQ4K* y = reinterpret_cast<BlockQ4K*>(out + b * sizeof(BlockQ4K));
    kq_quantize_scaled_mins(x, 15, -1.0f, 20, y->scales, &y->d, &y->dmin, L);
    for (int g = 0; g < 4; g++)  // element 64g + t: low nibble of byte 32g + t; 64g + 32 + t: its high nibble
      for (int t = 0; t < 32; t++) y->qs[32 * g + t] = (uint8_t)(L[64 * g + t] | (L[64 * g + 32 + t] << 4));
  }
}

}  // namespace lowbit
