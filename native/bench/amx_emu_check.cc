// The AMX kernels (kernels/amx.cc, amx_q4_0.cc) run with AMX and AVX-512
// emulated (amx_emu/immintrin.h: the tile instructions in scalar code, AVX-512
// through SIMDe) against the scalar reference: w8a8 (float and int32 outputs)
// and Q4_0 bit for bit, bf16 within the bf16 kernels' tolerance. It checks the
// kernels' logic (panels, VNNI packing, row/column remainders, pipelining) on
// a CPU without AMX; rows they hand to avx512 run the reference here (the
// stand-in kernels_avx512 below). ggml_check and kernel_bench run the real
// instructions on an AMX host.
//   make -C native/bench amx_emu_check && native/bench/amx_emu_check
#include <cmath>
#include <cstring>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "ggml_quants.h"
#include "kernels/kernels.h"
#include "weights.h"

namespace lowbit {
const KernelTable& kernels_avx512() { return kernels_ref(); }
}  // namespace lowbit

using namespace lowbit;

static int failures = 0;
static void check(bool ok, const std::string& what) {
  if (!ok && failures++ < 20) std::printf("FAIL %s\n", what.c_str());
}

int main() {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> i8(-127, 127);
  std::uniform_real_distribution<float> u(-1, 1);
  const KernelTable& amx = kernels_amx();
  const KernelTable& ref = kernels_ref();
  long outputs = 0;
  // the format modules' and KV caches' kernels are looked up by isa: amx must keep avx512's
  check(std::strcmp(amx.isa, kernels_avx512().isa) == 0, std::string("amx isa ") + amx.isa);
  struct Shape { int64_t m, n, k; };
  // m: below one tile, one, two, odd remainders, each side of the rows from which a kernel takes
  // the tiles (amx.h: 48 bf16, 96 w8a8, 128 Q4_0); n: partial column tiles and several 512 KiB
  // panels (k = 20000: 26 columns a panel, rounded up to 32)
  const std::vector<Shape> shapes = {{1, 17, 64},    {15, 33, 100},  {16, 1, 64},    {16, 40, 257}, {17, 70, 130},
                                     {32, 33, 64},   {33, 100, 65},  {48, 16, 300},  {50, 37, 31},  {35, 100, 20000},
                                     {95, 20, 64},   {96, 33, 100},  {127, 17, 64},  {128, 40, 96}, {149, 70, 130},
                                     {130, 37, 20000}};
  for (Shape s : shapes) {
    const std::string at = " m" + std::to_string(s.m) + " n" + std::to_string(s.n) + " k" + std::to_string(s.k);
    const int64_t j0 = s.n > 16 ? 16 : 0;
    {  // w8a8
      const int64_t kp = pad_to(s.k, 64);
      std::vector<int8_t> A(s.m * kp, 0), Wr(s.n * s.k), Wp(pad_to(s.n, 4) * kp, 0);
      for (int64_t i = 0; i < s.m; i++)
        for (int64_t p = 0; p < s.k; p++) A[i * kp + p] = (int8_t)i8(rng);
      for (auto& w : Wr) w = (int8_t)i8(rng);
      pack_matrix(Wr.data(), s.n, s.k, Wp.data(), kp, 64);
      std::vector<int32_t> wsum(s.n, 0);
      for (int64_t j = 0; j < s.n; j++)
        for (int64_t p = 0; p < s.k; p++) wsum[j] += Wr[j * s.k + p];
      std::vector<float> sa(s.m), sw(s.n);
      for (auto& v : sa) v = 0.1f * std::fabs(u(rng));
      for (auto& v : sw) v = 0.1f * std::fabs(u(rng));
      std::vector<float> c1(s.m * s.n, 0), c2(s.m * s.n, 0);
      std::vector<int32_t> d1(s.m * s.n, 0), d2(s.m * s.n, 0);
      ref.matmul_q8(A.data(), kp, sa.data(), Wp.data(), sw.data(), wsum.data(), c1.data(), s.n, s.m, j0, s.n, kp, nullptr);
      amx.matmul_q8(A.data(), kp, sa.data(), Wp.data(), sw.data(), wsum.data(), c2.data(), s.n, s.m, j0, s.n, kp, nullptr);
      ref.matmul_q8(A.data(), kp, sa.data(), Wp.data(), sw.data(), wsum.data(), nullptr, s.n, s.m, j0, s.n, kp, d1.data());
      amx.matmul_q8(A.data(), kp, sa.data(), Wp.data(), sw.data(), wsum.data(), nullptr, s.n, s.m, j0, s.n, kp, d2.data());
      check(c1 == c2, "matmul_q8" + at);
      check(d1 == d2, "matmul_q8 int32" + at);
      outputs += 2 * s.m * s.n;
    }
    if (s.k <= 4096) {  // bf16
      const int64_t kp = pad_to(s.k, 32);
      std::vector<float> A(s.m * s.k), W(s.n * s.k);
      for (auto& v : A) v = u(rng);
      for (auto& v : W) v = u(rng);
      std::vector<uint16_t> Ab(s.m * kp, 0), Wb(s.n * s.k), Wp(pad_to(s.n, 4) * kp, 0);
      for (int64_t i = 0; i < s.m; i++)
        for (int64_t p = 0; p < s.k; p++) Ab[i * kp + p] = f32_to_bf16_scalar(A[i * s.k + p]);
      for (size_t i = 0; i < W.size(); i++) Wb[i] = f32_to_bf16_scalar(W[i]);
      pack_matrix(Wb.data(), s.n, s.k, Wp.data(), kp, 32);
      std::vector<float> c1(s.m * s.n, 0), c2(s.m * s.n, 0);
      ref.matmul_bf16_bf16a(Ab.data(), kp, Wp.data(), c1.data(), s.n, s.m, j0, s.n, kp);
      amx.matmul_bf16_bf16a(Ab.data(), kp, Wp.data(), c2.data(), s.n, s.m, j0, s.n, kp);
      for (int64_t i = 0; i < s.m; i++)
        for (int64_t j = 0; j < s.n; j++) {
          double b = 0;
          for (int64_t p = 0; p < s.k; p++) b += std::fabs(bf16_to_f32_scalar(Ab[i * kp + p]) * bf16_to_f32_scalar(Wb[j * s.k + p]));
          check(std::fabs(c1[i * s.n + j] - c2[i * s.n + j]) <= 1e-5 * b + 1e-6, "matmul_bf16" + at);
        }
      outputs += s.m * s.n;
    }
    if (s.k % 32 == 0 || s.k == 20000) {  // Q4_0 (k a multiple of 32)
      const int64_t k = pad_to(s.k, 32), nb = k / 32, n8 = pad_to(s.n, 8);
      std::vector<uint8_t> codes(n8 * nb * 16, 0), blocks(nb * 18);
      std::vector<uint16_t> scales(n8 * nb, 0);
      std::vector<float> row(k), x(s.m * k), ad(s.m * nb);
      for (int64_t j = 0; j < s.n; j++) {
        for (auto& v : row) v = 0.02f * u(rng);
        ggml_quantize_row(GgmlType::Q4_0, row.data(), k, blocks.data());
        if (rng() % 4 == 0)  // extreme codes: 0 and 15 included
          for (int64_t b = 0; b < nb; b++)
            for (int64_t q = 2; q < 18; q++) blocks[b * 18 + q] = (uint8_t)rng();
        ggml_pack_row(GgmlType::Q4_0, blocks.data(), j, nb, codes.data(), scales.data());
      }
      for (auto& v : x) v = u(rng) * (rng() % 50 == 0 ? 30.0f : 1.0f);
      std::vector<int8_t> a(s.m * k);
      std::vector<int32_t> as(s.m * nb);
      for (int64_t i = 0; i < s.m; i++) quantize_q8_0_act_ref(x.data() + i * k, k, a.data() + i * k, ad.data() + i * nb, as.data() + i * nb);
      std::vector<float> c1(s.m * s.n, 0), c2(s.m * s.n, 0);
      ref.matmul_q4_0(a.data(), k, ad.data(), as.data(), codes.data(), scales.data(), c1.data(), s.n, s.m, j0, s.n, k);
      amx.matmul_q4_0(a.data(), k, ad.data(), as.data(), codes.data(), scales.data(), c2.data(), s.n, s.m, j0, s.n, k);
      check(std::memcmp(c1.data(), c2.data(), c1.size() * 4) == 0, "matmul_q4_0" + at);
      outputs += s.m * s.n;
    }
  }
  std::printf("amx_emu_check: %ld outputs of the emulated AMX kernels against ref, %d failures\n", outputs, failures);
  return failures ? 1 : 0;
}
