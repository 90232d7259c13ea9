// x86 helpers shared by the K-quant SIMD kernels (included only by files
// compiled with at least -mavx2). Internal linkage (an anonymous namespace):
// each ISA file keeps its own copy, compiled with its own -m flags; inline
// functions of external linkage would let the linker keep the -mavx512 copy
// for the AVX2 kernels too (kernels/tiling.h says the same).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "formats/kquant.h"

namespace lowbit {
namespace {

// Q5_K 6-bit scales and mins (12 bytes) -> int16 [sc0..sc7 | mn0..mn7]
// (ggml's get_scale_min_k4 for all 8 sub-blocks, as 32-bit word operations).
inline __m256i kq_scales_mins16(const uint8_t* q) {
  uint32_t u[4];
  std::memcpy(u, q, 12);
  const uint32_t km1 = 0x3f3f3f3f, km2 = 0x0f0f0f0f, km3 = 0x03030303;
  u[3] = ((u[2] >> 4) & km2) | (((u[1] >> 6) & km3) << 4);
  const uint32_t aux = u[1] & km1;
  u[1] = (u[2] & km2) | (((u[0] >> 6) & km3) << 4);
  u[2] = aux;
  u[0] &= km1;
  return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u)));
}
// int16 lanes of `scales` (sc0..sc7 in each 128-bit half) -> every int16 = sc[i]
inline __m256i kq_bcast16(__m256i scales, int i) {
  const __m256i idx = _mm256_set1_epi16((short)((2 * i + 1) << 8 | (2 * i)));
  return _mm256_shuffle_epi8(scales, idx);
}
// Scales of 16-element sub-blocks (int16 sc16[16]) for half h of a super-block
// as 4 chunks of 32 bytes: s[c] holds sc[8h + 2c] in its low 128 bits (bytes
// 0-15 of chunk c) and sc[8h + 2c + 1] in its high 128 bits, every int16.
inline void kq_chunk_scales16(__m256i sc16, int h, __m256i s[4]) {
  const __m128i hv = h ? _mm256_extracti128_si256(sc16, 1) : _mm256_castsi256_si128(sc16);
  const __m256i dup = _mm256_setr_m128i(hv, hv);
  for (int c = 0; c < 4; c++)
    s[c] = _mm256_shuffle_epi8(dup, _mm256_setr_m128i(_mm_set1_epi16((short)((4 * c + 1) << 8 | (4 * c))),
                                                      _mm_set1_epi16((short)((4 * c + 3) << 8 | (4 * c + 2)))));
}
// M[p] = mn[2p] bsp[2p] + mn[2p+1] bsp[2p+1] for p < 4 (mn16: int16 mins, bsp: 8 int16 32-sums)
inline __m128i kq_min_pairs(__m128i mn16, const int16_t* bsp) {
  return _mm_madd_epi16(mn16, _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsp)));
}
// f32 sum of the 8 lanes in the order ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7))
inline float kq_hsum8_f32(__m256 v) {
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}
inline int32_t kq_hsum4(__m128i v) {
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4e));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xb1));
  return _mm_cvtsi128_si32(v);
}

// The shared parts of the K-quant tiles (bit for bit what each tile wrote out
// before: the same instructions in the same order).

// Prefetch of the super-block `ahead` blocks after x: `lines` cache lines of it.
template <class Block>
inline void kq_prefetch_ahead(const Block* x, int lines, int ahead = 2) {
  for (int l = 0; l < lines; l++)
    _mm_prefetch(reinterpret_cast<const char*>(x) + ahead * sizeof(Block) + 64 * l, _MM_HINT_T0);
}
// A token's 16 int16 16-sums of super-block b.
inline __m256i kq_bsums16(const KAct& a, int64_t i, int64_t b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bsums + i * (a.k / 16) + b * 16));
}
// The super-block step of one token's eight f32 lanes: acc + (scale) * (float)lanes, one FMA per lane.
inline __m256 kq_fma_lanes(__m256i lanes, float scale, __m256 acc) {
  return _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(lanes), acc);
}
// Q6_K on AVX2: per token, sumi += sum over the 4 chunks of 32 codes q[cc] (u8) of
// vpmaddwd(vpmaddubsw(q[cc], activations), s[cc]), activations at offset `off` of the token's row.
template <int MT>
inline void kq_dot4x32(const KAct& a, int64_t i0, int64_t off, const __m256i q[4], const __m256i s[4], __m256i sumi[MT]) {
  for (int t = 0; t < MT; t++) {
    const int8_t* qa = a.q + (i0 + t) * a.k + off;
    for (int cc = 0; cc < 4; cc++) {
      const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa + 32 * cc));
      sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(_mm256_maddubs_epi16(q[cc], av), s[cc]));
    }
  }
}
// The tiles' result: c[t * ldc] = the eight lanes of acc[t] summed (kq_hsum8_f32).
template <int MT>
inline void kq_store_lanes(const __m256 acc[MT], float* c, int64_t ldc) {
  for (int t = 0; t < MT; t++) c[t * ldc] = kq_hsum8_f32(acc[t]);
}
// Q5_K: the block's scales (int16 sc0..sc7 in both 128-bit halves) and mins (int16 mn0..mn7).
inline void kq_q5_scales(const uint8_t* q, __m256i* scales, __m128i* mn16) {
  const __m256i sm = kq_scales_mins16(q);
  const __m128i sc128 = _mm256_castsi256_si128(sm);
  *mn16 = _mm256_extracti128_si256(sm, 1);
  *scales = _mm256_setr_m128i(sc128, sc128);
}
// Q5_K: the 5-bit codes of elements [64g, 64g + 64): lo (sub-block 2g) and hi
// (2g + 1), each the nibble of qs with the fifth bit (bit 2g resp. 2g + 1 of
// qh) at bit 4.
inline void kq_q5_codes(const uint8_t* qs, __m256i hbits, int g, __m256i* lo, __m256i* hi) {
  const __m256i m4 = _mm256_set1_epi8(15), m16 = _mm256_set1_epi8(16);
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * g));
  const __m256i h0 = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hbits, 2 * g), 4), m16);
  const __m256i h1 = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hbits, 2 * g + 1), 4), m16);
  *lo = _mm256_or_si256(_mm256_and_si256(q, m4), h0);
  *hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1);
}
// Q5_K: a token's mins term of super-block b, summs + (-(da * dmin)) * (mins . 32-sums) (one FMA).
inline float kq_q5_mins(const KAct& a, int64_t i, int64_t b, __m128i mn16, float da, float mw, float summs) {
  const int32_t imin = kq_hsum4(kq_min_pairs(mn16, a.bsp + i * (a.k / 32) + b * 8));
  return __builtin_fmaf(-(da * mw), (float)imin, summs);
}
// The Q5_K and Q6_K SIMD tiles' loop: per super-block b (prefetching `lines`
// cache lines two blocks ahead), block(x, b, acc) adds its terms to the MT
// tokens' eight f32 lanes acc[t]; then c[t * ldc] = their sums.
template <class Block, int MT, class F>
inline void kq_tile_lanes(const uint8_t* w, int64_t nb, int lines, float* c, int64_t ldc, F&& block) {
  __m256 acc[MT];
  for (int t = 0; t < MT; t++) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const Block* x = reinterpret_cast<const Block*>(w + b * sizeof(Block));
    kq_prefetch_ahead(x, lines);
    block(x, b, acc);
  }
  kq_store_lanes<MT>(acc, c, ldc);
}
#if defined(__AVX512F__)
// Q5_K / Q6_K on AVX-512: the 512-bit sums of one token folded to its eight lanes.
inline __m256i kq_fold512(__m512i v) { return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)); }
// (scale, 0) int16 pairs in the int32 lanes of 64 codes: sub-blocks first..first + 3 of the
// int8 scales scb (signed: sign-extended, then the high half cleared).
inline __m512i kq_scale_pairs_s8(__m128i scb, int first) {
  const __m128i rep4 = _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  return _mm512_and_si512(_mm512_cvtepi8_epi32(_mm_shuffle_epi8(scb, _mm_add_epi8(rep4, _mm_set1_epi8((char)first)))),
                          _mm512_set1_epi32(0xFFFF));
}
// per token, sumz += vpmaddwd(d01, s01) + vpmaddwd(d23, s23) with dXY = vpdpbusd(0, zXY, the
// token's 64 activations at off (z01) and off + 64 (z23))
template <int MT>
inline void kq_dot2x64(const KAct& a, int64_t i0, int64_t off, __m512i z01, __m512i z23, __m512i s01, __m512i s23,
                       __m512i sumz[MT]) {
  for (int t = 0; t < MT; t++) {
    const int8_t* qa = a.q + (i0 + t) * a.k + off;
    const __m512i d01 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), z01, _mm512_loadu_si512(qa));
    const __m512i d23 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), z23, _mm512_loadu_si512(qa + 64));
    sumz[t] = _mm512_add_epi32(sumz[t], _mm512_add_epi32(_mm512_madd_epi16(d01, s01), _mm512_madd_epi16(d23, s23)));
  }
}
#endif

}  // namespace
}  // namespace lowbit
