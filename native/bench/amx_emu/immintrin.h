// Test-only stand-in for <immintrin.h>: AVX-512 through SIMDe (../simde) and the
// AMX tile intrinsics the kernels use emulated in scalar code, from Intel's
// definitions, so kernels/amx*.cc can be run on a CPU without AMX or AVX-512
// (amx_emu_check). TDPBF16PS is emulated as f32 products of each bf16 pair
// added in order: within the bf16 kernels' tolerance, not the hardware's bits.
#pragma once
#include "../simde/immintrin.h"

#include <cstdint>
#include <cstring>

// masked loads / stores SIMDe 0.7.4 lacks (Intel's definitions)
#ifndef __mmask16
typedef simde__mmask16 __mmask16;
#endif
inline void lowbit_mask_storeu_ps(void* p, simde__mmask16 k, simde__m512 v) {
  simde__m512_private x = simde__m512_to_private(v);
  for (int i = 0; i < 16; i++)
    if ((k >> i) & 1) std::memcpy(static_cast<float*>(p) + i, &x.f32[i], 4);
}
inline void lowbit_mask_storeu_epi32(void* p, simde__mmask16 k, simde__m512i v) {
  simde__m512i_private x = simde__m512i_to_private(v);
  for (int i = 0; i < 16; i++)
    if ((k >> i) & 1) std::memcpy(static_cast<int32_t*>(p) + i, &x.i32[i], 4);
}
inline simde__m512 lowbit_maskz_loadu_ps(simde__mmask16 k, const void* p) {
  simde__m512_private x;
  for (int i = 0; i < 16; i++) {
    x.f32[i] = 0.0f;
    if ((k >> i) & 1) std::memcpy(&x.f32[i], static_cast<const float*>(p) + i, 4);
  }
  return simde__m512_from_private(x);
}
#define _mm512_mask_storeu_ps(p, k, v) lowbit_mask_storeu_ps((p), (k), (v))
#define _mm512_mask_storeu_epi32(p, k, v) lowbit_mask_storeu_epi32((p), (k), (v))
#define _mm512_maskz_loadu_ps(k, p) lowbit_maskz_loadu_ps((k), (p))

namespace amx_emu {
struct State {
  uint8_t rows[8] = {};
  uint16_t colsb[8] = {};
  alignas(64) uint8_t t[8][16][64] = {};
};
inline State& st() {
  thread_local State s;
  return s;
}
inline void loadconfig(const void* p) {
  const uint8_t* c = static_cast<const uint8_t*>(p);
  State& s = st();
  for (int i = 0; i < 8; i++) {
    std::memcpy(&s.colsb[i], c + 16 + 2 * i, 2);
    s.rows[i] = c[48 + i];
  }
}
inline void zero(int t) { std::memset(st().t[t], 0, sizeof st().t[t]); }
inline void loadd(int t, const void* base, long stride) {
  State& s = st();
  for (int r = 0; r < s.rows[t]; r++) std::memcpy(s.t[t][r], static_cast<const uint8_t*>(base) + r * stride, s.colsb[t]);
}
inline void stored(int t, void* base, long stride) {
  State& s = st();
  for (int r = 0; r < s.rows[t]; r++) std::memcpy(static_cast<uint8_t*>(base) + r * stride, s.t[t][r], s.colsb[t]);
}
// C[m][n] += sum_k A[m][4k + i] * B[k][4n + i] (int8 x int8 -> int32)
inline void dpbssd(int c, int a, int b) {
  State& s = st();
  for (int m = 0; m < s.rows[c]; m++)
    for (int n = 0; n < s.colsb[c] / 4; n++) {
      int32_t acc;
      std::memcpy(&acc, &s.t[c][m][4 * n], 4);
      for (int k = 0; k < s.colsb[a] / 4; k++)
        for (int i = 0; i < 4; i++) acc += (int32_t)(int8_t)s.t[a][m][4 * k + i] * (int32_t)(int8_t)s.t[b][k][4 * n + i];
      std::memcpy(&s.t[c][m][4 * n], &acc, 4);
    }
}
inline float bf(const uint8_t* p) {
  uint32_t u = (uint32_t)(p[0] | (p[1] << 8)) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline void dpbf16ps(int c, int a, int b) {
  State& s = st();
  for (int m = 0; m < s.rows[c]; m++)
    for (int n = 0; n < s.colsb[c] / 4; n++) {
      float acc;
      std::memcpy(&acc, &s.t[c][m][4 * n], 4);
      for (int k = 0; k < s.colsb[a] / 4; k++)
        for (int i = 0; i < 2; i++) acc += bf(&s.t[a][m][4 * k + 2 * i]) * bf(&s.t[b][k][4 * n + 2 * i]);
      std::memcpy(&s.t[c][m][4 * n], &acc, 4);
    }
}
}  // namespace amx_emu

#define _tile_loadconfig(p) amx_emu::loadconfig(p)
#define _tile_release() ((void)0)
#define _tile_zero(t) amx_emu::zero(t)
#define _tile_loadd(t, base, stride) amx_emu::loadd((t), (base), (long)(stride))
#define _tile_stream_loadd(t, base, stride) amx_emu::loadd((t), (base), (long)(stride))
#define _tile_stored(t, base, stride) amx_emu::stored((t), (base), (long)(stride))
#define _tile_dpbssd(c, a, b) amx_emu::dpbssd((c), (a), (b))
#define _tile_dpbf16ps(c, a, b) amx_emu::dpbf16ps((c), (a), (b))
