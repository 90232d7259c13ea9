// AVX2 Q4_0 / Q8_0 kernels: activation quantization to Q8_0 blocks and the
// block-wise integer matmuls. Semantics and layout: ggml.h; bit for bit equal
// to ggml_ref.cc. Compiled with -mavx2 -mfma -mf16c -ffp-contract=off.
//
// Tile: MT activation rows x one row group (8 weight rows), all blocks. A
// 64-byte code chunk is two ymm (rows 0-3 and rows 4-7, 8 bytes each); the
// matching 8 activation bytes are broadcast to every 64-bit lane, so int32
// lanes (2r, 2r + 1) of a ymm accumulate row r. Per block:
//   Q4_0: codes u = q + 8 in [0, 15] (nibbles) times int8 activations by
//         vpmaddubsw (u8 x s8 pairs, |pair| <= 2 * 15 * 128), four chunks
//         summed in int16 (<= 15360), widened by vpmaddwd; minus 8 * the
//         block's activation sum gives sum (u - 8) * a.
//         vphaddd of the rows 0-3 and 4-7 accumulators gives the 8 exact block
//         sums in row order 0 1 4 5 2 3 6 7; the weight scales are permuted to
//         that order once per block, the f32 accumulator back once per tile;
//         acc = fma((float)sumi, d_w * d_a, acc) per block and row.
//   Q8_0: sign trick vpmaddubsw(|w|, sign(a, w)) (|pair| <= 2 * 127 * 128;
//         activation codes are in [-127, 127]), widened by vpmaddwd: lanes
//         (2r, 2r + 1) of chunk c are row r's partials 2c and 2c + 1 (bytes
//         [8c, 8c + 4), [8c + 4, 8c + 8)), each converted and FMA'd into its own
//         f32 accumulator (8 per token: 4 chunks x rows 0-3 / 4-7), then
//         summed in the reference's order once per tile. Decode runs whole
//         row groups for one token; prefill halves of a row group (4 rows, 4
//         accumulators per token) for up to 3 tokens, sharing |w|.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "ggml.h"
#include "kernels.h"
#include "ggml_tiling.h"

namespace lowbit {
namespace {

constexpr int64_t kPrefetch = 1024;  // bytes ahead in the code stream

inline __m256i bcast8(const int8_t* p) {
  int64_t v;
  std::memcpy(&v, p, 8);
  return _mm256_set1_epi64x(v);
}
// natural row order <-> vphaddd order (an involution)
inline __m256i row_perm() { return _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7); }
inline __m256 load_scales(const uint16_t* s) {
  return _mm256_permutevar8x32_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s))), row_perm());
}

inline void store_rows(float* C, __m256 acc, int64_t ncols) {
  acc = _mm256_permutevar8x32_ps(acc, row_perm());
  if (ncols == 8) {
    _mm256_storeu_ps(C, acc);
    return;
  }
  alignas(32) float t[8];
  _mm256_store_ps(t, acc);
  for (int64_t c = 0; c < ncols; c++) C[c] = t[c];
}

// Q4_0: w = the row group's codes (nb blocks of 128 bytes), sc = its scales.
template <int MT>
void tile_q4_0(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, int64_t nb, const uint8_t* w,
               const uint16_t* sc, float* C, int64_t ldc, int64_t ncols) {
  const __m256i m15 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
  __m256 acc[MT];
  for (int t = 0; t < MT; t++) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++, w += 128) {
    _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetch, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetch + 64, _MM_HINT_T0);
    // chunk 0 = code bytes 0-7 (elements 0-7 low, 16-23 high), chunk 1 = bytes 8-15 (8-15, 24-31)
    const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));       // chunk 0, rows 0-3
    const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32));  // chunk 0, rows 4-7
    const __m256i x2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 64));  // chunk 1, rows 0-3
    const __m256i x3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 96));  // chunk 1, rows 4-7
    const __m256i l0 = _mm256_and_si256(x0, m15), h0 = _mm256_and_si256(_mm256_srli_epi16(x0, 4), m15);
    const __m256i l1 = _mm256_and_si256(x1, m15), h1 = _mm256_and_si256(_mm256_srli_epi16(x1, 4), m15);
    const __m256i l2 = _mm256_and_si256(x2, m15), h2 = _mm256_and_si256(_mm256_srli_epi16(x2, 4), m15);
    const __m256i l3 = _mm256_and_si256(x3, m15), h3 = _mm256_and_si256(_mm256_srli_epi16(x3, 4), m15);
    const __m256 dw = load_scales(sc + b * kGgmlRows);
    for (int t = 0; t < MT; t++) {
      const int8_t* a = A + t * lda + b * kQK;
      const __m256i a0 = bcast8(a), a1 = bcast8(a + 8), a2 = bcast8(a + 16), a3 = bcast8(a + 24);
      const __m256i s03 = _mm256_add_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(l0, a0), _mm256_maddubs_epi16(l2, a1)),
                                           _mm256_add_epi16(_mm256_maddubs_epi16(h0, a2), _mm256_maddubs_epi16(h2, a3)));
      const __m256i s47 = _mm256_add_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(l1, a0), _mm256_maddubs_epi16(l3, a1)),
                                           _mm256_add_epi16(_mm256_maddubs_epi16(h1, a2), _mm256_maddubs_epi16(h3, a3)));
      __m256i sumi = _mm256_hadd_epi32(_mm256_madd_epi16(s03, ones), _mm256_madd_epi16(s47, ones));
      sumi = _mm256_sub_epi32(sumi, _mm256_set1_epi32(8 * as[t * nb + b]));
      const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(ad[t * nb + b]));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), d, acc[t]);
    }
  }
  for (int t = 0; t < MT; t++) store_rows(C + t * ldc, acc[t], ncols);
}

// Q8_0: w = the row group's codes (nb blocks of 256 bytes), sc = its scales.
// One token per tile: its 8 f32 accumulators fill half the register file.
void tile_q8_0(const int8_t* A, int64_t /*lda*/, const float* ad, const int32_t* /*as*/, int64_t nb, const int8_t* w,
               const uint16_t* sc, float* C, int64_t /*ldc*/, int64_t ncols) {
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i dup03 = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3), dup47 = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
  __m256 acc[4][2];  // [chunk][rows 0-3 / 4-7]: lanes (2r, 2r + 1) = partials (2c, 2c + 1) of row r
  for (int c = 0; c < 4; c++) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc + b * kGgmlRows)));
    const __m256 da = _mm256_set1_ps(ad[b]);
    const __m256 d03 = _mm256_mul_ps(_mm256_permutevar8x32_ps(dw, dup03), da);
    const __m256 d47 = _mm256_mul_ps(_mm256_permutevar8x32_ps(dw, dup47), da);
    for (int c = 0; c < 4; c++, w += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetch, _MM_HINT_T0);
      const __m256i a = bcast8(A + b * kQK + c * 8);
      const __m256i w03 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
      const __m256i w47 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32));
      const __m256i p03 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w03), _mm256_sign_epi8(a, w03)), ones);
      const __m256i p47 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w47), _mm256_sign_epi8(a, w47)), ones);
      acc[c][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p03), d03, acc[c][0]);
      acc[c][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p47), d47, acc[c][1]);
    }
  }
  // ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)): chunk c holds (s2c, s2c+1)
  __m256 h[2];
  for (int r = 0; r < 2; r++)
    h[r] = _mm256_add_ps(_mm256_add_ps(acc[0][r], acc[2][r]), _mm256_add_ps(acc[1][r], acc[3][r]));
  store_rows(C, _mm256_hadd_ps(h[0], h[1]), ncols);  // lanes in vphaddd row order, as store_rows expects
}
// Q8_0 for several tokens: half a row group (rows 0-3 or 4-7) x MT tokens, so
// MT x 4 accumulators fit the 16 ymm registers and |w| is shared by the tokens.
template <int MT>
void tile_q8_0_half(const int8_t* A, int64_t lda, const float* ad, int64_t nb, const int8_t* w, int half,
                    const uint16_t* sc, float* C, int64_t ldc, int64_t nrows) {
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i dup = half ? _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7) : _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
  __m256 acc[MT][4];
  for (int t = 0; t < MT; t++)
    for (int c = 0; c < 4; c++) acc[t][c] = _mm256_setzero_ps();
  w += half * 32;
  for (int64_t b = 0; b < nb; b++) {
    const __m256 dw = _mm256_permutevar8x32_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc + b * kGgmlRows))), dup);
    __m256 d[MT];
    for (int t = 0; t < MT; t++) d[t] = _mm256_mul_ps(dw, _mm256_set1_ps(ad[t * nb + b]));
    for (int c = 0; c < 4; c++, w += 64) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
      const __m256i aw = _mm256_abs_epi8(wv);
      for (int t = 0; t < MT; t++) {
        const __m256i a = bcast8(A + t * lda + b * kQK + c * 8);
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(a, wv)), ones);
        acc[t][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), d[t], acc[t][c]);
      }
    }
  }
  for (int t = 0; t < MT; t++) {
    const __m256 h = _mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][2]), _mm256_add_ps(acc[t][1], acc[t][3]));
    const __m256 r = _mm256_hadd_ps(h, h);  // [r0 r1 r0 r1 | r2 r3 r2 r3]
    alignas(16) float o[4];
    _mm_store_ps(o, _mm_castpd_ps(_mm_unpacklo_pd(_mm_castps_pd(_mm256_castps256_ps128(r)), _mm_castps_pd(_mm256_extractf128_ps(r, 1)))));
    for (int64_t q = 0; q < nrows; q++) C[t * ldc + q] = o[q];
  }
}
template <int MT>
void tile_q8_0_mt(const int8_t* A, int64_t lda, const float* ad, const int32_t* as, int64_t nb, const int8_t* w,
                  const uint16_t* sc, float* C, int64_t ldc, int64_t ncols) {
  if (MT == 1) return tile_q8_0(A, lda, ad, as, nb, w, sc, C, ldc, ncols);
  tile_q8_0_half<MT>(A, lda, ad, nb, w, 0, sc, C, ldc, std::min<int64_t>(4, ncols));
  if (ncols > 4) tile_q8_0_half<MT>(A, lda, ad, nb, w, 1, sc, C + 4, ldc, ncols - 4);
}


}  // namespace

LOWBIT_GGML_MATMULS(avx2, tile_q4_0, 4, tile_q8_0_mt, 3)

// llama.cpp's AVX2 quantize_row_q8_0, plus the block sums.
void quantize_q8_0_act_avx2(const float* x, int64_t k, int8_t* q, float* d, int32_t* s) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);  // undo the in-lane packs
  for (int64_t b = 0; b < k / kQK; b++, x += kQK, q += kQK) {
    __m256 v[4];
    __m256 mx = _mm256_setzero_ps();
    for (int r = 0; r < 4; r++) {
      v[r] = _mm256_loadu_ps(x + 8 * r);
      mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, v[r]));
    }
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(mx, 1), _mm256_castps256_ps128(mx));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const uint16_t dh = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    d[b] = _cvtsh_ss(dh);
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    __m256i iv[4];
    for (int r = 0; r < 4; r++)
      iv[r] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[r], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m256i p = _mm256_permutevar8x32_epi32(
        _mm256_packs_epi16(_mm256_packs_epi32(iv[0], iv[1]), _mm256_packs_epi32(iv[2], iv[3])), order);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), p);
    // block sum of the (saturated) codes: bytes -> int16 pairs -> int32
    const __m256i s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p), _mm256_set1_epi16(1));
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    s[b] = _mm_cvtsi128_si32(h);
  }
}

}  // namespace lowbit
