// libFuzzer harness: weight import from raw checkpoint bytes, the code behind
// NativeModel.addWeight (make_weight_checked in weights.cc, which addon.cc
// forwards to), for every source dtype and every storage format the addon
// accepts, then the weight is used as a forward step would (fuzz_util.h).
//
// Input: dtype u8 | format u8 | mode u8 | rows u8 | cols u16 | actScale f32 |
// big rows u32 | big cols u32 | payload. Mode bit 0: cols is derived from the
// payload length so sizes match (deep path); otherwise the header's shape is
// used as is (validation path). Bit 1: pass actScale. Bit 2: shapes from the
// 32-bit fields shifted up to 2^40 (size overflow checks).
#include <memory>
#include <stdexcept>
#include <string>

#include "fuzz_util.h"

namespace {

const char* const kDtypes[] = {"F32", "F16", "BF16", "Q4_0", "Q8_0", "F64"};
using lowbit::kAmpHeuristic;
using lowbit::kAmpMax;
// every spec the JS side can send, and bad ones (amplifier 3: not a power of two; q8 asym)
const fuzz::Spec kFormats[] = {{"vector", 0, false, 0},  {"f32", 0, false, 0},           {"bf16", 0, false, 0},
                               {"q8", 0, false, 0},      {"q4", 32, false, 0},           {"q4", 128, false, 0},
                               {"q4", 0, false, 0},      {"q4", 32, true, 0},            {"q4", 128, true, 0},
                               {"q4", 0, true, 0},       {"q4a8", 32, false, 0},         {"q4a8", 128, false, 0},
                               {"q4a8", 32, false, kAmpHeuristic}, {"q4a8", 128, false, kAmpMax},
                               {"q4a8", 32, false, 1024}, {"q4a8", 128, false, 1},       {"q4_0", 0, false, 0},
                               {"q8_0", 0, false, 0},    {"q4a8", 32, false, 3},         {"q8", 0, true, 0}};

// Bytes per element (or, for the block dtypes, per 32-element block).
size_t unit_bytes(const std::string& d) { return d == "Q4_0" ? 18 : d == "Q8_0" ? 34 : d == "F32" ? 4 : 2; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Reader r{data, size};
  const std::string dtype = kDtypes[r.u8() % 6];
  const lowbit::WSpec format = fuzz::to_wspec(kFormats[r.u8() % (sizeof(kFormats) / sizeof(kFormats[0]))]);
  const uint8_t mode = r.u8();
  int64_t rows = r.u8() % 17, cols = r.u16();
  const double act = r.f32();
  const uint32_t big_rows = r.u32(), big_cols = r.u32();
  const uint8_t* payload = r.p;
  size_t nbytes = r.n;
  if (mode & 1) {  // a shape that fits the payload exactly
    const bool block = dtype == "Q4_0" || dtype == "Q8_0";
    if (rows == 0) rows = 1;
    const int64_t units = (int64_t)(nbytes / unit_bytes(dtype)) / rows;
    if (units == 0) return 0;
    cols = block ? units * 32 : units;
    nbytes = (size_t)(units * rows) * unit_bytes(dtype);
  } else if (mode & 4) {
    rows = (int64_t)big_rows << (mode >> 5);
    cols = (int64_t)big_cols << ((mode >> 3) & 3) * 8;
  }
  try {
    std::unique_ptr<lowbit::Weight> w =
        lowbit::make_weight_checked("w", dtype, payload, nbytes, rows, cols, format, (mode & 2) ? &act : nullptr);
    fuzz::check(w->rows == rows && w->cols == cols, "shape kept");
    fuzz::exercise_weight(*w);
  } catch (const std::invalid_argument&) {
    // rejected: what the addon throws to JS
  }
  return 0;
}
