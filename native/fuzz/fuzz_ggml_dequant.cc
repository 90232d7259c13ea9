// libFuzzer harness: GGUF tensor data -> f32 (ggml_dequantize, behind the
// addon's ggmlDequantize) for every ggml type it handles, plus the Q4_0 / Q8_0
// block repack (ggml_pack_row / ggml_unpack_row, behind addWeight of GGUF
// blocks and NativeModel.ggmlBytes), element reads (ggml_dequantize_at) and
// the reference quantizers (ggml_quantize_row, behind ggmlQuantize).
//
// Input: type u8 | mode u8 | n u32 | payload. Mode bit 0: n is derived from
// the payload length so sizes match; otherwise n is the header's (capped).
// Invariants: Q4_0 / Q8_0 dequantization equals ggml_dequantize_at bit for
// bit, F32 is a copy, and pack -> unpack returns the blocks unchanged.
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "ggml_dequant.h"
#include "ggml_quants.h"
#include "kernels/ggml.h"

namespace {

const int kTypes[] = {0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 30};

void repack(lowbit::GgmlType t, const uint8_t* blocks, size_t nbytes, const float* deq) {
  using namespace lowbit;
  const int64_t bb = ggml_block_bytes(t), nblocks = (int64_t)(nbytes / bb);
  if (nblocks == 0) return;
  const int64_t nb = nblocks % 3 == 0 ? 3 : 1, rows = nblocks / nb;  // rows of nb blocks
  const int64_t cb = ggml_code_bytes(t), n8 = pad_to(rows, kGgmlRows);
  std::vector<uint8_t> codes((size_t)(n8 * nb * cb), 0), back((size_t)(rows * nb * bb));
  std::vector<uint16_t> scales((size_t)(n8 * nb), 0);
  for (int64_t j = 0; j < rows; j++) ggml_pack_row(t, blocks + j * nb * bb, j, nb, codes.data(), scales.data());
  for (int64_t j = 0; j < rows; j++) ggml_unpack_row(t, codes.data(), scales.data(), j, nb, back.data() + j * nb * bb);
  fuzz::check(std::memcmp(back.data(), blocks, back.size()) == 0, "pack -> unpack keeps the blocks");
  for (int64_t i = 0; i < nblocks * kQK; i++) {
    const float a = ggml_dequantize_at(t, blocks, (size_t)i), b = deq[i];
    fuzz::check(std::memcmp(&a, &b, 4) == 0, "ggml_dequantize_at == ggml_dequantize");
  }
  std::vector<uint8_t> q((size_t)(nblocks * bb));
  ggml_quantize_row(t, deq, nblocks * kQK, q.data());  // NaN / inf inputs included
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  fuzz::Reader r{data, size};
  const uint8_t tb = r.u8();
  const int type = tb < 200 ? kTypes[tb % 13] : tb;  // some unknown ids too
  const uint8_t mode = r.u8();
  int64_t n = (int32_t)r.u32();
  GgmlBlockLayout lay{1, 1};
  const bool known = ggml_dequant_layout(type, &lay);
  if ((mode & 1) && known) n = (int64_t)(r.n / lay.block_bytes) * lay.block_elems;
  if (n > (1 << 20)) return 0;  // the caller's out array has n floats
  std::vector<float> out((size_t)(n > 0 ? n : 0) + 1, 0.0f);
  std::string err;
  const size_t nbytes = (mode & 1) && known ? (size_t)(n / lay.block_elems * lay.block_bytes) : r.n;
  if (!ggml_dequantize(type, r.p, nbytes, out.data(), n, &err)) {
    fuzz::check(!err.empty(), "a rejection says why");
    return 0;
  }
  if (type == kGgmlF32) fuzz::check(std::memcmp(out.data(), r.p, nbytes) == 0, "F32 is a copy");
  if (type == kGgmlQ4_0) repack(GgmlType::Q4_0, r.p, nbytes, out.data());
  if (type == kGgmlQ8_0) repack(GgmlType::Q8_0, r.p, nbytes, out.data());
  return 0;
}
