// The AVX-512 Q4_0 / Q8_0 kernels (kernels/ggml_avx512.cc) run under SIMDe's
// emulation of AVX-512 (simde/immintrin.h) against the scalar reference, bit for
// bit, on random inputs of odd shapes: a check of the AVX-512 code on a CPU that
// lacks AVX-512 (`make -C native/bench ggml_simde_check && native/bench/ggml_simde_check`).
// Timings under emulation mean nothing; ggml_check measures real hardware.
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "ggml_quants.h"
#include "kernels/kernels.h"

using namespace lowbit;

int main() {
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0.0f, 1.0f);
  int failures = 0;
  long outputs = 0;
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0})
    for (int64_t m : {1, 2, 3, 4, 5, 6, 9})
      for (int64_t n : {1, 7, 8, 13, 37, 64})
        for (int64_t k : {32, 96, 160, 288}) {
          const int64_t nb = k / 32, n8 = pad_to(n, 8), bb = ggml_block_bytes(t);
          std::vector<uint8_t> codes(n8 * nb * ggml_code_bytes(t), 0), blocks(nb * bb);
          std::vector<uint16_t> scales(n8 * nb, 0);
          std::vector<float> row(k), x(m * k), ad(m * nb);
          for (int64_t j = 0; j < n; j++) {
            for (auto& v : row) v = 0.02f * g(rng);
            ggml_quantize_row(t, row.data(), k, blocks.data());
            if (rng() % 4 == 0)  // extreme codes: every byte random (q8_0 -128 too, q4_0 0 and 15)
              for (int64_t b = 0; b < nb; b++)
                for (int64_t q = 2; q < bb; q++) blocks[b * bb + q] = (uint8_t)rng();
            ggml_pack_row(t, blocks.data(), j, nb, codes.data(), scales.data());
          }
          for (auto& v : x) v = g(rng);
          std::vector<int8_t> a(m * k);
          std::vector<int32_t> as(m * nb);
          for (int64_t i = 0; i < m; i++) quantize_q8_0_act_ref(x.data() + i * k, k, a.data() + i * k, ad.data() + i * nb, as.data() + i * nb);
          const int64_t j0 = 8 * (int64_t)(rng() % (n / 8 + 1)), j1 = rng() % 2 ? n : j0 + (int64_t)(rng() % (n - j0 + 1));
          std::vector<float> r(m * n, 0.0f), e(m * n, 0.0f);
          if (t == GgmlType::Q4_0) {
            matmul_q4_0_ref(a.data(), k, ad.data(), as.data(), codes.data(), scales.data(), r.data(), n, m, j0, j1, k);
            matmul_q4_0_avx512(a.data(), k, ad.data(), as.data(), codes.data(), scales.data(), e.data(), n, m, j0, j1, k);
          } else {
            const int8_t* w = reinterpret_cast<const int8_t*>(codes.data());
            matmul_q8_0_ref(a.data(), k, ad.data(), as.data(), w, scales.data(), r.data(), n, m, j0, j1, k);
            matmul_q8_0_avx512(a.data(), k, ad.data(), as.data(), w, scales.data(), e.data(), n, m, j0, j1, k);
          }
          outputs += m * n;
          if (std::memcmp(r.data(), e.data(), r.size() * 4) && failures++ < 10) {
            int64_t q = 0;
            while (std::memcmp(&r[q], &e[q], 4) == 0) q++;
            std::printf("FAIL %s m%ld n%ld k%ld j[%ld,%ld): C[%ld, %ld] = %.9g, ref %.9g\n", t == GgmlType::Q4_0 ? "q4_0" : "q8_0",
                        (long)m, (long)n, (long)k, (long)j0, (long)j1, (long)(q / n), (long)(q % n), e[q], r[q]);
          }
        }
  std::printf("avx512 (SIMDe-emulated) vs ref: %ld outputs, %d failing cases\n", outputs, failures);
  return failures ? 1 : 0;
}
