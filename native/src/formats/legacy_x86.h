// x86 kernels of the legacy formats (legacy.h: Q4_1, Q5_0, Q5_1; the IQ4
// types' packed kernels are iq4_nl_x86.h, iq4_xs_x86.h), shared by their AVX2 and AVX-512 files, which differ
// only in the byte dot product D (included only by files compiled with at
// least -mavx2 -mfma -mf16c). Internal linkage, like kquant_x86.h: each ISA
// file keeps its own copy, compiled with its own flags.
//   D::us(u, a): 8 int32 lanes, lane l = exact sum over bytes [4l, 4l + 4) of
//     u (unsigned, <= 127 here) times a (signed, in [-127, 127]);
//     AVX2 vpmaddubsw + vpmaddwd (pairs <= 32258: no saturation), AVX-512 VNNI vpdpbusd.
// Each tile computes exactly its format's reference (the header's definition).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "formats/kquant_tiling.h"
#include "formats/kquant_x86.h"
#include "formats/legacy.h"

namespace lowbit {
namespace {

struct DotAvx2 {
  static __m256i us(__m256i u, __m256i a) { return _mm256_madd_epi16(_mm256_maddubs_epi16(u, a), _mm256_set1_epi16(1)); }
};
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
struct DotVnni {
  static __m256i us(__m256i u, __m256i a) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, a); }
};
#endif
// signed w (in [-127, 127]) times signed a: |w| times a with w's sign
template <class D>
inline __m256i dot_ss(__m256i w, __m256i a) {
  return D::us(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

// The 32 codes of a legacy block in element order: u, or u - 16 (Q5_0, signed).
template <class T>
inline __m256i legacy_codes_v(const uint8_t* blk) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + T::kQs));
  const __m128i m4 = _mm_set1_epi8(15);
  __m256i u = _mm256_setr_m128i(_mm_and_si128(q, m4), _mm_and_si128(_mm_srli_epi16(q, 4), m4));
  if (T::kQh >= 0) {  // byte t gets 16 when bit t of qh is set
    uint32_t qh;
    std::memcpy(&qh, blk + T::kQh, 4);
    const __m256i idx = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), idx);
    u = _mm256_or_si256(u, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit), _mm256_set1_epi8(16)));
  }
  if (T::kOffset) u = _mm256_sub_epi8(u, _mm256_set1_epi8((char)T::kOffset));
  return u;
}

// Q4_1 / Q5_0 / Q5_1 (legacy.h): the block's 8 lanes per token, one 8-lane FMA
// per block (each lane the reference's rounding), the mins by a scalar FMA.
template <class T, class D>
struct X86Legacy {
  static constexpr int64_t kBlockElems = 32;
  template <int MT>
  static void tile(const KAct& a, int64_t i0, const uint8_t* w, int64_t nb, float* c, int64_t ldc) {
    __m256 acc[MT];
    float summs[MT];
    for (int t = 0; t < MT; t++) acc[t] = _mm256_setzero_ps(), summs[t] = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* blk = w + b * T::kBytes;
      _mm_prefetch(reinterpret_cast<const char*>(blk) + 8 * T::kBytes, _MM_HINT_T0);
      const __m256i u = legacy_codes_v<T>(blk);
      const float dw = _cvtsh_ss(kq_read_u16(blk));
      const float mw = T::kMin ? _cvtsh_ss(kq_read_u16(blk + 2)) : 0.0f;
      for (int t = 0; t < MT; t++) {
        const int64_t i = i0 + t;
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.q + i * a.k + b * 32));
        const __m256i L = T::kOffset ? dot_ss<D>(u, av) : D::us(u, av);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(L), _mm256_set1_ps(dw * a.d[i * nb + b]), acc[t]);
        if (T::kMin) summs[t] = __builtin_fmaf(mw, a.s[i * nb + b], summs[t]);
      }
    }
    for (int t = 0; t < MT; t++) {
      const float h = kq_hsum8_f32(acc[t]);
      c[t * ldc] = T::kMin ? h + summs[t] : h;
    }
  }
};

}  // namespace
}  // namespace lowbit
