// IQ4_XS: the scalar reference matmul (the definition in iq4_xs.h), the
// packed storage and row dequantization. Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/iq4_xs.h"

#include <cstddef>
#include <cstring>
#include <vector>

#include "formats/iq4_nl.h"
#include "formats/kquant_tiling.h"
#include "formats/packed.h"
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

// the packed rows back as GGUF rows, then the definition on them
void matmul_iq4_xs_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                       int64_t j0, int64_t j1) {
  if (m >= kIq4xsPanelMinTokens) kq_ref_on_packed<RefIQ4XS<true>>(iq4_xs_unpack_row, a, m, W, row_bytes, C, ldc, j0, j1);
  else kq_ref_on_packed<RefIQ4XS<false>>(iq4_xs_unpack_row, a, m, W, row_bytes, C, ldc, j0, j1);
}

namespace {
// the layout of iq4_xs.h as fields (packed.h)
const std::vector<PackField>& iq4_xs_fields() {
  static const std::vector<PackField> f = [] {
    std::vector<PackField> v = {{(int)offsetof(BlockIQ4XS, d), 0, 2, 2}, {(int)offsetof(BlockIQ4XS, scales_h), 32, 2, 2},
                                {(int)offsetof(BlockIQ4XS, scales_l), 64, 4, 4}};
    for (int c = 0; c < 32; c++) v.push_back({(int)offsetof(BlockIQ4XS, qs) + 4 * c, 128 + 64 * c, 4, 4});
    return v;
  }();
  return f;
}
}  // namespace

void iq4_xs_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out) {
  pack_groups(iq4_xs_fields().data(), (int)iq4_xs_fields().size(), sizeof(BlockIQ4XS), rows, n, row_bytes, out);
}

void iq4_xs_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row) {
  unpack_group_row(iq4_xs_fields().data(), (int)iq4_xs_fields().size(), sizeof(BlockIQ4XS), packed, j, row_bytes, row);
}

void iq4_xs_dequantize_row(const uint8_t* row, int64_t cols, float* out) {
  ggml_dequantize(kGgmlIQ4_XS, row, (size_t)(cols / kQK_K) * sizeof(BlockIQ4XS), out, cols);
}

}  // namespace lowbit
