// GGUF Q4_0 / Q8_0 blocks: reference quantizers, dequantization and the
// repack to the kernels' packed layout. Compiled with -ffp-contract=off
// (binding.gyp): x * id + 8.5f must round twice, as in ggml's C code.
#include "ggml_quants.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

#include "kernels/ggml.h"
#include "kernels/kernels.h"

namespace lowbit {

namespace {

// (int8_t)f for a float as x86 compilers emit it: truncation to int32
// (cvttss2si: INT_MIN when out of range or NaN), then the low byte. For the
// values the quantizers produce (finite inputs) this is plain truncation.
int trunc_to_i8(float f) {
  const int32_t i = (f > -2147483648.0f && f < 2147483648.0f) ? (int32_t)f : INT32_MIN;
  return (int8_t)(uint8_t)((uint32_t)i & 0xff);
}

void put_f16(uint8_t* p, uint16_t h) {
  p[0] = (uint8_t)(h & 0xff);
  p[1] = (uint8_t)(h >> 8);
}
uint16_t get_f16(const uint8_t* p) { return (uint16_t)(p[0] | (p[1] << 8)); }

void quantize_block_q8_0(const float* x, uint8_t* out) {
  float amax = 0.0f;
  for (int t = 0; t < kQK; t++) {
    const float a = std::fabs(x[t]);
    amax = amax > a ? amax : a;  // ggml's MAX(amax, fabsf(v))
  }
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_f16(out, f32_to_f16_scalar(d));
  for (int t = 0; t < kQK; t++) out[2 + t] = (uint8_t)(int8_t)trunc_to_i8(std::round(x[t] * id));  // roundf
}

void quantize_block_q4_0(const float* x, uint8_t* out) {
  float amax = 0.0f, max = 0.0f;
  for (int t = 0; t < kQK; t++)
    if (amax < std::fabs(x[t])) {  // strict: the first of equal magnitudes wins
      amax = std::fabs(x[t]);
      max = x[t];
    }
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_f16(out, f32_to_f16_scalar(d));
  for (int t = 0; t < 16; t++) {
    const float x0 = x[t] * id, x1 = x[t + 16] * id;
    const uint8_t q0 = (uint8_t)std::min(15, trunc_to_i8(x0 + 8.5f));
    const uint8_t q1 = (uint8_t)std::min(15, trunc_to_i8(x1 + 8.5f));
    out[2 + t] = (uint8_t)(q0 | (q1 << 4));
  }
}

}  // namespace

int64_t ggml_block_bytes(GgmlType t) { return t == GgmlType::Q4_0 ? kQ4_0Block : kQ8_0Block; }
int64_t ggml_code_bytes(GgmlType t) { return t == GgmlType::Q4_0 ? 16 : 32; }

void ggml_quantize_row(GgmlType t, const float* x, int64_t k, uint8_t* out) {
  const int64_t bb = ggml_block_bytes(t);
  for (int64_t b = 0; b < k / kQK; b++) {
    if (t == GgmlType::Q4_0) quantize_block_q4_0(x + b * kQK, out + b * bb);
    else quantize_block_q8_0(x + b * kQK, out + b * bb);
  }
}

float ggml_dequantize_at(GgmlType t, const uint8_t* blocks, size_t i) {
  const uint8_t* blk = blocks + (i / kQK) * (size_t)ggml_block_bytes(t);
  const float d = f16_to_f32_scalar(get_f16(blk));
  const int e = (int)(i % kQK);
  if (t == GgmlType::Q8_0) return (float)(int8_t)blk[2 + e] * d;
  const uint8_t byte = blk[2 + (e % 16)];
  return (float)((e < 16 ? byte & 15 : byte >> 4) - 8) * d;
}

void ggml_pack_row(GgmlType t, const uint8_t* blocks, int64_t j, int64_t nb, uint8_t* codes, uint16_t* scales) {
  const int64_t bb = ggml_block_bytes(t), cb = ggml_code_bytes(t);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* blk = blocks + b * bb;
    scales[ggml_scale_index(j, b, nb)] = get_f16(blk);
    for (int64_t c = 0; c < cb; c += 8) std::memcpy(codes + ggml_code_offset(j, b, c, nb, cb), blk + 2 + c, 8);
  }
}

void ggml_unpack_row(GgmlType t, const uint8_t* codes, const uint16_t* scales, int64_t j, int64_t nb, uint8_t* blocks) {
  const int64_t bb = ggml_block_bytes(t), cb = ggml_code_bytes(t);
  for (int64_t b = 0; b < nb; b++) {
    uint8_t* blk = blocks + b * bb;
    put_f16(blk, scales[ggml_scale_index(j, b, nb)]);
    for (int64_t c = 0; c < cb; c += 8) std::memcpy(blk + 2 + c, codes + ggml_code_offset(j, b, c, nb, cb), 8);
  }
}

namespace {
// codes c[32] in [0, 31] -> qh (fifth bits, little-endian u32) and qs (nibbles)
void put_q5_codes(const int c[32], uint8_t* qh, uint8_t* qs) {
  uint32_t h = 0;
  for (int t = 0; t < 16; t++) {
    qs[t] = (uint8_t)((c[t] & 0x0F) | ((c[t + 16] & 0x0F) << 4));
    h |= (uint32_t)((c[t] & 0x10) >> 4) << t;
    h |= (uint32_t)((c[t + 16] & 0x10) >> 4) << (t + 16);
  }
  for (int b = 0; b < 4; b++) qh[b] = (uint8_t)(h >> (8 * b));
}
}  // namespace

void ggml_quantize_row_q5_0(const float* x, int64_t k, uint8_t* out) {
  for (int64_t b = 0; b < k / kQK; b++, x += kQK, out += 22) {
    float amax = 0.0f, max = 0.0f;
    for (int t = 0; t < kQK; t++)
      if (amax < std::fabs(x[t])) {  // strict: the first of equal magnitudes wins
        amax = std::fabs(x[t]);
        max = x[t];
      }
    const float d = max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(out, f32_to_f16_scalar(d));
    int c[32];
    for (int t = 0; t < kQK; t++) c[t] = (uint8_t)std::min(31, trunc_to_i8(x[t] * id + 16.5f));
    put_q5_codes(c, out + 2, out + 6);
  }
}

void ggml_quantize_row_q5_1(const float* x, int64_t k, uint8_t* out) {
  for (int64_t b = 0; b < k / kQK; b++, x += kQK, out += 24) {
    float lo = 3.402823466e38f, hi = -3.402823466e38f;  // FLT_MAX
    for (int t = 0; t < kQK; t++) {
      if (x[t] < lo) lo = x[t];
      if (x[t] > hi) hi = x[t];
    }
    const float d = (hi - lo) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(out, f32_to_f16_scalar(d));
    put_f16(out + 2, f32_to_f16_scalar(lo));
    int c[32];
    for (int t = 0; t < kQK; t++) c[t] = (uint8_t)trunc_to_i8((x[t] - lo) * id + 0.5f);  // (uint8_t) of the float
    put_q5_codes(c, out + 4, out + 8);
  }
}

}  // namespace lowbit
