// Picks the kernel variant from CPUID. avx512 needs F/BW/VL/DQ plus BF16 and
// VNNI (Zen 4, Sapphire Rapids, Cooper Lake+); older AVX-512 parts use avx2.
// amx is avx512 with AMX-INT8/BF16 prefill matmuls (Sapphire Rapids+), picked
// where the CPU has them: checked against ref under emulation
// (native/bench/amx_emu_check) and on the device machine's Xeon (the kernel and
// model tests, ggml_check, kernel_bench; docs/PERFORMANCE.md "AMX kernels").
#include <cstring>

#include "cpu.h"
#include "kernels.h"

namespace lowbit {

namespace {
bool has_avx512() {
  const CpuFeatures& c = cpu();
  return c.avx512f && c.avx512bw && c.avx512vl && c.avx512dq && c.avx512bf16 && c.avx512vnni && c.fma;
}
bool has_amx() {
  const CpuFeatures& c = cpu();
  return has_avx512() && c.amx_int8 && c.amx_bf16;
}
bool has_avx2() {
  const CpuFeatures& c = cpu();
  return c.avx2 && c.fma && c.f16c;
}
}  // namespace

const KernelTable& kernels_best() {
#if defined(__x86_64__)
  if (has_amx()) return kernels_amx();
  if (has_avx512()) return kernels_avx512();
  if (has_avx2()) return kernels_avx2();
#endif
  return kernels_ref();
}

const KernelTable* kernels_by_name(const char* name) {
  if (!std::strcmp(name, "auto")) return &kernels_best();
  if (!std::strcmp(name, "ref")) return &kernels_ref();
#if defined(__x86_64__)
  if (!std::strcmp(name, "amx")) return has_amx() ? &kernels_amx() : nullptr;
  if (!std::strcmp(name, "avx512")) return has_avx512() ? &kernels_avx512() : nullptr;
  if (!std::strcmp(name, "avx2")) return has_avx2() ? &kernels_avx2() : nullptr;
#endif
  return nullptr;
}

}  // namespace lowbit
