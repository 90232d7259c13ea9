// GGUF Q5_1: the layout, activations (Q8_1) and matmul arithmetic are in
// formats/legacy.h (shared by Q4_1, Q5_0, Q5_1).
#pragma once
#include <cstdint>

#include "formats/kquant.h"
#include "formats/legacy.h"

namespace lowbit {

void q5_1_dequantize_row(const uint8_t* row, int64_t cols, float* out);
void matmul_q5_1_ref(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                     int64_t j1);
#if defined(__x86_64__)
void matmul_q5_1_avx2(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                      int64_t j1);
void matmul_q5_1_avx512(const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc,
                        int64_t j0, int64_t j1);
#endif

}  // namespace lowbit
