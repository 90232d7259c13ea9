// Q5_K x Q8_K, AVX-512 VNNI (semantics: q5_k.h; bit for bit equal to q5_k.cc).
// Compiled with -mavx512f/bw/vl/vnni ... -ffp-contract=off (lowbit_ggml_avx512).
// Sub-blocks 2g, 2g + 1 become one zmm of 64 u5 codes in element order,
// matching 64 contiguous activation bytes; vpdpbusd gives 16 exact int32
// lanes of 4 products (<= 15748, so each fits int16), vpmaddwd by (scale, 0)
// pairs scales them; folding the upper 8 lanes onto the lower 8 gives the
// reference's lanes (bytes [4l, 4l + 4) of every chunk); then one FMA per lane,
// the mins term by a scalar FMA and the reference's final sum.
#include "formats/q5_k_x86.h"
#include "kernels/kernels.h"

namespace lowbit {

void matmul_q5_k_avx512(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                        int64_t j0, int64_t j1) {
  kquant_run<KqQ5KTiles<KqPairsAvx512>>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
