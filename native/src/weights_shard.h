// One rank's part of a stored weight under tensor parallelism (which part:
// src/parallel/shard.ts): rows [start, start + count) of a matrix, or columns
// [start, start + count) of every row (a vector: its elements). A saved
// quantized model loads under --tp by importing each weight as its file stores
// it and keeping this part (src/saved/tp.ts): the same codes and scales the
// single-process model holds there, bit for bit. A q8 row-parallel shard keeps
// each whole row's scale (its int32 partial sums add up over the ranks to the
// whole dot product); sums of codes (q8 wsum) are the shard's own.
//
// Each format declares its shard in its row (formats/format.h
// WeightFormat::shard; nullptr: it cannot be split). A column shard must hold
// whole groups / blocks of its format (checked here too; the loader checks
// first, with the message that names the requirement: shard.ts checkGroupSplit).
#pragma once
#include <cstdint>
#include <memory>

#include "weights.h"

namespace lowbit {

struct WeightShard {
  bool cols = false;  // columns (a vector's elements) instead of rows
  int64_t start = 0, count = 0;
};

// w's shard as a new weight of the same format and parameters (checked as an
// imported weight is). Throws std::invalid_argument when the format has no
// shard, the range lies outside w or a column shard splits a group / block.
std::unique_ptr<Weight> shard_weight(const Weight& w, const WeightShard& s);

// For the formats' shard functions:
// the shard's weight of w's format and parameters, laid out for its shape,
// every buffer of its save layout allocated and zeroed (padding stays zero)
std::unique_ptr<Weight> shard_layout(const Weight& w, const WeightShard& s);
// the row of w that row j of the shard is, and the column of w its column 0 is
inline int64_t shard_row(const WeightShard& s, int64_t j) { return s.cols ? j : s.start + j; }
inline int64_t shard_col0(const WeightShard& s) { return s.cols ? s.start : 0; }
// a column shard holds whole units of `unit` columns (groups, blocks)
void check_shard_unit(const Weight& w, const WeightShard& s, int64_t unit, const char* what);
// data of a packed matrix (kernels.h packed_index, `eb` bytes per element, CH =
// 64 / eb) or of a plain vector: the shard's elements from w.data into t.data
// (the int4 formats' codes: formats/int4.h int4_shard)
void shard_packed(const Weight& w, Weight& t, const WeightShard& s, int64_t eb);

}  // namespace lowbit
