// GGUF Q4_1: the layout, activations (Q8_1) and matmul arithmetic are in
// formats/legacy.h (shared by Q4_1, Q5_0, Q5_1).
#pragma once
#include <cstdint>

#include "formats/kquant.h"
#include "formats/legacy.h"

namespace lowbit {

void q4_1_dequantize_row(const uint8_t* row, int64_t cols, float* out);
KQ_DECLARE_MATMULS(q4_1);

}  // namespace lowbit
