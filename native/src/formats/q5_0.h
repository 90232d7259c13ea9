// GGUF Q5_0: the layout, activations (Q8_0) and matmul arithmetic are in
// formats/legacy.h (shared by Q4_1, Q5_0, Q5_1).
#pragma once
#include <cstdint>

#include "formats/kquant.h"
#include "formats/legacy.h"

namespace lowbit {

void q5_0_dequantize_row(const uint8_t* row, int64_t cols, float* out);
KQ_DECLARE_MATMULS(q5_0);

}  // namespace lowbit
