// The x86 side of the packed types (packed.h: groups of 16 rows, one row per
// SIMD lane), shared by their AVX2 and AVX-512 files (internal linkage, like
// kquant_x86.h): the lane operations every packed kernel uses, and the sweep
// over groups, lane passes and token tiles. A type's kernel header derives its
// lane class from PackLanesAvx2 / PackLanesAvx512, adding its code decoding and
// byte dots, and supplies a tile (below).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "formats/packed.h"

namespace lowbit {
namespace {

inline int32_t pk_load4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// int32 / f32 lanes, one per row: AVX2 8 (a group is two passes), AVX-512 16.
struct PackLanesAvx2 {
  static constexpr int kLanes = 8;
  using I = __m256i;
  using F = __m256;
  static I zero() { return _mm256_setzero_si256(); }
  static F fzero() { return _mm256_setzero_ps(); }
  static I add(I x, I y) { return _mm256_add_epi32(x, y); }
  static I sub1(I x, int32_t y) { return _mm256_sub_epi32(x, _mm256_set1_epi32(y)); }
  static I mullo(I x, I y) { return _mm256_mullo_epi32(x, y); }
  static I and_(I x, int m) { return _mm256_and_si256(x, _mm256_set1_epi32(m)); }
  static I or_(I x, I y) { return _mm256_or_si256(x, y); }
  static I srl(I x, int n) { return _mm256_srli_epi32(x, n); }
  static I sll(I x, int n) { return _mm256_slli_epi32(x, n); }
  static I madd16(I x, int32_t pair) { return _mm256_madd_epi16(x, _mm256_set1_epi32(pair)); }
  // x * s lane-wise for |x| < 2^15 and s an int16 in the low half of each lane (the high half
  // zero): one vpmaddwd, lo16(x) * s + hi16(x) * 0
  static I mul_small(I x, I s) { return _mm256_madd_epi16(x, s); }
  static I load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }  // 4 bytes a lane
  static I bytes(const uint8_t* p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
  static I halfwords(const uint8_t* p) { return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static F halves(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static F cvt(I x) { return _mm256_cvtepi32_ps(x); }
  static F set1(float x) { return _mm256_set1_ps(x); }
  static F mul(F x, F y) { return _mm256_mul_ps(x, y); }
  static F fma(F x, F y, F z) { return _mm256_fmadd_ps(x, y, z); }
  static F addf(F x, F y) { return _mm256_add_ps(x, y); }
  static F subf(F x, F y) { return _mm256_sub_ps(x, y); }
  static I set1i(int32_t x) { return _mm256_set1_epi32(x); }
  // per lane the dot of its 4 code bytes u (unsigned, <= 63 here) with the 4 activation bytes a4:
  // vpmaddubsw (pairs <= 16002: no saturation), vpmaddwd by ones
  static I dot4(I u, int32_t a4) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_set1_epi32(a4)), _mm256_set1_epi16(1));
  }
  static void store(float* c, F v, int n) {
    alignas(32) float out[8];
    _mm256_store_ps(out, v);
    for (int r = 0; r < n; r++) c[r] = out[r];
  }
};

#if defined(__AVX512F__)
struct PackLanesAvx512 {
  static constexpr int kLanes = 16;
  using I = __m512i;
  using F = __m512;
  static I zero() { return _mm512_setzero_si512(); }
  static F fzero() { return _mm512_setzero_ps(); }
  static I add(I x, I y) { return _mm512_add_epi32(x, y); }
  static I sub1(I x, int32_t y) { return _mm512_sub_epi32(x, _mm512_set1_epi32(y)); }
  static I mullo(I x, I y) { return _mm512_mullo_epi32(x, y); }
  static I and_(I x, int m) { return _mm512_and_si512(x, _mm512_set1_epi32(m)); }
  static I or_(I x, I y) { return _mm512_or_si512(x, y); }
  static I srl(I x, int n) { return _mm512_srli_epi32(x, n); }
  static I sll(I x, int n) { return _mm512_slli_epi32(x, n); }
  static I madd16(I x, int32_t pair) { return _mm512_madd_epi16(x, _mm512_set1_epi32(pair)); }
  static I mul_small(I x, I s) { return _mm512_madd_epi16(x, s); }
  static I load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static I bytes(const uint8_t* p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static I halfwords(const uint8_t* p) { return _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static F halves(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static F cvt(I x) { return _mm512_cvtepi32_ps(x); }
  static F set1(float x) { return _mm512_set1_ps(x); }
  static F mul(F x, F y) { return _mm512_mul_ps(x, y); }
  static F fma(F x, F y, F z) { return _mm512_fmadd_ps(x, y, z); }
  static F addf(F x, F y) { return _mm512_add_ps(x, y); }
  static F subf(F x, F y) { return _mm512_sub_ps(x, y); }
  static I set1i(int32_t x) { return _mm512_set1_epi32(x); }
  static I dot4(I u, int32_t a4) { return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, _mm512_set1_epi32(a4)); }  // vpdpbusd
  static void store(float* c, F v, int n) { _mm512_mask_storeu_ps(c, (__mmask16)((1u << n) - 1), v); }
};
#endif

// Decode streams each group once: its block (kBytes long) kAhead blocks ahead, on its way.
template <int64_t kBytes, int kAhead>
inline void pk_prefetch(const uint8_t* x) {
  for (int64_t o = 0; o < kBytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(x) + kAhead * kBytes + o, _MM_HINT_T0);
}

// The reference's final sum of eight f32 lane classes ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)), lane-wise.
template <class L>
inline typename L::F pk_lanes8_sum(const typename L::F v[8]) {
  return L::addf(L::addf(L::addf(v[0], v[4]), L::addf(v[2], v[6])), L::addf(L::addf(v[1], v[5]), L::addf(v[3], v[7])));
}

// Sums of every `len` consecutive activation codes of the m rows (the correction of a kernel that takes
// its codes with an offset, u - offset), times `times`, [m][k / len].
inline std::vector<int32_t> pk_code_sums(const KAct& a, int64_t m, int len, int32_t times = 1) {
  std::vector<int32_t> out((size_t)(m * a.k / len));
  for (size_t g = 0; g < out.size(); g++) {
    int32_t s = 0;
    for (int e = 0; e < len; e++) s += a.q[g * len + e];
    out[g] = s * times;
  }
  return out;
}

// The matmul's sweep on packed storage (j0 % kPackRows == 0): groups outer (a
// group's rows stay in cache), passes of L::kLanes rows, token tiles of 4, the
// last m % 4 tokens in one tile of their size; tile.template run<MT>(i0, gp, h,
// c, ldc, nr) computes c[t * ldc + r] = C[i0 + t, j + h + r] for r < nr.
template <class L, class Tile>
inline void pk_sweep(const Tile& tile, int64_t m, const uint8_t* W, int64_t row_bytes, float* C, int64_t ldc, int64_t j0,
                     int64_t j1) {
  for (int64_t j = j0; j < j1; j += kPackRows) {
    const uint8_t* gp = W + (j / kPackRows) * kPackRows * row_bytes;
    for (int h = 0; h < kPackRows; h += L::kLanes) {
      const int nr = (int)std::min<int64_t>(L::kLanes, j1 - j - h);
      if (nr <= 0) break;
      float* c = C + j + h;
      int64_t i = 0;
      for (; i + 4 <= m; i += 4) tile.template run<4>(i, gp, h, c + i * ldc, ldc, nr);
      switch (m - i) {
        case 3: tile.template run<3>(i, gp, h, c + i * ldc, ldc, nr); break;
        case 2: tile.template run<2>(i, gp, h, c + i * ldc, ldc, nr); break;
        case 1: tile.template run<1>(i, gp, h, c + i * ldc, ldc, nr); break;
        default: break;
      }
    }
  }
}

}  // namespace
}  // namespace lowbit
