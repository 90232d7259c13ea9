// IQ4_NL: the scalar reference matmul (the definition in iq4_nl.h), the
// packed storage and row dequantization. Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/iq4_nl.h"

#include <cstring>
#include <vector>

#include "formats/kquant_tiling.h"
#include "formats/packed.h"
#include "ggml_dequant.h"
#include "kernels/kernels.h"

namespace lowbit {

namespace {
struct RefIQ4NL {
  static constexpr int64_t kBlockElems = 32;
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    for (int t = 0; t < MT; t++) {
      const int64_t i = i0 + t;
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; b++) {
        const BlockIQ4NL* x = reinterpret_cast<const BlockIQ4NL*>(w + b * sizeof(BlockIQ4NL));
        const int8_t* qa = a.q + i * a.k + b * 32;
        int32_t sumi = 0;
        for (int e = 0; e < 16; e++)
          sumi += kIq4nlValues[x->qs[e] & 15] * qa[e] + kIq4nlValues[x->qs[e] >> 4] * qa[e + 16];
        acc = __builtin_fmaf((float)sumi, f16_to_f32_scalar(x->d) * a.d[i * nb + b], acc);
      }
      c[t * ldc] = acc;
    }
  }
};
}  // namespace

// the packed rows back as GGUF rows, then the definition on them
void matmul_iq4_nl_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                       int64_t j0, int64_t j1) {
  kq_ref_on_packed<RefIQ4NL>(iq4_nl_unpack_row, a, m, W, row_bytes, C, ldc, j0, j1);
}

namespace {
// the layout of iq4_nl.h as fields (packed.h)
const std::vector<PackField>& iq4_nl_fields() {
  static const std::vector<PackField> f = [] {
    std::vector<PackField> v = {{0, 0, 2, 2}};                               // d
    for (int c = 0; c < 4; c++) v.push_back({2 + 4 * c, 32 + 64 * c, 4, 4});  // qs
    return v;
  }();
  return f;
}
}  // namespace

void iq4_nl_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out) {
  pack_groups(iq4_nl_fields().data(), (int)iq4_nl_fields().size(), sizeof(BlockIQ4NL), rows, n, row_bytes, out);
}

void iq4_nl_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row) {
  unpack_group_row(iq4_nl_fields().data(), (int)iq4_nl_fields().size(), sizeof(BlockIQ4NL), packed, j, row_bytes, row);
}

void iq4_nl_dequantize_row(const uint8_t* row, int64_t cols, float* out) {
  ggml_dequantize(kGgmlIQ4_NL, row, (size_t)(cols / 32) * sizeof(BlockIQ4NL), out, cols);
}

}  // namespace lowbit
