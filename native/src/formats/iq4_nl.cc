// IQ4_NL: the scalar reference matmul (the definition in iq4_nl.h), the
// packed storage and row dequantization. Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml).
#include "formats/iq4_nl.h"

#include <cstring>
#include <vector>

#include "formats/kquant_tiling.h"
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

// the packed rows [j0, j1) back as GGUF rows, then the definition on them
void matmul_iq4_nl_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                       int64_t j0, int64_t j1) {
  if (j1 <= j0) return;
  std::vector<uint8_t> rows((size_t)((j1 - j0) * row_bytes));
  for (int64_t j = j0; j < j1; j++) iq4_nl_unpack_row(W, j, row_bytes, rows.data() + (j - j0) * row_bytes);
  kquant_run<RefIQ4NL>(a, m, rows.data() - j0 * row_bytes, row_bytes, C, ldc, j0, j1);
}

namespace {
// row r's block x <-> its places in a group's block g (iq4_nl.h); to_packed: x -> g, else g -> x
template <bool to_packed>
inline void iq4_nl_move_block(uint8_t* g, int64_t r, uint8_t* x) {
  auto mv = [&](int64_t goff, int64_t xoff, size_t n) {
    if (to_packed) std::memcpy(g + goff, x + xoff, n);
    else std::memcpy(x + xoff, g + goff, n);
  };
  mv(2 * r, 0, 2);  // d
  for (int64_t c = 0; c < 4; c++) mv(32 + 64 * c + 4 * r, 2 + 4 * c, 4);
}
}  // namespace

void iq4_nl_pack(const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out) {
  const int64_t nb = row_bytes / (int64_t)sizeof(BlockIQ4NL), full = n / kIQ4NLRows * kIQ4NLRows;
  const int64_t groups = (n + kIQ4NLRows - 1) / kIQ4NLRows;
  std::memset(out + full * row_bytes, 0, (size_t)((groups * kIQ4NLRows - full) * row_bytes));
  for (int64_t j = 0; j < n; j++) {
    uint8_t* g = out + (j / kIQ4NLRows) * kIQ4NLRows * row_bytes;
    for (int64_t b = 0; b < nb; b++)
      iq4_nl_move_block<true>(g + b * kIQ4NLGroupBlock, j % kIQ4NLRows,
                              const_cast<uint8_t*>(rows + j * row_bytes + b * (int64_t)sizeof(BlockIQ4NL)));
  }
}

void iq4_nl_unpack_row(const uint8_t* packed, int64_t j, int64_t row_bytes, uint8_t* row) {
  const int64_t nb = row_bytes / (int64_t)sizeof(BlockIQ4NL);
  uint8_t* g = const_cast<uint8_t*>(packed) + (j / kIQ4NLRows) * kIQ4NLRows * row_bytes;
  for (int64_t b = 0; b < nb; b++)
    iq4_nl_move_block<false>(g + b * kIQ4NLGroupBlock, j % kIQ4NLRows, row + b * (int64_t)sizeof(BlockIQ4NL));
}

void iq4_nl_dequantize_row(const uint8_t* row, int64_t cols, float* out) {
  ggml_dequantize(kGgmlIQ4_NL, row, (size_t)(cols / 32) * sizeof(BlockIQ4NL), out, cols);
}

}  // namespace lowbit
