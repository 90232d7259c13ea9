// Shared helpers of the libFuzzer harnesses (README: docs/NATIVE-FUZZING.md).
// Inputs are a small header read from the front, then a payload of raw bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "matmul.h"
#include "threadpool.h"
#include "weights.h"

namespace fuzz {

// Reads little-endian fields from the front; missing bytes read as zero.
struct Reader {
  const uint8_t* p;
  size_t n;
  uint64_t bytes(size_t k) {
    uint64_t v = 0;
    for (size_t i = 0; i < k; i++) v |= (uint64_t)(i < n ? p[i] : 0) << (8 * i);
    const size_t used = k < n ? k : n;
    p += used, n -= used;
    return v;
  }
  uint8_t u8() { return (uint8_t)bytes(1); }
  uint16_t u16() { return (uint16_t)bytes(2); }
  uint32_t u32() { return (uint32_t)bytes(4); }
  float f32() {
    const uint32_t u = u32();
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

// A failed invariant: print and abort, so libFuzzer records the input as a crash.
inline void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
  std::abort();
}

// A storage spec as the N-API boundary builds it (addon_io.cc spec_from_js):
// format row name ("vector": an f32 vector), group, asym, and amplifier (0:
// float scales; kAmpHeuristic / kAmpMax or a fixed value: integer scales).
struct Spec {
  const char* format;
  int64_t group;
  bool asym;
  double amp;
};
inline lowbit::WSpec to_wspec(const Spec& s) {
  lowbit::WSpec w;
  const std::string name = s.format;
  w.matrix = name != "vector";
  w.format = lowbit::weight_format(w.matrix ? name : "f32");
  w.group = s.group;
  w.asym = s.asym;
  w.iscale = s.amp != 0;
  w.amp = s.amp;
  return w;
}

// Uses a weight the way a forward step does: row lookups (f32 / bf16 / ggml
// formats, as the embedding does) and a matmul of m = 1 and m = 3 rows with the
// scalar kernels and with the best kernels for this CPU. ASan / UBSan catch
// reads past the packed buffers; results are not compared (hostile bytes may
// hold NaN or codes outside the quantizer's range).
inline void exercise_weight(const lowbit::Weight& w) {
  using namespace lowbit;
  if (w.rows * w.kp > (1 << 16)) return;  // keep executions fast
  std::vector<float> row((size_t)w.cols);
  const bool lookup = !w.matrix || w.format == WFormat::F32 || w.format == WFormat::BF16 || w.ggml();
  if (lookup)
    for (int64_t r = 0; r < w.rows; r++) w.row_f32(r, row.data());
  if (!w.matrix) return;
  static ThreadPool pool(1);
  for (const KernelTable* kt : {&kernels_ref(), &kernels_best()})
    for (int64_t m : {1, 3}) {
      std::vector<float> a((size_t)(m * w.kp), 0.0f), c((size_t)(m * w.rows), 0.0f);
      for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < w.cols; p++) a[i * w.kp + p] = (float)((i * 7 + p * 13) % 17) / 8.0f - 1.0f;
      MatmulScratch scratch;
      matmul(pool, *kt, a.data(), w.kp, m, w, c.data(), w.rows, scratch);
    }
}

}  // namespace fuzz
