// IQ4_XS, AVX-512 VNNI (semantics: formats/iq4_xs.h; bit for bit equal to the reference).
// Compiled with -mavx512f/bw/vl/vnni ... -ffp-contract=off (lowbit_ggml_avx512); the byte dot products by vpdpbusd.
// On the packed storage (iq4_xs.h); the kernel is shared with the other ISA (formats/iq4_xs_x86.h).
#include "formats/iq4_xs.h"

#include "formats/iq4_xs_x86.h"

namespace lowbit {

void matmul_iq4_xs_avx512(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                     int64_t j1) {
  iq4xs_packed_run<IQ4NLLanesAvx512>(a, m, W, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
