// The parts of the w4a8 matmuls (kernels.h, matmul_q4a8 / matmul_q4a8_is)
// that do not depend on the instruction set, shared by q4a8_avx2.cc and
// q4a8_avx512.cc (internal linkage: see tiling.h): the operands every tile
// reads, the sweep of column blocks by token tiles, and the two entry points.
// An ISA file supplies only its tiles, as a class K with
//   K::kTokens  the most activation rows of one tile,
//   K::kCols    the weight rows (a multiple of 4: whole row groups) one tile covers,
//   K::tiles(p, i, mt, j, ncols): C[i .. i + mt, j .. j + ncols) (mt <= kTokens,
//               ncols <= kCols; ncols < kCols only at a column block's end).
#pragma once
#include <cstdint>

#include "kernels.h"
#include "tiling.h"

namespace lowbit {
namespace {

constexpr int64_t kQ4a8Prefetch = 1024;      // bytes ahead in the weight stream
constexpr int64_t kQ4a8BlockRowGroups = 16;  // row groups kept hot while token tiles sweep them

// One matmul's operands. IS: integer group scales (SC = int32_t, the result
// times 1/alpha); else float scales (SC = float, inv_alpha 1).
template <bool IS, class SC>
struct Q4a8Args {
  const int8_t* A;
  int64_t lda;
  const float* sa;
  const int32_t* isum;
  const uint8_t* W;
  const SC* sc;
  float inv_alpha;
  float* C;
  int64_t ldc;
  int64_t kp, group;

  // The row group holding weight row j (j a multiple of 4): its kp / 32
  // 64-byte chunks, and its scales (4 per group, q4a8_scale_index).
  const uint8_t* codes(int64_t j) const { return W + (j / 4) * (kp / 32) * 64; }
  const SC* scales(int64_t j) const { return sc + (j / 4) * (kp / group) * 4; }
  // The factor of activation row i's integer dots (after the group scales).
  float out_scale(int64_t i) const { return IS ? sa[i] * inv_alpha : sa[i]; }
};

// Columns [j0, j1) in blocks of kQ4a8BlockRowGroups row groups, each swept by
// K's tiles of up to K::kTokens activation rows (m rows in all).
template <class K, bool IS, class SC>
void q4a8_run(const Q4a8Args<IS, SC>& p, int64_t m, int64_t j0, int64_t j1) {
  sweep_tiles<K::kTokens>(m, j0, j1, kQ4a8BlockRowGroups * 4, K::kCols,
                          [&](int64_t i, int64_t mt, int64_t j, int64_t nc) { K::tiles(p, i, mt, j, nc); });
}

}  // namespace
}  // namespace lowbit

// Defines kernels.h's matmul_q4a8_<isa> and matmul_q4a8_is_<isa> on K's tiles
// (at namespace lowbit scope).
#define LOWBIT_Q4A8_MATMULS(isa, K)                                                                                  \
  void matmul_q4a8_##isa(const int8_t* A, int64_t lda, const float* sa, const int32_t* isum, const uint8_t* W,      \
                         const float* s, float* C, int64_t ldc, int64_t m, int64_t j0, int64_t j1, int64_t kp,      \
                         int64_t group) {                                                                          \
    q4a8_run<K>(Q4a8Args<false, float>{A, lda, sa, isum, W, s, 1.0f, C, ldc, kp, group}, m, j0, j1);               \
  }                                                                                                                \
  void matmul_q4a8_is_##isa(const int8_t* A, int64_t lda, const float* sa, const int32_t* isum, const uint8_t* W,   \
                            const int32_t* si, float inv_alpha, float* C, int64_t ldc, int64_t m, int64_t j0,      \
                            int64_t j1, int64_t kp, int64_t group) {                                               \
    q4a8_run<K>(Q4a8Args<true, int32_t>{A, lda, sa, isum, W, si, inv_alpha, C, ldc, kp, group}, m, j0, j1);        \
  }
