#include "formats/kquant_weight.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/kernels.h"

namespace lowbit {

void kquant_layout(Weight& w, const WSpec&) {
  const KQuantFormat& f = *w.fmt->kq;
  if (w.cols % f.block_elems)
    throw std::invalid_argument(w.name + ": " + f.ggml_name + " needs the input dimension (cols = " + std::to_string(w.cols) +
                                ") to be a multiple of " + std::to_string(f.block_elems));
  if (w.rows > ((int64_t)1 << 40) || w.cols > ((int64_t)1 << 40) || (size_t)(w.cols / f.block_elems) > SIZE_MAX / 256 / (size_t)w.rows)
    throw std::invalid_argument(w.name + ": shape too large");
  w.kp = w.cols;
}

// the GGUF blocks, unchanged or moved into the format's packed groups
void kquant_fill(Weight& w, const WSpec&, SrcDtype, const void* data) {
  w.data.reserve(w.bytes());
  kquant_store(*w.fmt->kq, static_cast<const uint8_t*>(data), w.rows, kq_row_bytes(w), w.data.as<uint8_t>());
}

// the file's bytes (a packed format: plus its last group's padding rows)
size_t kquant_bytes(const Weight& w) { return kquant_storage_bytes(*w.fmt->kq, w.rows, kq_row_bytes(w)); }

// ggml's dequantize_row_<type>
void kquant_row(const Weight& w, int64_t r, float* out) {
  const KQuantFormat& f = *w.fmt->kq;
  if (!f.unpack_row) return f.dequantize_row(w.data.as<uint8_t>() + r * kq_row_bytes(w), w.cols, out);
  std::vector<uint8_t> row((size_t)kq_row_bytes(w));
  f.unpack_row(w.data.as<uint8_t>(), r, kq_row_bytes(w), row.data());
  f.dequantize_row(row.data(), w.cols, out);
}

// a fused matmul may mix K-quant types of one activation type
bool kquant_same_act(const Weight& a, const Weight& b) { return a.fmt->kq->act == b.fmt->kq->act; }

// Activations quantized to the type's activation type (Q8_K, Q8_0 or Q8_1;
// formats/kquant.h), the kernels of each weight's K-quant row for the kernel
// table's instruction set.
const FormatOps kKQuantOps = {
    [](const Weight& w, int64_t m) -> size_t { return kquant_act_bytes(*w.fmt->kq, m, w.cols); },
    [](const KernelTable& kt, const Weight& w, const float* A, int64_t lda, int64_t m, int64_t r0, int64_t r1,
       void* act) { kquant_prepare(*w.fmt->kq, A, lda, m, w.cols, r0, r1, act, kt.quantize_q8_0_act); },
    [](const KernelTable& kt, const float*, int64_t, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      const KQuantFormat& f = *W.fmt->kq;
      kquant_kernels(f, kt.isa).matmul(kquant_act_view(f, act, m, W.cols), m, W.data.as<uint8_t>(), kq_row_bytes(W), C, ldc,
                                        j0, j1);
    }};

}  // namespace lowbit
