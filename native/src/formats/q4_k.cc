// Q4_K: the scalar reference matmul (the definition in q4_k.h), the packed
// storage and row dequantization. Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/q4_k.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "formats/kquant_quantize.h"
#include "formats/kquant_tiling.h"
#include "formats/packed.h"
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

// the packed rows back as GGUF rows, then the definition on them
void matmul_q4_k_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                     int64_t j1) {
  kq_ref_on_packed<RefQ4K>(q4_k_unpack_row, a, m, W, row_bytes, C, ldc, j0, j1);
}

namespace {
// the layout of q4_k.h as fields (packed.h)
const std::vector<PackField>& q4_k_fields() {
  static const std::vector<PackField> f = [] {
    std::vector<PackField> v = {{0, 0, 2, 2}, {2, 32, 2, 2}};                   // d, dmin
    for (int j = 0; j < 12; j++) v.push_back({4 + j, 64 + 16 * j, 1, 1});      // scales
    for (int c = 0; c < 32; c++) v.push_back({16 + 4 * c, 256 + 64 * c, 4, 4});  // qs
    return v;
  }();
  return f;
}
}  // namespace

void q4_k_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out) {
  pack_groups(q4_k_fields().data(), (int)q4_k_fields().size(), sizeof(BlockQ4K), rows, n, row_bytes, out);
}

void q4_k_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row) {
  unpack_group_row(q4_k_fields().data(), (int)q4_k_fields().size(), sizeof(BlockQ4K), packed, j, row_bytes, row);
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
