// What the two int4 formats (q4: w4a16, q4a8: w4a8) share: the packed int4
// layout of kernels/kernels.h (CH = 32 elements = 16 bytes per row-chunk, the
// 4 rows of a group's chunk together; byte b holds element b in its low nibble
// and b + 16 in its high one) and groups along k.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "weights.h"
#include "weights_shard.h"

namespace lowbit {

// The int4 part of a weight: group size along k (divides kp).
struct Int4Weight : Weight {
  int64_t group = 0;
  int64_t ngroups() const { return group ? kp / group : 0; }
};

// kp and group for a group request (0 = per channel: one group of kp): k is
// padded with zero columns to whole groups (their activations are zero too).
inline void int4_layout(Int4Weight& w, int64_t group) {
  if (group % 32) throw std::invalid_argument(w.name + ": int4 group size must be a multiple of 32");
  w.kp = group ? pad_to(w.cols, group) : pad_to(w.cols, 32);
  w.group = group ? group : w.kp;
  if (w.kp % w.group)
    throw std::invalid_argument(w.name + ": group size " + std::to_string(w.group) + " does not divide the input dimension " +
                                std::to_string(w.cols));
}

// A given grid (GPTQ / AWQ) must hold rows x groups scales and offsets.
inline void int4_check_grid(const Weight& w, const WSpec& s, int64_t ngroups) {
  if (s.grid && (!s.matrix || s.grid->n != (size_t)w.rows * (size_t)ngroups))
    throw std::invalid_argument(w.name + ": a given int4 grid needs a q4 / q4a8 matrix and rows * groups scales");
}

inline size_t int4_code_bytes(const Weight& w) { return (size_t)pad_to(w.rows, kGroupRows) * (size_t)w.kp / 2; }

// Scatters row j's codes (kp of them, in [0, 15]) into the packed layout.
inline void int4_pack_row(const uint8_t* codes, int64_t j, int64_t kp, uint8_t* data) {
  const int64_t nch = kp / 32;
  uint8_t* base = data + (j / 4) * nch * 64 + (j % 4) * 16;
  for (int64_t c = 0; c < nch; c++)
    for (int64_t b = 0; b < 16; b++) base[c * 64 + b] = (uint8_t)(codes[c * 32 + b] | (codes[c * 32 + b + 16] << 4));
}

// The two formats' shard (weights_shard.h): rows, or whole groups of columns. The codes are
// copied here; copy(t, j, g, from_row, from_group) then copies the scales of group g of the
// shard t's row j (each format has its own scale layout).
template <class Copy>
std::unique_ptr<Weight> int4_shard(const Weight& w, const WeightShard& s, Copy copy) {
  const int64_t group = static_cast<const Int4Weight&>(w).group;
  check_shard_unit(w, s, group, "groups");
  std::unique_ptr<Weight> t = shard_layout(w, s);
  std::vector<uint8_t> row((size_t)t->kp);
  const int64_t c0 = shard_col0(s), tg = static_cast<const Int4Weight&>(*t).ngroups();
  for (int64_t j = 0; j < t->rows; j++) {
    for (int64_t p = 0; p < t->kp; p++) row[p] = (uint8_t)q4_code_at(w.data.as<uint8_t>(), shard_row(s, j), c0 + p, w.kp);
    int4_pack_row(row.data(), j, t->kp, t->data.as<uint8_t>());
    for (int64_t g = 0; g < tg; g++) copy(*t, j, g, shard_row(s, j), c0 / group + g);
  }
  return t;
}

}  // namespace lowbit
