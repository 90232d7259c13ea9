// CPU feature detection (CPUID + XGETBV) used to pick kernel variants at run time.
#pragma once
#include <string>

namespace lowbit {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512vnni = false, avx512bf16 = false;
  bool amx_int8 = false, amx_bf16 = false;
  int physical_cores = 1;
  int logical_cores = 1;
};

const CpuFeatures& cpu();
std::string cpu_features_string();

}  // namespace lowbit
