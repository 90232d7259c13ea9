// AVX-512 VNNI int4-weight x int8-activation matmuls (w4a8, float and integer
// group scales). Semantics: kernels.h and q4a8_ref.cc. Compiled with
// -mavx512f/bw/vl/vnni; called only when CPUID reports them.
//
// A tile is MT activation rows x NR row groups (4 weight rows each). Per
// 32-column chunk one 64-byte load holds a row group's 4 row-chunks; its low
// nibbles (codes u = q + 8 of elements 0..15 of each row) and high nibbles
// (elements 16..31) feed vpdpbusd (u8 x s8, 4 products summed into each
// int32 lane) against activations 0..15 / 16..31 broadcast to the four
// 128-bit lanes. Lanes 4r..4r+3 belong to weight row r. At a group end each
// lane gets - 2 * isum[g] (a row's 4 lanes then sum to d exactly) and is
//   float scales:   converted to f32 and FMA'd with s[j, g]
//   integer scales: multiplied by si[j, g] (vpmulld) and added in int32
// Each row's 4 lanes are summed once per tile, then scaled by sa[i] (and
// 1/alpha for integer scales).
#include <immintrin.h>

#include <algorithm>

#include "q4a8_tiling.h"

namespace lowbit {
namespace {

// Sums of each 128-bit lane's 4 int32 / f32 elements: {r0, r1, r2, r3}.
inline __m128i lane_sums_i32(__m512i v) {
  v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_BADC));
  v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_CDAB));
  return _mm512_castsi512_si128(_mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), v));
}
inline __m128 lane_sums_f32(__m512 v) {
  v = _mm512_add_ps(v, _mm512_permute_ps(v, 0x4E));  // swap 64-bit halves of each lane
  v = _mm512_add_ps(v, _mm512_permute_ps(v, 0xB1));  // swap neighbours
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), v));
}

inline void store_cols(float* C, __m128 v, int64_t ncols) {
  if (ncols >= 4) {
    _mm_storeu_ps(C, v);
    return;
  }
  if (ncols > 0) _mm_mask_storeu_ps(C, (__mmask8)((1u << ncols) - 1), v);
}

// Tile: activation rows [i0, i0 + MT) x row groups starting at row j (NR of
// them; ncols valid rows in all, counted from j).
template <int MT, int NR, bool IS, class SC>
inline void tile(const Q4a8Args<IS, SC>& p, int64_t i0, int64_t j, int64_t ncols) {
  const int8_t* A = p.A;
  const int64_t lda = p.lda, ng = p.kp / p.group, cpg = p.group / 32;
  const int32_t* isum = p.isum;
  const __m512i m15 = _mm512_set1_epi8(15);
  const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  const uint8_t* w[NR];
  const SC* srg[NR];
  for (int r = 0; r < NR; r++) {
    w[r] = p.codes(j + 4 * r);
    srg[r] = p.scales(j + 4 * r);
  }
  __m512i acc[MT][NR];
  for (int t = 0; t < MT; t++)
    for (int r = 0; r < NR; r++) acc[t][r] = _mm512_setzero_si512();
  const int8_t* ap = A + i0 * lda;
  for (int64_t g = 0; g < ng; g++) {
    __m512i d[MT][NR];
    for (int t = 0; t < MT; t++)
      for (int r = 0; r < NR; r++) d[t][r] = _mm512_setzero_si512();
    for (int64_t c = 0; c < cpg; c++) {
      const int64_t ch = g * cpg + c;
      __m512i lo[NR], hi[NR];
      for (int r = 0; r < NR; r++) {
        const uint8_t* wp = w[r] + ch * 64;
        _mm_prefetch(reinterpret_cast<const char*>(wp) + kQ4a8Prefetch, _MM_HINT_T0);
        const __m512i x = _mm512_loadu_si512(wp);
        lo[r] = _mm512_and_si512(x, m15);
        hi[r] = _mm512_and_si512(_mm512_srli_epi16(x, 4), m15);
      }
      for (int t = 0; t < MT; t++) {
        const int8_t* a = ap + t * lda + ch * 32;
        const __m512i alo = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a)));
        const __m512i ahi = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 16)));
        for (int r = 0; r < NR; r++) {
          d[t][r] = _mm512_dpbusd_epi32(d[t][r], lo[r], alo);
          d[t][r] = _mm512_dpbusd_epi32(d[t][r], hi[r], ahi);
        }
      }
    }
    for (int r = 0; r < NR; r++) {
      const __m512i s16 =
          _mm512_permutexvar_epi32(spread, _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(srg[r] + g * 4))));
      for (int t = 0; t < MT; t++) {
        const __m512i e = _mm512_sub_epi32(d[t][r], _mm512_set1_epi32(2 * isum[(i0 + t) * ng + g]));
        if (IS) acc[t][r] = _mm512_add_epi32(acc[t][r], _mm512_mullo_epi32(e, s16));
        else
          acc[t][r] = _mm512_castps_si512(
              _mm512_fmadd_ps(_mm512_cvtepi32_ps(e), _mm512_castsi512_ps(s16), _mm512_castsi512_ps(acc[t][r])));
      }
    }
  }
  for (int t = 0; t < MT; t++) {
    const int64_t i = i0 + t;
    for (int r = 0; r < NR; r++) {
      const __m128 h = IS ? _mm_cvtepi32_ps(lane_sums_i32(acc[t][r])) : lane_sums_f32(_mm512_castsi512_ps(acc[t][r]));
      store_cols(p.C + i * p.ldc + j + 4 * r, _mm_mul_ps(h, _mm_set1_ps(p.out_scale(i))), std::min<int64_t>(4, ncols - 4 * r));
    }
  }
}

// Tiles of 1, 2 or 4 activation rows (3: a 2-row and a 1-row tile) x 8 weight
// rows (two row groups; a column block's last 4 or fewer by a tile of one).
struct Avx512Q4a8 {
  static constexpr int kTokens = 4;
  static constexpr int64_t kCols = 8;
  template <int MT, bool IS, class SC>
  static void cols(const Q4a8Args<IS, SC>& p, int64_t i, int64_t j, int64_t ncols) {
    if (ncols == 8) return tile<MT, 2>(p, i, j, 8);
    tile<MT, 1>(p, i, j, std::min<int64_t>(4, ncols));
    if (ncols > 4) tile<MT, 1>(p, i, j + 4, ncols - 4);
  }
  template <bool IS, class SC>
  static void tiles(const Q4a8Args<IS, SC>& p, int64_t i, int64_t mt, int64_t j, int64_t ncols) {
    if (mt == 4) return cols<4>(p, i, j, ncols);
    if (mt >= 2) cols<2>(p, i, j, ncols);
    if (mt != 2) cols<1>(p, i + mt - 1, j, ncols);
  }
};

}  // namespace

LOWBIT_Q4A8_MATMULS(avx512, Avx512Q4a8)

}  // namespace lowbit
