// Q8_K activation quantization (kquant.h) and the prepared-activation buffer.
// Compiled with -ffp-contract=off (binding.gyp, lowbit_ggml): iscale * x is
// rounded to f32 before it is rounded to an integer, as in ggml's C code.
#include "formats/kquant.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "formats/packed.h"
#include "kernels/ggml.h"
#include "kernels/kernels.h"

namespace lowbit {

namespace {
int64_t pad64(int64_t x) { return (x + 63) / 64 * 64; }
int64_t d_at(int64_t m, int64_t k) { return pad64(m * k); }
int64_t bsums_at(int64_t m, int64_t k) { return d_at(m, k) + pad64(m * (k / kQK_K) * 4); }
int64_t bsp_at(int64_t m, int64_t k) { return bsums_at(m, k) + pad64(m * (k / 16) * 2); }
// block-32 activations (Q8_0 / Q8_1): codes, then d, then s
int64_t d32_at(int64_t m, int64_t k) { return pad64(m * k); }
int64_t s32_at(int64_t m, int64_t k) { return d32_at(m, k) + pad64(m * (k / 32) * 4); }
}  // namespace

size_t kquant_act_bytes(const KQuantFormat& f, int64_t m, int64_t k) {
  return f.act == kActQ8_K ? kquant_act_bytes(m, k) : (size_t)(s32_at(m, k) + m * (k / 32) * 4);
}

KAct kquant_act_view(const KQuantFormat& f, const void* buf, int64_t m, int64_t k) {
  if (f.act == kActQ8_K) return kquant_act_view(buf, m, k);
  const char* p = static_cast<const char*>(buf);
  KAct a{reinterpret_cast<const int8_t*>(p), reinterpret_cast<const float*>(p + d32_at(m, k)), nullptr, k, nullptr};
  a.s = reinterpret_cast<const float*>(p + s32_at(m, k));
  return a;
}

void kquant_prepare(const KQuantFormat& f, const float* A, int64_t lda, int64_t m, int64_t k, int64_t r0, int64_t r1,
                    void* buf, void (*q8_0)(const float*, int64_t, int8_t*, float*, int32_t*)) {
  if (!q8_0) q8_0 = quantize_q8_0_act_ref;
  if (f.act == kActQ8_K) return kquant_prepare(A, lda, m, k, r0, r1, buf, f.gemm4);
  char* p = static_cast<char*>(buf);
  int8_t* q = reinterpret_cast<int8_t*>(p);
  float* d = reinterpret_cast<float*>(p + d32_at(m, k));
  float* s = reinterpret_cast<float*>(p + s32_at(m, k));
  const int64_t nb = k / 32;
  std::vector<int32_t> sums((size_t)nb);
  for (int64_t r = r0; r < r1; r++) {
    if (f.act == kActQ8_1) quantize_row_q8_1(A + r * lda, k, q + r * k, d + r * nb, s + r * nb, q8_0);
    else q8_0(A + r * lda, k, q + r * k, d + r * nb, sums.data());
  }
}

void quantize_row_q8_1(const float* x, int64_t k, int8_t* q, float* d, float* s,
                       void (*q8_0)(const float*, int64_t, int8_t*, float*, int32_t*)) {
  const int64_t nb = k / 32;
  std::vector<int32_t> sums((size_t)nb);
  (q8_0 ? q8_0 : quantize_q8_0_act_ref)(x, k, q, d, sums.data());  // codes and fp16(d): Q8_0's (kernels/ggml.h)
  for (int64_t b = 0; b < nb; b++) {
    float amax = 0.0f;
    for (int t = 0; t < 32; t++) amax = std::fmax(amax, std::fabs(x[b * 32 + t]));
    const float dd = amax / 127.0f;  // the f32 d, before its fp16 rounding
    s[b] = f16_to_f32_scalar(f32_to_f16_scalar(dd * (float)sums[b]));
  }
}

size_t kquant_act_bytes(int64_t m, int64_t k) { return (size_t)(bsp_at(m, k) + m * (k / 32) * 2); }

KAct kquant_act_view(const void* buf, int64_t m, int64_t k) {
  const char* p = static_cast<const char*>(buf);
  return {reinterpret_cast<const int8_t*>(p), reinterpret_cast<const float*>(p + d_at(m, k)),
          reinterpret_cast<const int16_t*>(p + bsums_at(m, k)), k, reinterpret_cast<const int16_t*>(p + bsp_at(m, k))};
}

void kquant_prepare(const float* A, int64_t lda, int64_t m, int64_t k, int64_t r0, int64_t r1, void* buf, bool gemm4) {
  char* p = static_cast<char*>(buf);
  int8_t* q = reinterpret_cast<int8_t*>(p);
  float* d = reinterpret_cast<float*>(p + d_at(m, k));
  int16_t* bs = reinterpret_cast<int16_t*>(p + bsums_at(m, k));
  int16_t* bsp = reinterpret_cast<int16_t*>(p + bsp_at(m, k));
  for (int64_t r = r0; r < r1; r++) {
    quantize_row_q8_K(A + r * lda, k, q + r * k, d + r * (k / kQK_K), bs + r * (k / 16), gemm4 && r < m - m % 4);
    kquant_pair_sums(bs + r * (k / 16), k, bsp + r * (k / 32));
  }
}

void kquant_pair_sums(const int16_t* bsums, int64_t k, int16_t* bsp) {
  for (int64_t s = 0; s < k / 32; s++) bsp[s] = (int16_t)(bsums[2 * s] + bsums[2 * s + 1]);
}

// (compiled for AVX-512, AVX2 and baseline x86-64, the copy picked by CPUID at load: the same exact
// operations, so the same bits, at every width; the loops below are written to vectorize)
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
void quantize_row_q8_K(const float* x, int64_t k, int8_t* q, float* d, int16_t* bsums, bool ties_positive) {
  for (int64_t b = 0; b < k / kQK_K; b++, x += kQK_K, q += kQK_K, bsums += 16) {
    // max = the first element of largest magnitude: the magnitude (a max over 8 lanes, vectorizable), then its first
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int j = 0; j < kQK_K; j += 8)
      for (int l = 0; l < 8; l++) {
        const float ax = std::fabs(x[j + l]);
        lanes[l] = ax > lanes[l] ? ax : lanes[l];
      }
    float amax = 0.0f, max = 0.0f;
    for (int l = 0; l < 8; l++) amax = lanes[l] > amax ? lanes[l] : amax;
    for (int j = 0; j < kQK_K; j++)
      if (std::fabs(x[j]) == amax) {
        max = x[j];
        break;
      }
    if (ties_positive && max < 0.0f)  // ggml_quantize_mat_q8_K_4x8: +amax present -> the positive one
      for (int j = 0; j < kQK_K; j++)
        if (x[j] == amax) max = amax;
    if (amax == 0.0f) {
      d[b] = 0.0f;
      std::memset(q, 0, kQK_K);
      std::memset(bsums, 0, 16 * sizeof(int16_t));
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; j++) {
      const float v = iscale * x[j];  // one f32 rounding; |v| <= 127 (+ an ulp)
      // half to even (ggml's nearest_int, which adds and subtracts the same 1.5 * 2^23: exact for |v| < 2^22)
      const int n = (int)((v + 12582912.0f) - 12582912.0f);
      q[j] = (int8_t)(n < 127 ? n : 127);
    }
    for (int g = 0; g < 16; g++) {
      int s = 0;
      for (int t = 0; t < 16; t++) s += q[16 * g + t];
      bsums[g] = (int16_t)s;
    }
    d[b] = 1.0f / iscale;
  }
}

namespace {
// row r's block x <-> its fields in a group's block g (packed.h); to_packed: x -> g, else g -> x
template <bool to_packed>
void move_block(const PackField* fields, int count, uint8_t* g, int64_t r, uint8_t* x) {
  for (int i = 0; i < count; i++) {
    const PackField& f = fields[i];
    uint8_t* gp = g + f.g + f.stride * r;
    if (to_packed) std::memcpy(gp, x + f.x, (size_t)f.n);
    else std::memcpy(x + f.x, gp, (size_t)f.n);
  }
}
}  // namespace

void pack_groups(const PackField* fields, int count, int64_t block_bytes, const uint8_t* rows, int64_t n,
                 int64_t row_bytes, uint8_t* out) {
  const int64_t nb = row_bytes / block_bytes, full = n / kPackRows * kPackRows, groups = (n + kPackRows - 1) / kPackRows;
  std::memset(out + full * row_bytes, 0, (size_t)((groups * kPackRows - full) * row_bytes));  // the padding rows
  for (int64_t j = 0; j < n; j++) {
    uint8_t* g = out + (j / kPackRows) * kPackRows * row_bytes;
    for (int64_t b = 0; b < nb; b++)
      move_block<true>(fields, count, g + b * kPackRows * block_bytes, j % kPackRows,
                       const_cast<uint8_t*>(rows + j * row_bytes + b * block_bytes));
  }
}

void unpack_group_row(const PackField* fields, int count, int64_t block_bytes, const uint8_t* packed, int64_t j,
                      int64_t row_bytes, uint8_t* row) {
  const int64_t nb = row_bytes / block_bytes;
  uint8_t* g = const_cast<uint8_t*>(packed) + (j / kPackRows) * kPackRows * row_bytes;
  for (int64_t b = 0; b < nb; b++) move_block<false>(fields, count, g + b * kPackRows * block_bytes, j % kPackRows, row + b * block_bytes);
}

size_t kquant_storage_bytes(const KQuantFormat& f, int64_t n, int64_t row_bytes) {
  return (size_t)((n + f.pack_rows - 1) / f.pack_rows * f.pack_rows) * (size_t)row_bytes;
}

void kquant_store(const KQuantFormat& f, const uint8_t* rows, int64_t n, int64_t row_bytes, uint8_t* out) {
  if (f.pack) f.pack(rows, n, row_bytes, out);
  else std::memcpy(out, rows, (size_t)(n * row_bytes));
}

}  // namespace lowbit
