#include "matmul.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "formats/kquant.h"

namespace lowbit {

namespace {

// One entry per weight format. Kernels read activation rows of kp elements
// (zeros past k): `prepare` writes them when the format needs converted or
// padded activations; otherwise the kernel reads A in place. `w` is the first
// weight of the (possibly fused) matmul: all share format, k and group.
struct FormatOps {
  // bytes of prepared activations for m rows (0 = read A in place)
  size_t (*act_bytes)(const Weight& w, int64_t m);
  // converts rows [r0, r1) of A into the prepared buffer
  void (*prepare)(const KernelTable& kt, const Weight& w, const float* A, int64_t lda, int64_t m, int64_t r0,
                  int64_t r1, void* act);
  // computes C[:, j0:j1] (j0 a multiple of 4)
  void (*run)(const KernelTable& kt, const float* A, int64_t lda, const void* act, int64_t m, const Weight& W,
              float* C, int64_t ldc, int64_t j0, int64_t j1);
};

void pad_rows_f32(const float* A, int64_t lda, int64_t k, int64_t kp, int64_t r0, int64_t r1, float* out) {
  for (int64_t r = r0; r < r1; r++) {
    std::memcpy(out + r * kp, A + r * lda, k * sizeof(float));
    std::memset(out + r * kp + k, 0, (kp - k) * sizeof(float));
  }
}

// f32 weights: A is read in place unless k needs padding to whole chunks.
const FormatOps kF32 = {
    [](const Weight& w, int64_t m) -> size_t { return w.cols == w.kp ? 0 : (size_t)(m * w.kp) * 4; },
    [](const KernelTable&, const Weight& w, const float* A, int64_t lda, int64_t, int64_t r0, int64_t r1, void* act) {
      pad_rows_f32(A, lda, w.cols, w.kp, r0, r1, static_cast<float*>(act));
    },
    [](const KernelTable& kt, const float* A, int64_t lda, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      if (act) kt.matmul_f32(static_cast<const float*>(act), W.kp, W.data.as<float>(), C, ldc, m, j0, j1, W.kp);
      else kt.matmul_f32(A, lda, W.data.as<float>(), C, ldc, m, j0, j1, W.kp);
    }};

// bf16 weights: activations rounded to bf16 (RNE) once per matmul, products of
// bf16 pairs accumulated in f32 (vdpbf16ps where available). The same numerics
// on every kernel variant and for prefill and decode.
const FormatOps kBF16 = {
    [](const Weight& w, int64_t m) -> size_t { return (size_t)(m * w.kp) * 2; },
    [](const KernelTable& kt, const Weight& w, const float* A, int64_t lda, int64_t, int64_t r0, int64_t r1, void* act) {
      uint16_t* out = static_cast<uint16_t*>(act);
      for (int64_t r = r0; r < r1; r++) {
        kt.f32_to_bf16(A + r * lda, out + r * w.kp, w.cols);
        std::memset(out + r * w.kp + w.cols, 0, (w.kp - w.cols) * sizeof(uint16_t));
      }
    },
    [](const KernelTable& kt, const float*, int64_t, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      kt.matmul_bf16_bf16a(static_cast<const uint16_t*>(act), W.kp, W.data.as<uint16_t>(), C, ldc, m, j0, j1, W.kp);
    }};

// w8a8: activations quantized per token (row) to int8 at run time: [m][kp]
// int8, then (64-byte aligned) [m] f32 scales.
int64_t q8_scales_at(const Weight& w, int64_t m) { return pad_to(m * w.kp, 64); }
const FormatOps kQ8 = {
    [](const Weight& w, int64_t m) -> size_t { return (size_t)q8_scales_at(w, m) + (size_t)m * 4; },
    [](const KernelTable& kt, const Weight& w, const float* A, int64_t lda, int64_t m, int64_t r0, int64_t r1,
       void* act) {
      int8_t* q = static_cast<int8_t*>(act);
      float* sa = reinterpret_cast<float*>(q + q8_scales_at(w, m));
      // static scale (w8a8-sq-static) when calibrated, else per token
      for (int64_t r = r0; r < r1; r++) kt.quantize_q8(A + r * lda, w.cols, w.kp, q + r * w.kp, sa + r, w.act_scale);
    },
    [](const KernelTable& kt, const float*, int64_t, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      const int8_t* q = static_cast<const int8_t*>(act);
      const float* sa = reinterpret_cast<const float*>(q + q8_scales_at(W, m));
      kt.matmul_q8(q, W.kp, sa, W.data.as<int8_t>(), W.scales.as<float>(), W.wsum.as<int32_t>(), C, ldc, m, j0, j1,
                   W.kp);
    }};

// w4a16: activations quantized per token and group to int16 (quantize_a16):
// [m][kp] int16, then (64-byte aligned) [m][groups] f32 scales sx and
// [m][groups] f32 group sums asum (the offsets multiply them).
int64_t q4_sx_at(const Weight& w, int64_t m) { return pad_to(m * w.kp * 2, 64); }
const FormatOps kQ4 = {
    [](const Weight& w, int64_t m) -> size_t { return (size_t)q4_sx_at(w, m) + (size_t)(2 * m * w.ngroups()) * 4; },
    [](const KernelTable& kt, const Weight& w, const float* A, int64_t lda, int64_t m, int64_t r0, int64_t r1,
       void* act) {
      int16_t* q = static_cast<int16_t*>(act);
      float* sx = reinterpret_cast<float*>(static_cast<char*>(act) + q4_sx_at(w, m));
      float* asum = sx + m * w.ngroups();
      const int64_t ng = w.ngroups();
      for (int64_t r = r0; r < r1; r++)
        kt.quantize_a16(A + r * lda, w.cols, w.kp, w.group, q + r * w.kp, sx + r * ng, asum + r * ng);
    },
    [](const KernelTable& kt, const float*, int64_t, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      const int16_t* q = static_cast<const int16_t*>(act);
      const float* sx = reinterpret_cast<const float*>(static_cast<const char*>(act) + q4_sx_at(W, m));
      kt.matmul_q4(q, W.kp, sx, sx + m * W.ngroups(), W.data.as<uint8_t>(), W.scales.as<float>(),
                   W.offsets.as<float>(), C, ldc, m, j0, j1, W.kp, W.group);
    }};

// w4a8: activations quantized per token to int8 as for w8a8 ([m][kp] int8,
// then [m] f32 scales), followed by [m][groups] int32 sums of each group's
// int8 values (the kernels' unsigned-code correction).
int64_t q4a8_isum_at(const Weight& w, int64_t m) { return q8_scales_at(w, m) + pad_to(m * 4, 64); }
const FormatOps kQ4A8 = {
    [](const Weight& w, int64_t m) -> size_t { return (size_t)(q4a8_isum_at(w, m) + m * w.ngroups() * 4); },
    [](const KernelTable& kt, const Weight& w, const float* A, int64_t lda, int64_t m, int64_t r0, int64_t r1,
       void* act) {
      kQ8.prepare(kt, w, A, lda, m, r0, r1, act);  // int8 rows and scales exactly as w8a8 (act_scale 0: per token)
      const int8_t* q = static_cast<const int8_t*>(act);
      int32_t* isum = reinterpret_cast<int32_t*>(static_cast<int8_t*>(act) + q4a8_isum_at(w, m));
      const int64_t ng = w.ngroups();
      for (int64_t r = r0; r < r1; r++)
        for (int64_t g = 0; g < ng; g++) {
          int32_t t = 0;
          for (int64_t p = g * w.group; p < (g + 1) * w.group; p++) t += q[r * w.kp + p];
          isum[r * ng + g] = t;
        }
    },
    [](const KernelTable& kt, const float*, int64_t, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      const int8_t* q = static_cast<const int8_t*>(act);
      const float* sa = reinterpret_cast<const float*>(q + q8_scales_at(W, m));
      const int32_t* isum = reinterpret_cast<const int32_t*>(q + q4a8_isum_at(W, m));
      if (W.amplifier > 0)
        kt.matmul_q4a8_is(q, W.kp, sa, isum, W.data.as<uint8_t>(), W.iscales.as<int32_t>(), (float)(1.0 / W.amplifier),
                          C, ldc, m, j0, j1, W.kp, W.group);
      else
        kt.matmul_q4a8(q, W.kp, sa, isum, W.data.as<uint8_t>(), W.scales.as<float>(), C, ldc, m, j0, j1, W.kp,
                       W.group);
    }};

// q4_0 / q8_0 (llama.cpp's GGUF blocks): activations quantized to Q8_0 blocks
// as llama.cpp's CPU backend does (kernels/ggml.h): [m][k] int8 codes, then
// (64-byte aligned) [m][k / 32] f32 block scales (f16-rounded) and [m][k / 32]
// int32 block sums of the codes.
int64_t ggml_scales_at(const Weight& w, int64_t m) { return pad_to(m * w.cols, 64); }
int64_t ggml_sums_at(const Weight& w, int64_t m) { return ggml_scales_at(w, m) + pad_to(m * (w.cols / kQK) * 4, 64); }
const FormatOps kGgml = {
    [](const Weight& w, int64_t m) -> size_t { return (size_t)(ggml_sums_at(w, m) + m * (w.cols / kQK) * 4); },
    [](const KernelTable& kt, const Weight& w, const float* A, int64_t lda, int64_t m, int64_t r0, int64_t r1,
       void* act) {
      int8_t* q = static_cast<int8_t*>(act);
      float* d = reinterpret_cast<float*>(q + ggml_scales_at(w, m));
      int32_t* s = reinterpret_cast<int32_t*>(q + ggml_sums_at(w, m));
      const int64_t nb = w.cols / kQK;
      for (int64_t r = r0; r < r1; r++) kt.quantize_q8_0_act(A + r * lda, w.cols, q + r * w.cols, d + r * nb, s + r * nb);
    },
    [](const KernelTable& kt, const float*, int64_t, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      const int8_t* q = static_cast<const int8_t*>(act);
      const float* d = reinterpret_cast<const float*>(q + ggml_scales_at(W, m));
      const int32_t* s = reinterpret_cast<const int32_t*>(q + ggml_sums_at(W, m));
      if (W.format == WFormat::Q4_0)
        kt.matmul_q4_0(q, W.cols, d, s, W.data.as<uint8_t>(), W.scales.as<uint16_t>(), C, ldc, m, j0, j1, W.cols);
      else
        kt.matmul_q8_0(q, W.cols, d, s, W.data.as<int8_t>(), W.scales.as<uint16_t>(), C, ldc, m, j0, j1, W.cols);
    }};

// K-quants (formats/kquant.h): activations quantized to Q8_K, the kernels of
// each weight's format-table row for the kernel table's instruction set (a
// fused matmul may mix K-quant types: they share the Q8_K activations). The
// legacy block-32 and IQ4 types run here too, with their own activation type
// (KQuantFormat::act; a fused matmul never mixes activation types).
const FormatOps kKQuant = {
    [](const Weight& w, int64_t m) -> size_t { return kquant_act_bytes(*w.kq, m, w.cols); },
    [](const KernelTable&, const Weight& w, const float* A, int64_t lda, int64_t m, int64_t r0, int64_t r1,
       void* act) { kquant_prepare(*w.kq, A, lda, m, w.cols, r0, r1, act); },
    [](const KernelTable& kt, const float*, int64_t, const void* act, int64_t m, const Weight& W, float* C,
       int64_t ldc, int64_t j0, int64_t j1) {
      kquant_kernels(*W.kq, kt.name).matmul(kquant_act_view(*W.kq, act, m, W.cols), m, W.data.as<uint8_t>(), W.kq_row_bytes(),
                                            C, ldc, j0, j1);
    }};

const FormatOps& format_ops(WFormat f) {
  switch (f) {
    case WFormat::F32: return kF32;
    case WFormat::BF16: return kBF16;
    case WFormat::Q8: return kQ8;
    case WFormat::Q4: return kQ4;
    case WFormat::Q4A8: return kQ4A8;
    case WFormat::Q4_0:
    case WFormat::Q8_0: return kGgml;
    case WFormat::KQuant: return kKQuant;
  }
  throw std::logic_error("matmul: unknown weight format");
}

}  // namespace

void matmul(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m, const Weight& W,
            float* C, int64_t ldc, MatmulScratch& scratch) {
  if (ldc != W.rows) throw std::logic_error("matmul: ldc must equal the weight's rows");
  const Weight* w = &W;
  matmul_multi(pool, kt, A, lda, m, &w, &C, 1, scratch);
}

void matmul_multi(ThreadPool& pool, const KernelTable& kt, const float* A, int64_t lda, int64_t m,
                  const Weight* const* W, float* const* C, int count, MatmulScratch& scratch) {
  const FormatOps& ops = format_ops(W[0]->format);
  const int64_t k = W[0]->cols;
  for (int i = 0; i < count; i++)
    if (!W[i]->matrix || W[i]->format != W[0]->format || W[i]->cols != k || W[i]->group != W[0]->group ||
        W[i]->act_scale != W[0]->act_scale || (W[i]->kq && W[i]->kq->act != W[0]->kq->act))
      throw std::logic_error("matmul_multi: mixed weights");
  size_t ab = ops.act_bytes(*W[0], m);
  if (ab) scratch.act.reserve(ab);
  void* act = ab ? scratch.act.data() : nullptr;
  const bool row_scaled = scratch.row_scale && (W[0]->format == WFormat::Q8 || W[0]->format == WFormat::Q4A8);
  if (act) {
    pool.run_sized((long)(m * k), [&](int tid, int nth) {
      long r0, r1;
      split_range(m, nth, tid, &r0, &r1);
      if (row_scaled) {  // kQ8's int8 rows and scales, with the given scale of each row
        const Weight& w = *W[0];
        int8_t* q = static_cast<int8_t*>(act);
        float* sa = reinterpret_cast<float*>(q + q8_scales_at(w, m));
        for (long r = r0; r < r1; r++) kt.quantize_q8(A + r * lda, w.cols, w.kp, q + r * w.kp, sa + r, scratch.row_scale[r]);
      } else {
        ops.prepare(kt, *W[0], A, lda, m, r0, r1, act);
      }
    });
  }
  // Output columns of all weights, in blocks of 16 (whole register tiles),
  // split evenly over the threads.
  int64_t first_block[9] = {0};
  if (count > 8) throw std::logic_error("matmul_multi: at most 8 weights");
  for (int i = 0; i < count; i++) first_block[i + 1] = first_block[i] + (W[i]->rows + 15) / 16;
  const int64_t nblocks = first_block[count];
  pool.run([&](int tid, int nth) {
    long b0, b1;
    split_range(nblocks, nth, tid, &b0, &b1);
    for (int i = 0; i < count && b0 < b1; i++) {
      int64_t lo = std::max<int64_t>(b0, first_block[i]), hi = std::min<int64_t>(b1, first_block[i + 1]);
      if (lo >= hi) continue;
      const int64_t n = W[i]->rows;
      int64_t j0 = (lo - first_block[i]) * 16, j1 = std::min<int64_t>((hi - first_block[i]) * 16, n);
      ops.run(kt, A, lda, act, m, *W[i], C[i], n, j0, j1);
    }
  });
}

}  // namespace lowbit
