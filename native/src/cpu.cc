#include "cpu.h"

#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define LOWBIT_X86 1
#endif
#if defined(LOWBIT_X86) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace lowbit {

namespace {

#ifdef LOWBIT_X86
// Linux hands out the AMX tile state only on request (arch_prctl
// ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, kernel 5.16+), once per process;
// without it the first tile instruction kills the process.
bool request_amx() {
#if defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

unsigned long long xgetbv0() {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long)edx << 32) | eax;
}
#endif

// Physical cores from /proc/cpuinfo ("physical id" x "core id" pairs); falls back
// to the logical count when that file is unavailable.
int count_physical_cores(int logical) {
  std::ifstream f("/proc/cpuinfo");
  if (!f) return logical;
  std::set<std::pair<int, int>> cores;
  std::string line;
  int phys = 0, core = -1;
  while (std::getline(f, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string val = line.substr(colon + 1);
    try {
      if (key == "physical id") phys = std::stoi(val);
      if (key == "core id") {
        core = std::stoi(val);
        cores.insert({phys, core});
      }
    } catch (...) {
    }
  }
  return cores.empty() ? logical : (int)cores.size();
}

CpuFeatures detect() {
  CpuFeatures c;
  c.logical_cores = (int)std::thread::hardware_concurrency();
  if (c.logical_cores < 1) c.logical_cores = 1;
  c.physical_cores = count_physical_cores(c.logical_cores);
#ifdef LOWBIT_X86
  unsigned a, b, cx, d;
  if (!__get_cpuid(1, &a, &b, &cx, &d)) return c;
  bool osxsave = (cx >> 27) & 1;
  if (!osxsave) return c;
  unsigned long long xcr0 = xgetbv0();
  bool ymm_os = (xcr0 & 0x6) == 0x6;
  bool zmm_os = (xcr0 & 0xe6) == 0xe6;
  bool amx_os = (xcr0 & 0x60000) == 0x60000;
  c.fma = ymm_os && ((cx >> 12) & 1);
  c.f16c = ymm_os && ((cx >> 29) & 1);
  __cpuid_count(7, 0, a, b, cx, d);
  c.avx2 = ymm_os && ((b >> 5) & 1);
  c.avx512f = zmm_os && ((b >> 16) & 1);
  c.avx512dq = zmm_os && ((b >> 17) & 1);
  c.avx512bw = zmm_os && ((b >> 30) & 1);
  c.avx512vl = zmm_os && ((b >> 31) & 1);
  c.avx512vnni = zmm_os && ((cx >> 11) & 1);
  const bool amx_tile = amx_os && ((d >> 24) & 1) && request_amx();
  c.amx_bf16 = amx_tile && ((d >> 22) & 1);
  c.amx_int8 = amx_tile && ((d >> 25) & 1);
  unsigned a1, b1, c1, d1;
  __cpuid_count(7, 1, a1, b1, c1, d1);
  c.avx512bf16 = zmm_os && ((a1 >> 5) & 1);
#endif
  return c;
}

}  // namespace

const CpuFeatures& cpu() {
  static const CpuFeatures features = detect();
  return features;
}

std::string cpu_features_string() {
  const CpuFeatures& c = cpu();
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += ' ';
    s += name;
  };
  add(c.avx2, "avx2");
  add(c.fma, "fma");
  add(c.f16c, "f16c");
  add(c.avx512f, "avx512f");
  add(c.avx512bw, "avx512bw");
  add(c.avx512vl, "avx512vl");
  add(c.avx512vnni, "avx512vnni");
  add(c.avx512bf16, "avx512bf16");
  add(c.amx_int8, "amx-int8");
  add(c.amx_bf16, "amx-bf16");
  return s;
}

}  // namespace lowbit
