// ggml block types -> f32 (see ggml_dequant.h). One function per block type
// decodes one block; a template loop runs it over all blocks, so the type is
// dispatched once per call, not per element.
//
// Every expression keeps ggml's operand order and float (not double)
// arithmetic: e.g. Q4_K is (d * sc) * q - (dmin * m), each product rounded to
// f32, so the output matches ggml's dequantize_row_* bit for bit.
#include "ggml_dequant.h"

#include <cstring>
#include <vector>

#include "kernels/kernels.h"

namespace lowbit {

namespace {

constexpr int64_t kQK = 32;    // elements per block of the _0/_1 types
constexpr int64_t kQK_K = 256;  // elements per K-type super-block

// f16 bits -> f32 for all 65536 values, built once (256 KiB).
const float* f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; h++) t[h] = f16_to_f32_scalar((uint16_t)h);
    return t;
  }();
  return table.data();
}

inline uint16_t rd16(const uint8_t* p) { return (uint16_t)(p[0] | (p[1] << 8)); }
inline uint32_t rd32(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

// Each decoder: b -> one block's bytes, y -> its block_elems outputs, h -> f16 table.

// Q4_0 (18 B): d f16 | qs[16]. y[j] = (lo(qs[j]) - 8) d, y[j + 16] = (hi(qs[j]) - 8) d.
void block_q4_0(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)];
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; j++) {
    y[j] = (float)((qs[j] & 0x0F) - 8) * d;
    y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
  }
}

// Q4_1 (20 B): d f16 | m f16 | qs[16]. y = q d + m, q = nibble as in Q4_0.
void block_q4_1(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)], m = h[rd16(b + 2)];
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; j++) {
    y[j] = (float)(qs[j] & 0x0F) * d + m;
    y[j + 16] = (float)(qs[j] >> 4) * d + m;
  }
}

// Q5_0 (22 B): d f16 | qh u32 | qs[16]. Fifth bit of element i is bit i of qh;
// y = (q - 16) d.
void block_q5_0(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)];
  const uint32_t qh = rd32(b + 2);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; j++) {
    const int x0 = ((qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4)) - 16;
    const int x1 = ((qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4)) - 16;
    y[j] = (float)x0 * d;
    y[j + 16] = (float)x1 * d;
  }
}

// Q5_1 (24 B): d f16 | m f16 | qh u32 | qs[16]. y = q d + m, q in [0, 31].
void block_q5_1(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)], m = h[rd16(b + 2)];
  const uint32_t qh = rd32(b + 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < 16; j++) {
    const int x0 = (qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4);
    const int x1 = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
    y[j] = (float)x0 * d + m;
    y[j + 16] = (float)x1 * d + m;
  }
}

// Q8_0 (34 B): d f16 | qs int8[32]. y = q d.
void block_q8_0(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)];
  for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

// Q2_K (84 B): scales[16] | qs[64] | d f16 | dmin f16. 16 sub-blocks of 16;
// sub-block s has scale (scales[s] & 15) d and min (scales[s] >> 4) dmin.
// Element e = 128 c + 32 j + r (c < 2, j < 4, r < 32) is bits 2j..2j+1 of qs[32 c + r].
void block_q2_K(const uint8_t* b, float* y, const float* h) {
  const uint8_t* scales = b;
  const uint8_t* qs = b + 16;
  const float d = h[rd16(b + 80)], dmin = h[rd16(b + 82)];
  for (int c = 0; c < 2; c++)
    for (int j = 0; j < 4; j++)
      for (int half = 0; half < 2; half++) {
        const int s = c * 8 + j * 2 + half;  // sub-block: elements [16 s, 16 s + 16)
        const float dl = d * (float)(scales[s] & 0x0F), ml = dmin * (float)(scales[s] >> 4);
        const uint8_t* q = qs + c * 32 + half * 16;
        for (int l = 0; l < 16; l++) y[16 * s + l] = dl * (float)((q[l] >> (2 * j)) & 3) - ml;
      }
}

// Q3_K (110 B): hmask[32] | qs[64] | scales[12] | d f16. 16 sub-blocks of 16
// with signed 6-bit scales: low 4 bits in scales[s % 8] (low nibble for s < 8,
// high for s >= 8), high 2 bits at bits 2 (s / 4) of scales[8 + s % 4]; minus 32.
// Element e = 128 c + 32 j + r: low 2 bits from qs as in Q2_K, third bit is bit
// 4 c + j of hmask[r]; value (q2 - (bit ? 0 : 4)) * d * (scale - 32).
void block_q3_K(const uint8_t* b, float* y, const float* h) {
  const uint8_t* hmask = b;
  const uint8_t* qs = b + 32;
  const uint8_t* sc = b + 96;
  const float d_all = h[rd16(b + 108)];
  for (int c = 0; c < 2; c++)
    for (int j = 0; j < 4; j++)
      for (int half = 0; half < 2; half++) {
        const int s = c * 8 + j * 2 + half;
        const int lo = s < 8 ? (sc[s] & 0x0F) : (sc[s - 8] >> 4);
        const int hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
        const float dl = d_all * (float)((lo | (hi << 4)) - 32);
        const uint8_t* q = qs + c * 32 + half * 16;
        const uint8_t* hm = hmask + half * 16;
        const uint8_t bit = (uint8_t)(1u << (4 * c + j));
        for (int l = 0; l < 16; l++)
          y[16 * s + l] = dl * (float)((int)((q[l] >> (2 * j)) & 3) - ((hm[l] & bit) ? 0 : 4));
      }
}

// The 6-bit scale and min of sub-block j (0..7) of Q4_K / Q5_K from their
// 12 packed bytes (ggml's get_scale_min_k4): j < 4 in the low 6 bits of
// bytes j and j + 4; j >= 4 low nibbles from byte j + 4, top 2 bits from the
// top of bytes j - 4 (scale) and j (min).
inline void scale_min_k4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Q4_K (144 B): d f16 | dmin f16 | scales[12] | qs[128]. 8 sub-blocks of 32;
// elements 64 c + l (l < 32) are the low nibbles of qs[32 c + l] (sub-block
// 2 c), elements 64 c + 32 + l the high nibbles (sub-block 2 c + 1).
// y = (d sc) q - (dmin m).
void block_q4_K(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)], dmin = h[rd16(b + 2)];
  const uint8_t* scales = b + 4;
  const uint8_t* qs = b + 16;
  for (int c = 0; c < 4; c++) {
    int sc, m;
    scale_min_k4(2 * c, scales, &sc, &m);
    const float d1 = d * (float)sc, m1 = dmin * (float)m;
    scale_min_k4(2 * c + 1, scales, &sc, &m);
    const float d2 = d * (float)sc, m2 = dmin * (float)m;
    const uint8_t* q = qs + 32 * c;
    for (int l = 0; l < 32; l++) y[64 * c + l] = d1 * (float)(q[l] & 0x0F) - m1;
    for (int l = 0; l < 32; l++) y[64 * c + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
  }
}

// Q5_K (176 B): d f16 | dmin f16 | scales[12] | qh[32] | qs[128]. As Q4_K, plus
// a fifth bit (+16) for element 32 s + l (sub-block s) in bit s of qh[l].
void block_q5_K(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)], dmin = h[rd16(b + 2)];
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int c = 0; c < 4; c++) {
    int sc, m;
    scale_min_k4(2 * c, scales, &sc, &m);
    const float d1 = d * (float)sc, m1 = dmin * (float)m;
    scale_min_k4(2 * c + 1, scales, &sc, &m);
    const float d2 = d * (float)sc, m2 = dmin * (float)m;
    const uint8_t u1 = (uint8_t)(1u << (2 * c)), u2 = (uint8_t)(2u << (2 * c));
    const uint8_t* q = qs + 32 * c;
    for (int l = 0; l < 32; l++) y[64 * c + l] = d1 * (float)((q[l] & 0x0F) + ((qh[l] & u1) ? 16 : 0)) - m1;
    for (int l = 0; l < 32; l++) y[64 * c + 32 + l] = d2 * (float)((q[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
  }
}

// Q6_K (210 B): ql[128] | qh[64] | scales int8[16] | d f16. 16 sub-blocks of 16
// with int8 scales. Element 128 c + 32 g + l (c < 2, g < 4, l < 32): low 4 bits
// from ql[64 c + 32 (g & 1) + l] (low nibble for g < 2, high for g >= 2), high
// 2 bits from bits 2 g of qh[32 c + l]; y = (d scales[e / 16]) (q - 32).
void block_q6_K(const uint8_t* b, float* y, const float* h) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = (const int8_t*)(b + 192);
  const float d = h[rd16(b + 208)];
  for (int c = 0; c < 2; c++) {
    const uint8_t* l4 = ql + 64 * c;
    const uint8_t* h2 = qh + 32 * c;
    const int8_t* s = sc + 8 * c;
    float* yc = y + 128 * c;
    for (int l = 0; l < 32; l++) {
      const int is = l / 16;
      const int q1 = ((l4[l] & 0x0F) | (((h2[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((l4[l + 32] & 0x0F) | (((h2[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((l4[l] >> 4) | (((h2[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((l4[l + 32] >> 4) | (((h2[l] >> 6) & 3) << 4)) - 32;
      yc[l] = d * (float)s[is] * (float)q1;
      yc[l + 32] = d * (float)s[is + 2] * (float)q2;
      yc[l + 64] = d * (float)s[is + 4] * (float)q3;
      yc[l + 96] = d * (float)s[is + 6] * (float)q4;
    }
  }
}

using BlockFn = void (*)(const uint8_t*, float*, const float*);

// ggml's kvalues_iq4nl (the IQ4 types' non-linear 4-bit values)
constexpr int8_t kIq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// IQ4_NL (18 B): d f16 | qs[16]. y[j] = d * v[lo(qs[j])], y[j + 16] = d * v[hi(qs[j])].
void block_iq4_nl(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)];
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; j++) {
    y[j] = d * (float)kIq4nl[qs[j] & 0x0F];
    y[j + 16] = d * (float)kIq4nl[qs[j] >> 4];
  }
}

// IQ4_XS (136 B): d f16 | scales_h u16 | scales_l[4] | qs[128]. Sub-block s
// (32 elements): ls = (nibble s % 2 of scales_l[s / 2]) | (bits 2s of scales_h) << 4,
// dl = d * (ls - 32), then as IQ4_NL with dl over qs[16s .. 16s + 16).
void block_iq4_xs(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)];
  const uint16_t sh = rd16(b + 2);
  const uint8_t* sl = b + 4;
  const uint8_t* qs = b + 8;
  for (int s = 0; s < 8; s++, y += 32, qs += 16) {
    const int ls = ((sl[s / 2] >> (4 * (s % 2))) & 0xF) | (((sh >> (2 * s)) & 3) << 4);
    const float dl = d * (float)(ls - 32);
    for (int j = 0; j < 16; j++) {
      y[j] = dl * (float)kIq4nl[qs[j] & 0x0F];
      y[j + 16] = dl * (float)kIq4nl[qs[j] >> 4];
    }
  }
}

struct TypeEntry {
  int id;
  GgmlBlockLayout layout;
  BlockFn fn;  // nullptr for the element types (F32, F16, BF16), handled inline
};

const TypeEntry kTypes[] = {
    {kGgmlF32, {1, 4}, nullptr},
    {kGgmlF16, {1, 2}, nullptr},
    {kGgmlBF16, {1, 2}, nullptr},
    {kGgmlQ4_0, {kQK, 2 + 16}, block_q4_0},
    {kGgmlQ4_1, {kQK, 2 + 2 + 16}, block_q4_1},
    {kGgmlQ5_0, {kQK, 2 + 4 + 16}, block_q5_0},
    {kGgmlQ5_1, {kQK, 2 + 2 + 4 + 16}, block_q5_1},
    {kGgmlQ8_0, {kQK, 2 + 32}, block_q8_0},
    {kGgmlQ2_K, {kQK_K, 16 + 64 + 2 + 2}, block_q2_K},
    {kGgmlQ3_K, {kQK_K, 32 + 64 + 12 + 2}, block_q3_K},
    {kGgmlQ4_K, {kQK_K, 2 + 2 + 12 + 128}, block_q4_K},
    {kGgmlQ5_K, {kQK_K, 2 + 2 + 12 + 32 + 128}, block_q5_K},
    {kGgmlQ6_K, {kQK_K, 128 + 64 + 16 + 2}, block_q6_K},
    {kGgmlIQ4_NL, {kQK, 2 + 16}, block_iq4_nl},
    {kGgmlIQ4_XS, {kQK_K, 2 + 2 + 4 + 128}, block_iq4_xs},
};

const TypeEntry* find_type(int id) {
  for (const TypeEntry& t : kTypes)
    if (t.id == id) return &t;
  return nullptr;
}

bool fail(std::string* err, const std::string& msg) {
  if (err) *err = msg;
  return false;
}

}  // namespace

bool ggml_dequant_layout(int ggml_type, GgmlBlockLayout* out) {
  const TypeEntry* t = find_type(ggml_type);
  if (!t) return false;
  if (out) *out = t->layout;
  return true;
}

bool ggml_dequantize(int ggml_type, const void* src, size_t src_bytes, float* dst, int64_t n, std::string* err) {
  const TypeEntry* t = find_type(ggml_type);
  if (!t) return fail(err, "ggml type " + std::to_string(ggml_type) + " cannot be dequantized (unsupported)");
  if (n < 0) return fail(err, "negative element count " + std::to_string(n));
  const int64_t be = t->layout.block_elems, bb = t->layout.block_bytes;
  if (n % be != 0)
    return fail(err, std::to_string(n) + " elements is not a whole number of " + std::to_string(be) + "-element blocks");
  const uint64_t nb = (uint64_t)(n / be);
  if (nb > SIZE_MAX / (uint64_t)bb || nb * (uint64_t)bb != src_bytes)
    return fail(err, std::to_string(n) + " elements take " + std::to_string(nb) + " blocks of " + std::to_string(bb) +
                         " bytes, but " + std::to_string(src_bytes) + " bytes were given");
  if (n == 0) return true;
  const uint8_t* s = static_cast<const uint8_t*>(src);
  switch (ggml_type) {
    case kGgmlF32:
      std::memcpy(dst, s, src_bytes);
      return true;
    case kGgmlF16: {
      const float* h = f16_table();
      for (int64_t i = 0; i < n; i++) dst[i] = h[rd16(s + 2 * i)];
      return true;
    }
    case kGgmlBF16:
      for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32_scalar(rd16(s + 2 * i));
      return true;
    default: {
      const float* h = f16_table();
      for (uint64_t i = 0; i < nb; i++) t->fn(s + i * bb, dst + i * be, h);
      return true;
    }
  }
}

}  // namespace lowbit
