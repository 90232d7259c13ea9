// The K-quant family as weight formats (formats/kquant.h): one row of the
// weight-format table per K-quant type (Q2_K..Q6_K, Q4_1, Q5_0, Q5_1, IQ4_NL,
// IQ4_XS), all with these functions, the type in WeightFormat::kq.
//
// Storage: the GGUF blocks unchanged, row-major [rows][cols / block_elems]
// blocks (exactly the file's tensor bytes), or, for a type whose row names a
// pack (all but Q5_K, Q6_K), the same bytes moved into its groups of
// 16 rows (plus the last group's padding rows). Loaded only from blocks of the
// same type. Not saved (a GGUF file already holds these blocks).
#pragma once
#include "weights.h"

namespace lowbit {

// bytes of one row of GGUF blocks
inline int64_t kq_row_bytes(const Weight& w) { return w.cols / w.fmt->kq->block_elems * w.fmt->kq->block_bytes; }

void kquant_layout(Weight& w, const WSpec& s);
void kquant_fill(Weight& w, const WSpec& s, SrcDtype src, const void* data);
size_t kquant_bytes(const Weight& w);
void kquant_row(const Weight& w, int64_t r, float* out);
bool kquant_same_act(const Weight& a, const Weight& b);
extern const FormatOps kKQuantOps;

}  // namespace lowbit
