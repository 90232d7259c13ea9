// AVX2 int4-weight x int8-activation matmuls (w4a8, float and integer group
// scales). Semantics: kernels.h and q4a8_ref.cc. Compiled with -mavx2.
//
// A tile is MT activation rows x one row group (4 weight rows). Per 32-column
// chunk the 64 bytes of the row group are split into low and high nibbles
// (codes u = q + 8 in [0, 15], unsigned) and multiplied with the int8
// activations by vpmaddubsw (u8 x s8 -> s16 pairs, |pair| <= 2 * 15 * 127):
// the low nibbles of a row-chunk are elements 0..15, matched by activations
// 0..15 broadcast to both 128-bit lanes, the high nibbles by 16..31. Pairs are
// summed in int16 over up to 4 chunks (|sum| <= 4 * 2 * 3810 = 30480 < 2^15,
// hence group <= 128), then widened by vpmaddwd with ones to 8 int32 lanes,
// 4 per weight row. At a group end each lane gets - 2 * isum[g] (the 4 lanes
// of a row then hold sum (u - 8) * a = d exactly) and is
//   float scales:   converted to f32 and FMA'd with s[j, g]       (fac)
//   integer scales: multiplied by si[j, g] in int32 (vpmulld)    (iac)
// so the integer-scale path has no int-to-float conversion per group. Lanes
// of a row are summed once per tile (hadd), then scaled by sa[i] (and
// 1/alpha). Row-group scales are one 16-byte load, spread to lanes by vpermd.
#include <immintrin.h>

#include "q4a8_tiling.h"
#include "x86.h"

namespace lowbit {
namespace {

// {sum lanes 0-3 of v01, lanes 4-7 of v01, lanes 0-3 of v23, lanes 4-7 of v23}
inline __m128i hsum_rows_i32(__m256i v01, __m256i v23) {
  const __m256i h = _mm256_hadd_epi32(v01, v23);  // r0 r0 r2 r2 | r1 r1 r3 r3
  const __m256i h2 = _mm256_hadd_epi32(h, h);     // r0 r2 r0 r2 | r1 r3 r1 r3
  return _mm_unpacklo_epi32(_mm256_castsi256_si128(h2), _mm256_extracti128_si256(h2, 1));
}
inline __m128 hsum_rows_f32(__m256 v01, __m256 v23) {
  const __m256 h = _mm256_hadd_ps(v01, v23);
  const __m256 h2 = _mm256_hadd_ps(h, h);
  return _mm_unpacklo_ps(_mm256_castps256_ps128(h2), _mm256_extractf128_ps(h2, 1));
}

// One tile: activation rows [i0, i0 + MT) x the row group starting at row j.
template <int MT, bool IS, class SC>
inline void tile(const Q4a8Args<IS, SC>& p, int64_t i0, int64_t j, int64_t ncols) {
  const int8_t* A = p.A;
  const int64_t lda = p.lda, ng = p.kp / p.group, cpg = p.group / 32;
  const int32_t* isum = p.isum;
  const __m256i m15 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
  const __m256i idx01 = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1), idx23 = _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3);
  const uint8_t* w = p.codes(j);
  const SC* srg = p.scales(j);
  // per tile row t: accumulators of rows 0-1 and 2-3 (float or int32 bits)
  __m256i acc01[MT], acc23[MT];
  for (int t = 0; t < MT; t++) acc01[t] = acc23[t] = _mm256_setzero_si256();
  const int8_t* ap = A + i0 * lda;
  for (int64_t g = 0; g < ng; g++) {
    __m256i d01[MT], d23[MT];
    for (int t = 0; t < MT; t++) d01[t] = d23[t] = _mm256_setzero_si256();
    for (int64_t c = 0; c < cpg; c++, w += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(w) + kQ4a8Prefetch, _MM_HINT_T0);
      const int64_t off = (g * cpg + c) * 32;
      const __m256i w01 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
      const __m256i w23 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32));
      const __m256i lo01 = _mm256_and_si256(w01, m15), hi01 = _mm256_and_si256(_mm256_srli_epi16(w01, 4), m15);
      const __m256i lo23 = _mm256_and_si256(w23, m15), hi23 = _mm256_and_si256(_mm256_srli_epi16(w23, 4), m15);
      for (int t = 0; t < MT; t++) {
        const int8_t* a = ap + t * lda + off;
        const __m256i alo = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a)));
        const __m256i ahi = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 16)));
        d01[t] = _mm256_add_epi16(d01[t], _mm256_add_epi16(_mm256_maddubs_epi16(lo01, alo), _mm256_maddubs_epi16(hi01, ahi)));
        d23[t] = _mm256_add_epi16(d23[t], _mm256_add_epi16(_mm256_maddubs_epi16(lo23, alo), _mm256_maddubs_epi16(hi23, ahi)));
      }
    }
    const __m256i s4 = _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(srg + g * 4)));
    const __m256i s01 = _mm256_permutevar8x32_epi32(s4, idx01), s23 = _mm256_permutevar8x32_epi32(s4, idx23);
    for (int t = 0; t < MT; t++) {
      const __m256i corr = _mm256_set1_epi32(2 * isum[(i0 + t) * ng + g]);
      const __m256i e01 = _mm256_sub_epi32(_mm256_madd_epi16(d01[t], ones), corr);
      const __m256i e23 = _mm256_sub_epi32(_mm256_madd_epi16(d23[t], ones), corr);
      if (IS) {
        acc01[t] = _mm256_add_epi32(acc01[t], _mm256_mullo_epi32(e01, s01));
        acc23[t] = _mm256_add_epi32(acc23[t], _mm256_mullo_epi32(e23, s23));
      } else {
        acc01[t] = _mm256_castps_si256(_mm256_fmadd_ps(_mm256_cvtepi32_ps(e01), _mm256_castsi256_ps(s01), _mm256_castsi256_ps(acc01[t])));
        acc23[t] = _mm256_castps_si256(_mm256_fmadd_ps(_mm256_cvtepi32_ps(e23), _mm256_castsi256_ps(s23), _mm256_castsi256_ps(acc23[t])));
      }
    }
  }
  for (int t = 0; t < MT; t++) {
    const int64_t i = i0 + t;
    const __m128 h = IS ? _mm_cvtepi32_ps(hsum_rows_i32(acc01[t], acc23[t]))
                        : hsum_rows_f32(_mm256_castsi256_ps(acc01[t]), _mm256_castsi256_ps(acc23[t]));
    store_cols4(p.C + i * p.ldc + j, _mm_mul_ps(h, _mm_set1_ps(p.out_scale(i))), ncols);
  }
}

// Tiles of 1 or 2 activation rows x one row group; blocks of row groups stay
// in cache while pairs of activation rows sweep them.
struct Avx2Q4a8 {
  static constexpr int kTokens = 2;
  static constexpr int64_t kCols = 4;
  template <bool IS, class SC>
  static void tiles(const Q4a8Args<IS, SC>& p, int64_t i, int64_t mt, int64_t j, int64_t ncols) {
    if (mt == 2) tile<2>(p, i, j, ncols);
    else tile<1>(p, i, j, ncols);
  }
};

}  // namespace

LOWBIT_Q4A8_MATMULS(avx2, Avx2Q4a8)

}  // namespace lowbit
