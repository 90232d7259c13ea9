// Q5_K x Q8_K, AVX2 (semantics: q5_k.h; bit for bit equal to q5_k.cc).
// Compiled with -mavx2 -mfma -mf16c -ffp-contract=off (lowbit_ggml_avx2).
// As llama.cpp's AVX2 ggml_vec_dot_q5_K_q8_K: per pair g of sub-blocks one
// 32-byte load of low nibbles (sub-block 2g low, 2g + 1 high) plus the fifth
// bits from qh; vpmaddubsw (u5 x s8 pairs, <= 7874: no saturation) and
// vpmaddwd by the sub-block scale accumulate exact int32 lanes (bytes
// [4l, 4l + 4) of every 32-byte chunk); one FMA per lane per super-block; the
// mins term by a scalar FMA; the lanes summed in the reference's order.
#include "formats/q5_k_x86.h"
#include "kernels/kernels.h"

namespace lowbit {

void matmul_q5_k_avx2(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                      int64_t j1) {
  kquant_run<KqQ5KTiles<KqPairsAvx2>>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
