// Compute peak of the cores, measured: long chains of independent multiply-adds in registers
// (no memory traffic), per instruction kind, on `threads` threads of lowbit's pool. What a
// prefill GEMM of that kind could reach at best on this machine.
#pragma once
#include <string>

namespace lowbit {

enum class PeakKind { Fp32Fma, Bf16Dot, Int8Dot };

struct PeakResult {
  double gops;      // 1e9 operations per second (a multiply-add counts 2)
  std::string isa;  // the instruction measured, e.g. "avx512 vpdpbusd"
};

// Best of `reps` runs of about `ms` milliseconds each.
PeakResult measure_compute_peak(PeakKind kind, int threads, int ms, int reps);

}  // namespace lowbit
