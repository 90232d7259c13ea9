// Q3_K: the scalar reference matmul (the definition in q3_k.h), the packed
// storage and row dequantization. Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/q3_k.h"

#include <cmath>
#include <cstddef>
#include <cstring>
#include <vector>

#include "formats/kquant_tiling.h"
#include "formats/packed.h"
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

// the packed rows back as GGUF rows, then the definition on them
void matmul_q3_k_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                     int64_t j1) {
  kq_ref_on_packed<RefQ3K>(q3_k_unpack_row, a, m, W, row_bytes, C, ldc, j0, j1);
}

namespace {
// the layout of q3_k.h as fields (packed.h)
const std::vector<PackField>& q3_k_fields() {
  static const std::vector<PackField> f = [] {
    std::vector<PackField> v = {{(int)offsetof(BlockQ3K, d), 0, 2, 2}};
    for (int j = 0; j < 12; j++) v.push_back({(int)offsetof(BlockQ3K, scales) + j, 32 + 16 * j, 1, 1});
    for (int l = 0; l < 8; l++) v.push_back({(int)offsetof(BlockQ3K, hmask) + 4 * l, 224 + 64 * l, 4, 4});
    for (int c = 0; c < 16; c++) v.push_back({(int)offsetof(BlockQ3K, qs) + 4 * c, 736 + 64 * c, 4, 4});  // c = 8j + l
    return v;
  }();
  return f;
}
}  // namespace

void q3_k_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out) {
  pack_groups(q3_k_fields().data(), (int)q3_k_fields().size(), sizeof(BlockQ3K), rows, n, row_bytes, out);
}

void q3_k_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row) {
  unpack_group_row(q3_k_fields().data(), (int)q3_k_fields().size(), sizeof(BlockQ3K), packed, j, row_bytes, row);
}

void q3_k_dequantize_row(const uint8_t* row, int64_t cols, float* out) {
  ggml_dequantize(kGgmlQ3_K, row, (size_t)(cols / kQK_K) * sizeof(BlockQ3K), out, cols);
}

}  // namespace lowbit
