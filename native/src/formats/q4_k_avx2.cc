// Q4_K x Q8_K, AVX2 (semantics: q4_k.h; bit for bit equal to q4_k.cc).
// Compiled with -mavx2 -mfma -mf16c -ffp-contract=off (lowbit_ggml_avx2).
// Per super-block and token: each 32-byte code load holds sub-blocks 2g (low
// nibbles) and 2g + 1 (high nibbles); vpmaddubsw (u4 x s8 pairs, <= 3810: no
// saturation) then vpmaddwd by the sub-block scale gives exact int32 lanes,
// reduced (vphaddd) to the pair sums P[g]; M[g] from the activation 16-sums;
// then the reference's scalar FMAs (q4_k_accumulate).
#include "formats/q4_k_x86.h"
#include "kernels/kernels.h"

namespace lowbit {

void matmul_q4_k_avx2(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                      int64_t j1) {
  kquant_run<KqQ4KTiles<KqPairsAvx2>>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
