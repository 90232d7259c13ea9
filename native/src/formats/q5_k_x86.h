// Q5_K's tile, shared by q5_k_avx2.cc / q5_k_avx512.cc (internal linkage,
// like kquant_x86.h): a super-block is 4 pairs of 32-element sub-blocks with
// 6-bit scales and mins; one micro-kernel per instruction set, a class K
// (KqPairsAvx2, KqPairsAvx512) with
//   K::V, K::zero, K::add   int32 lanes of a pair's scaled products (exact)
//   K::lanes8               those lanes folded to 8
//   K::Acts, K::acts(qa)    one token's 64 activations of a pair
//   K::Pair, K::dot(p, a)   a pair's 64 codes with its two sub-blocks' scales; its dot
//   K::pair5(lo, hi, scales, g)   pair g from kq_q5_codes' codes
// The loop around them (KqQ5KTiles: super-blocks, pairs, tokens, the
// reference's FMAs) does not depend on the instruction set.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "formats/kquant_tiling.h"
#include "formats/kquant_x86.h"
#include "formats/q5_k.h"

namespace lowbit {
namespace {

// The micro-kernels, one per instruction set.
//
// AVX2: a pair is one 32-byte load of codes (sub-block 2g in the low nibbles,
// 2g + 1 in the high ones); vpmaddubsw (u4 / u5 x s8 pairs, <= 7874: no
// saturation) against the activations 0..31 / 32..63, then vpmaddwd by the
// sub-block's scale broadcast to every int16: exact int32 lanes.
struct KqPairsAvx2 {
  using V = __m256i;
  struct Pair {
    __m256i lo, hi, sl, sh;  // codes of sub-blocks 2g, 2g + 1; their scales in every int16
  };
  struct Acts {
    __m256i al, ah;
  };

  static V zero() { return _mm256_setzero_si256(); }
  static V add(V x, V y) { return _mm256_add_epi32(x, y); }
  static __m256i lanes8(V v) { return v; }
  static Acts acts(const int8_t* qa) {
    return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa)), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa + 32))};
  }
  static V dot(const Pair& p, const Acts& a) {
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(p.lo, a.al), p.sl),
                            _mm256_madd_epi16(_mm256_maddubs_epi16(p.hi, a.ah), p.sh));
  }
  static Pair pair5(__m256i lo, __m256i hi, __m256i scales, int g) {
    return {lo, hi, kq_bcast16(scales, 2 * g), kq_bcast16(scales, 2 * g + 1)};
  }
};

#if defined(__AVX512F__)
// AVX-512 VNNI: a pair's 64 codes as one zmm in element order (sub-block 2g,
// then 2g + 1), matching 64 contiguous activation bytes; vpdpbusd gives 16
// exact int32 lanes of 4 products (<= 15748, fits int16), vpmaddwd by
// (scale, 0) int16 pairs (sc[2g] in lanes 0-7, sc[2g + 1] in lanes 8-15)
// scales them.
struct KqPairsAvx512 {
  using V = __m512i;
  struct Pair {
    __m512i z, s;  // codes; (scale, 0) pairs
  };
  using Acts = __m512i;

  static V zero() { return _mm512_setzero_si512(); }
  static V add(V x, V y) { return _mm512_add_epi32(x, y); }
  static __m256i lanes8(V v) { return kq_fold512(v); }
  static Acts acts(const int8_t* qa) { return _mm512_loadu_si512(qa); }
  static V dot(const Pair& p, Acts a) { return _mm512_madd_epi16(_mm512_dpbusd_epi32(_mm512_setzero_si512(), p.z, a), p.s); }
  // Q5_K: kq_q5_codes' codes, the scales (int16 sc0..sc7 in both halves) widened from their broadcasts
  static Pair pair5(__m256i lo, __m256i hi, __m256i scales, int g) {
    return {_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1),
            _mm512_cvtepu16_epi32(_mm256_setr_m128i(_mm256_castsi256_si128(kq_bcast16(scales, 2 * g)),
                                                    _mm256_castsi256_si128(kq_bcast16(scales, 2 * g + 1))))};
  }
};
#endif

// Q5_K's tile (kquant_run's tile), as llama.cpp's ggml_vec_dot_q5_K_q8_K: per
// super-block (3 cache lines prefetched two ahead) its scales, mins and fifth
// bits, per pair the 5-bit codes; the pair products accumulate exactly, one FMA
// per lane per super-block; the mins term by a scalar FMA, added after the
// lanes' sum (one rounding).
template <class K>
struct KqQ5KTiles {
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    float summs[MT];  // the mins' terms, added to the lanes' sum at the end
    for (int t = 0; t < MT; t++) summs[t] = 0.0f;
    kq_tile_lanes<BlockQ5K, MT>(w, nb, 3, c, ldc, [&](const BlockQ5K* x, int64_t b, __m256* acc) {
      __m256i scales;
      __m128i mn16;
      kq_q5_scales(x->scales, &scales, &mn16);
      const __m256i hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qh));
      typename K::V sumi[MT];
      for (int t = 0; t < MT; t++) sumi[t] = K::zero();
      for (int g = 0; g < 4; g++) {
        __m256i lo, hi;
        kq_q5_codes(x->qs, hbits, g, &lo, &hi);
        const typename K::Pair pair = K::pair5(lo, hi, scales, g);
        for (int t = 0; t < MT; t++)
          sumi[t] = K::add(sumi[t], K::dot(pair, K::acts(a.q + (i0 + t) * a.k + b * kQK_K + 64 * g)));
      }
      const float dw = _cvtsh_ss(x->d), mw = _cvtsh_ss(x->dmin);
      for (int t = 0; t < MT; t++) {
        const float da = a.d[(i0 + t) * nb + b];
        summs[t] = kq_q5_mins(a, i0 + t, b, mn16, da, mw, summs[t]);
        acc[t] = kq_fma_lanes(K::lanes8(sumi[t]), da * dw, acc[t]);
      }
    });
    for (int t = 0; t < MT; t++) c[t * ldc] += summs[t];  // = the lanes' sum + summs, one rounding as before
  }
};

}  // namespace
}  // namespace lowbit
