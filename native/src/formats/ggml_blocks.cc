#include "formats/ggml_blocks.h"

#include <cstring>
#include <vector>

#include "kernels/ggml.h"
#include "kernels/kernels.h"
#include "weights_shard.h"

namespace lowbit {

namespace {
GgmlWeight& gw(Weight& w) { return static_cast<GgmlWeight&>(w); }
size_t n8(const Weight& w) { return (size_t)pad_to(w.rows, kGgmlRows); }  // padding rows: zero codes and scales
}  // namespace

std::unique_ptr<Weight> ggml_blocks_create() { return std::make_unique<GgmlWeight>(); }

void ggml_blocks_layout(Weight& w, const WSpec&) {
  if (w.cols % kQK)
    throw std::invalid_argument(w.name + ": " + w.fmt->name + " needs the input dimension (cols = " + std::to_string(w.cols) +
                                ") to be a multiple of 32 (GGUF blocks of 32)");
  w.kp = w.cols;
}

void ggml_blocks_fill(Weight& w, const WSpec&, SrcDtype src, const void* data) {
  GgmlWeight& g = gw(w);
  const GgmlType t = g.type();
  const int64_t nb = w.cols / kQK, bb = ggml_block_bytes(t);
  w.data.reserve(n8(w) * nb * ggml_code_bytes(t));
  std::memset(w.data.data(), 0, n8(w) * nb * ggml_code_bytes(t));
  g.scales.reserve(n8(w) * nb * 2);
  std::memset(g.scales.data(), 0, n8(w) * nb * 2);
  const bool raw = (src == SrcDtype::Q4_0 && t == GgmlType::Q4_0) || (src == SrcDtype::Q8_0 && t == GgmlType::Q8_0);
  std::vector<float> rowf(raw ? 0 : (size_t)w.cols);
  std::vector<uint8_t> blocks(raw ? 0 : (size_t)(nb * bb));
  for (int64_t j = 0; j < w.rows; j++) {
    const uint8_t* row = static_cast<const uint8_t*>(data) + (size_t)j * nb * bb;
    if (!raw) {
      src_row_f32(src, data, j, w.cols, rowf.data());
      ggml_quantize_row(t, rowf.data(), w.cols, blocks.data());
      row = blocks.data();
    }
    ggml_pack_row(t, row, j, nb, w.data.as<uint8_t>(), g.scales.as<uint16_t>());
  }
}

// codes + f16 scales of whole 8-row groups
size_t ggml_blocks_bytes(const Weight& w) {
  return n8(w) * (size_t)(w.kp / kQK) * (size_t)ggml_block_bytes(as_ggml(w).type());
}

// w = fp32(d) * code, as ggml's dequantize_row_q4_0 / _q8_0 (token_embd of GGUF files)
void ggml_blocks_row(const Weight& w, int64_t r, float* out) {
  const GgmlWeight& g = as_ggml(w);
  const int64_t nb = w.cols / kQK, cb = ggml_code_bytes(g.type());
  const uint8_t* codes = w.data.as<uint8_t>();
  for (int64_t b = 0; b < nb; b++) {
    const float d = f16_to_f32_scalar(g.scales.as<uint16_t>()[ggml_scale_index(r, b, nb)]);
    for (int64_t t = 0; t < cb; t++) {
      const uint8_t byte = codes[ggml_code_offset(r, b, t, nb, cb)];
      if (w.format == WFormat::Q8_0) {
        out[b * kQK + t] = (float)(int8_t)byte * d;
      } else {
        out[b * kQK + t] = (float)((byte & 15) - 8) * d;
        out[b * kQK + t + 16] = (float)((byte >> 4) - 8) * d;
      }
    }
  }
}

std::vector<WeightBuffer> ggml_blocks_buffers(Weight& w) {
  const size_t nb = (size_t)(w.cols / kQK);
  if (w.format == WFormat::Q4_0) return {{"data", "U8", n8(w) * nb * 16, &w.data}, {"scales", "F16", n8(w) * nb * 2, &gw(w).scales}};
  return {{"data", "I8", n8(w) * nb * 32, &w.data}, {"scales", "F16", n8(w) * nb * 2, &gw(w).scales}};
}

// rows, or whole blocks of columns: the same GGUF blocks, repacked
std::unique_ptr<Weight> ggml_blocks_shard(const Weight& w, const WeightShard& s) {
  check_shard_unit(w, s, kQK, "blocks");
  std::unique_ptr<Weight> t = shard_layout(w, s);
  const GgmlType type = as_ggml(w).type();
  const int64_t nb = w.cols / kQK, tb = t->cols / kQK, bb = ggml_block_bytes(type), b0 = shard_col0(s) / kQK;
  std::vector<uint8_t> row((size_t)(nb * bb));
  for (int64_t j = 0; j < t->rows; j++) {
    ggml_unpack_row(type, w.data.as<uint8_t>(), as_ggml(w).scales.as<uint16_t>(), shard_row(s, j), nb, row.data());
    ggml_pack_row(type, row.data() + b0 * bb, j, tb, t->data.as<uint8_t>(), gw(*t).scales.as<uint16_t>());
  }
  return t;
}

namespace {
int64_t scales_at(const Weight& w, int64_t m) { return pad_to(m * w.cols, 64); }
int64_t sums_at(const Weight& w, int64_t m) { return scales_at(w, m) + pad_to(m * (w.cols / kQK) * 4, 64); }
}  // namespace

const FormatOps kGgmlBlockOps = {
    [](const Weight& w, int64_t m) -> size_t { return (size_t)(sums_at(w, m) + m * (w.cols / kQK) * 4); },
    [](const KernelTable& kt, const Weight& w, const float* A, int64_t lda, int64_t m, int64_t r0, int64_t r1,
       void* act) {
      int8_t* q = static_cast<int8_t*>(act);
      float* d = reinterpret_cast<float*>(q + scales_at(w, m));
      int32_t* s = reinterpret_cast<int32_t*>(q + sums_at(w, m));
      const int64_t nb = w.cols / kQK;
      for (int64_t r = r0; r < r1; r++) kt.quantize_q8_0_act(A + r * lda, w.cols, q + r * w.cols, d + r * nb, s + r * nb);
    },
    [](const KernelTable& kt, const float*, int64_t, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      const GgmlWeight& g = as_ggml(W);
      const int8_t* q = static_cast<const int8_t*>(act);
      const float* d = reinterpret_cast<const float*>(q + scales_at(W, m));
      const int32_t* s = reinterpret_cast<const int32_t*>(q + sums_at(W, m));
      if (W.format == WFormat::Q4_0)
        kt.matmul_q4_0(q, W.cols, d, s, W.data.as<uint8_t>(), g.scales.as<uint16_t>(), C, ldc, m, j0, j1, W.cols);
      else
        kt.matmul_q8_0(q, W.cols, d, s, W.data.as<int8_t>(), g.scales.as<uint16_t>(), C, ldc, m, j0, j1, W.cols);
    }};

}  // namespace lowbit
