// Q4_K x Q8_K, AVX-512 VNNI (semantics: q4_k.h; bit for bit equal to q4_k.cc).
// Compiled with -mavx512f/bw/vl/vnni ... -ffp-contract=off (lowbit_ggml_avx512).
// The 32 code bytes of sub-blocks 2g, 2g + 1 become one zmm of 64 u8 codes in
// element order (low nibbles, then high nibbles), matching 64 contiguous
// activation bytes: vpdpbusd gives 16 exact int32 lanes of 4 products (<= 7620,
// so each fits int16), vpmaddwd by (scale, 0) pairs scales them; the lanes are
// reduced to the pair sums P[g]; then the reference's scalar FMAs
// (q4_k_accumulate).
#include "formats/q4_k_x86.h"
#include "kernels/kernels.h"

namespace lowbit {

void matmul_q4_k_avx512(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                        int64_t j0, int64_t j1) {
  kquant_run<KqQ4KTiles<KqPairsAvx512>>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
