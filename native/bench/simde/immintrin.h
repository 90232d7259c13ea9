// Test-only stand-in for <immintrin.h>: AVX-512 intrinsics emulated by SIMDe
// (Debian package libsimde-dev), so the AVX-512 kernels can be run and checked
// bit for bit on a CPU without AVX-512 (ggml_simde_check). A few intrinsics
// SIMDe 0.7.4 lacks are defined here from their Intel definitions.
#pragma once
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>

#include <cmath>
#include <cstring>

// SIMDe's portable fmadd rounds the product and the sum separately; the
// kernels' numerics need one rounding, as the hardware instruction does.
inline simde__m256 lowbit_fmadd256(simde__m256 a, simde__m256 b, simde__m256 c) {
  simde__m256_private x = simde__m256_to_private(a), y = simde__m256_to_private(b), z = simde__m256_to_private(c), r;
  for (int i = 0; i < 8; i++) r.f32[i] = std::fma(x.f32[i], y.f32[i], z.f32[i]);
  return simde__m256_from_private(r);
}
inline simde__m512 lowbit_fmadd512(simde__m512 a, simde__m512 b, simde__m512 c) {
  simde__m512_private x = simde__m512_to_private(a), y = simde__m512_to_private(b), z = simde__m512_to_private(c), r;
  for (int i = 0; i < 16; i++) r.f32[i] = std::fma(x.f32[i], y.f32[i], z.f32[i]);
  return simde__m512_from_private(r);
}
#undef _mm256_fmadd_ps
#undef _mm512_fmadd_ps
#define _mm256_fmadd_ps(a, b, c) lowbit_fmadd256((a), (b), (c))
#define _mm512_fmadd_ps(a, b, c) lowbit_fmadd512((a), (b), (c))

#ifndef _mm512_shuffle_epi32
inline simde__m512i lowbit_shuffle_epi32(simde__m512i a, int imm) {
  simde__m512i_private x = simde__m512i_to_private(a), r;
  for (int l = 0; l < 16; l += 4)
    for (int i = 0; i < 4; i++) r.i32[l + i] = x.i32[l + ((imm >> (2 * i)) & 3)];
  return simde__m512i_from_private(r);
}
#define _mm512_shuffle_epi32(a, imm) lowbit_shuffle_epi32((a), (int)(imm))
#endif
#ifndef _mm512_permute_ps
inline simde__m512 lowbit_permute_ps(simde__m512 a, int imm) {
  simde__m512_private x = simde__m512_to_private(a), r;
  for (int l = 0; l < 16; l += 4)
    for (int i = 0; i < 4; i++) r.f32[l + i] = x.f32[l + ((imm >> (2 * i)) & 3)];
  return simde__m512_from_private(r);
}
#define _mm512_permute_ps(a, imm) lowbit_permute_ps((a), (int)(imm))
#endif
#ifndef _mm512_cvtepi32_ps
inline simde__m512 lowbit_cvtepi32_ps(simde__m512i a) {
  simde__m512i_private x = simde__m512i_to_private(a);
  simde__m512_private r;
  for (int i = 0; i < 16; i++) r.f32[i] = (float)x.i32[i];
  return simde__m512_from_private(r);
}
#define _mm512_cvtepi32_ps(a) lowbit_cvtepi32_ps(a)
#endif
#ifndef _mm256_mask_storeu_ps
inline void lowbit_mask_storeu_ps(void* p, simde__mmask8 k, simde__m256 a) {
  float v[8];
  std::memcpy(v, &a, sizeof v);
  for (int i = 0; i < 8; i++)
    if (k & (1u << i)) static_cast<float*>(p)[i] = v[i];
}
#define _mm256_mask_storeu_ps(p, k, a) lowbit_mask_storeu_ps((p), (k), (a))
#endif
#ifndef _MM_PERM_CDAB
#define _MM_PERM_CDAB 0xB1
#endif
#ifndef __mmask8
typedef simde__mmask8 __mmask8;
typedef simde__mmask64 __mmask64;
#endif
