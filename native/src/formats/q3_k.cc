// Q3_K: the scalar reference matmul (the definition in q3_k.h), the packed
// storage and row dequantization. Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/q3_k.h"

#include <cmath>
#include <cstddef>
#include <cstring>
#include <vector>

#include "formats/kquant_tiling.h"
#include "ggml_dequant.h"
#include "kernels/kernels.h"

namespace lowbit {

namespace {
struct RefQ3K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    kq_ref_lanes<BlockQ3K, MT>(a, i0, w, nb, c, ldc, [](const BlockQ3K& x, const int8_t* qa, const int16_t*, float da, float acc[8]) {
      uint8_t sc[16];
      q3_k_scales(x.scales, sc);
      int32_t lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int e = 0; e < 256; e++) {
        const int j = e / 128, cc = (e % 128) / 32, t32 = e % 32;
        const int u = ((x.qs[32 * j + t32] >> (2 * cc)) & 3) | (((x.hmask[t32] >> (4 * j + cc)) & 1) << 2);
        lane[(e % 32) / 4] += ((int32_t)sc[e / 16] - 32) * (u - 4) * qa[e];
      }
      const float d = da * f16_to_f32_scalar(x.d);
      for (int l = 0; l < 8; l++) acc[l] = std::fma(d, (float)lane[l], acc[l]);
    });
  }
};
}  // namespace

// the packed rows [j0, j1) back as GGUF rows, then the definition on them
void matmul_q3_k_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                     int64_t j1) {
  if (j1 <= j0) return;
  std::vector<uint8_t> rows((size_t)((j1 - j0) * row_bytes));
  for (int64_t j = j0; j < j1; j++) q3_k_unpack_row(W, j, row_bytes, rows.data() + (j - j0) * row_bytes);
  kquant_run<RefQ3K>(a, m, rows.data() - j0 * row_bytes, row_bytes, C, ldc, j0, j1);
}

namespace {
// row r's block x <-> its places in a group's super-block g (q3_k.h); to_packed: x -> g, else g -> x
template <bool to_packed>
inline void q3_k_move_block(uint8_t* g, int64_t r, uint8_t* x) {
  auto mv = [&](int64_t goff, int64_t xoff, size_t n) {
    if (to_packed) std::memcpy(g + goff, x + xoff, n);
    else std::memcpy(x + xoff, g + goff, n);
  };
  mv(2 * r, offsetof(BlockQ3K, d), 2);
  for (int64_t j = 0; j < 12; j++) mv(32 + 16 * j + r, offsetof(BlockQ3K, scales) + j, 1);
  for (int64_t l = 0; l < 8; l++) mv(224 + 64 * l + 4 * r, offsetof(BlockQ3K, hmask) + 4 * l, 4);
  for (int64_t c = 0; c < 16; c++) mv(736 + 64 * c + 4 * r, offsetof(BlockQ3K, qs) + 4 * c, 4);  // c = 8j + l
}
}  // namespace

void q3_k_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out) {
  const int64_t nb = row_bytes / (int64_t)sizeof(BlockQ3K), full = n / kQ3KRows * kQ3KRows;
  const int64_t groups = (n + kQ3KRows - 1) / kQ3KRows;
  std::memset(out + full * row_bytes, 0, (size_t)((groups * kQ3KRows - full) * row_bytes));
  for (int64_t j = 0; j < n; j++) {
    uint8_t* g = out + (j / kQ3KRows) * kQ3KRows * row_bytes;
    for (int64_t b = 0; b < nb; b++)
      q3_k_move_block<true>(g + b * kQ3KGroupBlock, j % kQ3KRows,
                            const_cast<uint8_t*>(rows + j * row_bytes + b * (int64_t)sizeof(BlockQ3K)));
  }
}

void q3_k_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row) {
  const int64_t nb = row_bytes / (int64_t)sizeof(BlockQ3K);
  uint8_t* g = const_cast<uint8_t*>(packed) + (j / kQ3KRows) * kQ3KRows * row_bytes;
  for (int64_t b = 0; b < nb; b++) q3_k_move_block<false>(g + b * kQ3KGroupBlock, j % kQ3KRows, row + b * (int64_t)sizeof(BlockQ3K));
}

void q3_k_dequantize_row(const uint8_t* row, int64_t cols, float* out) {
  ggml_dequantize(kGgmlQ3_K, row, (size_t)(cols / kQK_K) * sizeof(BlockQ3K), out, cols);
}

}  // namespace lowbit
