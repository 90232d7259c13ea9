// Q2_K: the scalar reference matmul (the definition in q2_k.h) and row
// dequantization. Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/q2_k.h"

#include <cmath>
#include <cstddef>
#include <vector>

#include "formats/kquant_tiling.h"
#include "formats/packed.h"
#include "ggml_dequant.h"
#include "kernels/kernels.h"

namespace lowbit {

namespace {
struct RefQ2K {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    kq_ref_lanes<BlockQ2K, MT>(a, i0, w, nb, c, ldc, [](const BlockQ2K& x, const int8_t* qa, const int16_t* bs, float da, float acc[8]) {
      int32_t lane[8] = {0, 0, 0, 0, 0, 0, 0, 0}, mins[8];
      for (int e = 0; e < 256; e++) {
        const int u = (x.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        lane[(e % 32) / 4] += (int32_t)(x.scales[e / 16] & 15) * u * qa[e];
      }
      for (int l = 0; l < 8; l++)
        mins[l] = (int32_t)(x.scales[2 * l] >> 4) * bs[2 * l] + (int32_t)(x.scales[2 * l + 1] >> 4) * bs[2 * l + 1];
      const float d = da * f16_to_f32_scalar(x.d), dmin = -(da * f16_to_f32_scalar(x.dmin));
      for (int l = 0; l < 8; l++) acc[l] = std::fma(dmin, (float)mins[l], acc[l]);
      for (int l = 0; l < 8; l++) acc[l] = std::fma(d, (float)lane[l], acc[l]);
    });
  }
};
}  // namespace

// the packed rows back as GGUF rows, then the definition on them
void matmul_q2_k_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                     int64_t j1) {
  kq_ref_on_packed<RefQ2K>(q2_k_unpack_row, a, m, W, row_bytes, C, ldc, j0, j1);
}

namespace {
// the layout of q2_k.h as fields (packed.h)
const std::vector<PackField>& q2_k_fields() {
  static const std::vector<PackField> f = [] {
    std::vector<PackField> v = {{(int)offsetof(BlockQ2K, d), 0, 2, 2}, {(int)offsetof(BlockQ2K, dmin), 32, 2, 2}};
    for (int s = 0; s < 16; s++) v.push_back({(int)offsetof(BlockQ2K, scales) + s, 64 + 16 * s, 1, 1});
    for (int c = 0; c < 16; c++) v.push_back({(int)offsetof(BlockQ2K, qs) + 4 * c, 320 + 64 * c, 4, 4});  // c = 8j + l
    return v;
  }();
  return f;
}
}  // namespace

void q2_k_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out) {
  pack_groups(q2_k_fields().data(), (int)q2_k_fields().size(), sizeof(BlockQ2K), rows, n, row_bytes, out);
}

void q2_k_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row) {
  unpack_group_row(q2_k_fields().data(), (int)q2_k_fields().size(), sizeof(BlockQ2K), packed, j, row_bytes, row);
}

void q2_k_dequantize_row(const uint8_t* row, int64_t cols, float* out) {
  ggml_dequantize(kGgmlQ2_K, row, (size_t)(cols / kQK_K) * sizeof(BlockQ2K), out, cols);
}

}  // namespace lowbit
