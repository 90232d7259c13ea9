// IQ4_XS: the scalar reference matmul (the definition in iq4_xs.h), the
// packed storage and row dequantization. Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/iq4_xs.h"

#include <cstddef>
#include <cstring>
#include <vector>

#include "formats/iq4_nl.h"
#include "formats/kquant_tiling.h"
#include "ggml_dequant.h"
#include "kernels/kernels.h"

namespace lowbit {

namespace {
// kPanel: the IQ panel GEMM's one FMA per super-block (m >= 8), else the 8 lanes
template <bool kPanel>
struct RefIQ4XS {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    for (int t = 0; t < MT; t++) {
      const int64_t i = i0 + t;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, accp = 0.0f;
      for (int64_t b = 0; b < nb; b++) {
        const BlockIQ4XS* x = reinterpret_cast<const BlockIQ4XS*>(w + b * sizeof(BlockIQ4XS));
        const int8_t* qa = a.q + i * a.k + b * kQK_K;
        int32_t L[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int s = 0; s < 8; s++) {
          const int ls = iq4_xs_scale(x, s);
          for (int e = 0; e < 32; e++) {
            const uint8_t byte = x->qs[16 * s + e % 16];
            L[e / 4] += ls * kIq4nlValues[e < 16 ? byte & 15 : byte >> 4] * qa[32 * s + e];
          }
        }
        const float dd = f16_to_f32_scalar(x->d) * a.d[i * nb + b];
        if (kPanel) accp = __builtin_fmaf((float)(L[0] + L[1] + L[2] + L[3] + L[4] + L[5] + L[6] + L[7]), dd, accp);
        else
          for (int l = 0; l < 8; l++) acc[l] = __builtin_fmaf(dd, (float)L[l], acc[l]);
      }
      c[t * ldc] = kPanel ? accp : ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
  }
};
}  // namespace

// the packed rows [j0, j1) back as GGUF rows, then the definition on them
void matmul_iq4_xs_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                       int64_t j0, int64_t j1) {
  if (j1 <= j0) return;
  std::vector<uint8_t> rows((size_t)((j1 - j0) * row_bytes));
  for (int64_t j = j0; j < j1; j++) iq4_xs_unpack_row(W, j, row_bytes, rows.data() + (j - j0) * row_bytes);
  const uint8_t* R = rows.data() - j0 * row_bytes;
  if (m >= kIq4xsPanelMinTokens) kquant_run<RefIQ4XS<true>>(a, m, R, row_bytes, C, ldc, j0, j1);
  else kquant_run<RefIQ4XS<false>>(a, m, R, row_bytes, C, ldc, j0, j1);
}

namespace {
// row r's block x <-> its places in a group's super-block g (iq4_xs.h); to_packed: x -> g, else g -> x
template <bool to_packed>
inline void iq4_xs_move_block(uint8_t* g, int64_t r, uint8_t* x) {
  auto mv = [&](int64_t goff, int64_t xoff, size_t n) {
    if (to_packed) std::memcpy(g + goff, x + xoff, n);
    else std::memcpy(x + xoff, g + goff, n);
  };
  mv(2 * r, offsetof(BlockIQ4XS, d), 2);
  mv(32 + 2 * r, offsetof(BlockIQ4XS, scales_h), 2);
  mv(64 + 4 * r, offsetof(BlockIQ4XS, scales_l), 4);
  for (int64_t c = 0; c < 32; c++) mv(128 + 64 * c + 4 * r, offsetof(BlockIQ4XS, qs) + 4 * c, 4);
}
}  // namespace

void iq4_xs_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out) {
  const int64_t nb = row_bytes / (int64_t)sizeof(BlockIQ4XS), full = n / kIQ4XSRows * kIQ4XSRows;
  const int64_t groups = (n + kIQ4XSRows - 1) / kIQ4XSRows;
  std::memset(out + full * row_bytes, 0, (size_t)((groups * kIQ4XSRows - full) * row_bytes));
  for (int64_t j = 0; j < n; j++) {
    uint8_t* g = out + (j / kIQ4XSRows) * kIQ4XSRows * row_bytes;
    for (int64_t b = 0; b < nb; b++)
      iq4_xs_move_block<true>(g + b * kIQ4XSGroupBlock, j % kIQ4XSRows,
                              const_cast<uint8_t*>(rows + j * row_bytes + b * (int64_t)sizeof(BlockIQ4XS)));
  }
}

void iq4_xs_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row) {
  const int64_t nb = row_bytes / (int64_t)sizeof(BlockIQ4XS);
  uint8_t* g = const_cast<uint8_t*>(packed) + (j / kIQ4XSRows) * kIQ4XSRows * row_bytes;
  for (int64_t b = 0; b < nb; b++)
    iq4_xs_move_block<false>(g + b * kIQ4XSGroupBlock, j % kIQ4XSRows, row + b * (int64_t)sizeof(BlockIQ4XS));
}

void iq4_xs_dequantize_row(const uint8_t* row, int64_t cols, float* out) {
  ggml_dequantize(kGgmlIQ4_XS, row, (size_t)(cols / kQK_K) * sizeof(BlockIQ4XS), out, cols);
}

}  // namespace lowbit
