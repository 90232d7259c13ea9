// Packed storage of the GGUF types whose kernels take row groups (KQuantFormat::pack:
// Q2_K, Q3_K, Q4_K, Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS): the blocks' bytes moved, not changed, into groups
// of kPackRows rows (the last group padded with zero rows), so that one SIMD lane
// holds one row. Group G starts at G * kPackRows * row_bytes; within it, block b
// of the kPackRows rows takes kPackRows * block_bytes bytes at b * that, where each
// field of the rows' blocks lies together: a type states its layout as fields,
//   PackField{x, g, n, stride}: the n bytes at offset x of a GGUF block are row
//   r's n bytes at offset g + stride * r of the group's block,
// which together cover the block (each type's header draws its layout).
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "formats/kquant.h"
#include "formats/kquant_tiling.h"

namespace lowbit {

constexpr int64_t kPackRows = 16;

struct PackField {
  int x, g, n, stride;
};

// n GGUF rows (row_bytes each) -> kquant_storage_bytes(n, row_bytes) bytes of groups.
void pack_groups(const PackField* fields, int count, int64_t block_bytes, const uint8_t* rows, int64_t n,
                 int64_t row_bytes, uint8_t* out);
// Row j of the groups -> its GGUF blocks.
void unpack_group_row(const PackField* fields, int count, int64_t block_bytes, const uint8_t* packed, int64_t j,
                      int64_t row_bytes, uint8_t* row);

// A scalar reference on the packed storage: rows [j0, j1) unpacked back to GGUF
// rows, then the reference tile Ref (kquant_tiling.h) on them.
template <class Ref>
inline void kq_ref_on_packed(KUnpackRow unpack, const KAct& a, int64_t m, const uint8_t* W, int64_t row_bytes, float* C,
                             int64_t ldc, int64_t j0, int64_t j1) {
  if (j1 <= j0) return;
  std::vector<uint8_t> rows((size_t)((j1 - j0) * row_bytes));
  for (int64_t j = j0; j < j1; j++) unpack(W, j, row_bytes, rows.data() + (j - j0) * row_bytes);
  kquant_run<Ref>(a, m, rows.data() - j0 * row_bytes, row_bytes, C, ldc, j0, j1);
}

}  // namespace lowbit
