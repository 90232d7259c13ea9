// libFuzzer harness: a saved model's packed weight, the code behind
// NativeModel.importWeight and weightLayout (check_weight_meta and
// import_weight in weights_io.cc, which addon_io.cc forwards to), then the
// imported weight is used as a forward step would (fuzz_util.h).
//
// Input: layout u8 | mode u8 | rows u8 | cols u16 | kp u16 | group u16 |
// actScale f32 | amplifier exponent u8 | buffer cut u8 | payload. The meta
// starts as formatLayout(layout, rows, cols) (what a save writes); mode bits
// 1..5 replace kp, group, asym, actScale, amplifier with the header's values.
// Mode bit 0: the buffers take exactly the declared sizes, cycling the
// payload (deep path); otherwise the payload is cut into buffers at the
// header's cut (size checks). Bit 7: a q8 weight's codes and wsum are made
// consistent, as a save writes them.
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "weights_io.h"

namespace {

const fuzz::Spec kLayouts[] = {{"vector", 0, false, 0}, {"f32", 0, false, 0},  {"bf16", 0, false, 0},
                               {"q8", 0, false, 0},     {"q4", 32, false, 0},  {"q4", 128, true, 0},
                               {"q4", 0, false, 0},     {"q4a8", 32, false, 0}, {"q4a8", 128, false, lowbit::kAmpHeuristic},
                               {"q4a8", 32, false, lowbit::kAmpMax}, {"q4_0", 0, false, 0}, {"q8_0", 0, false, 0}};

// What a save writes for q8: codes in [-127, 127] and wsum = each row's code sum.
void fix_q8(const lowbit::WeightMeta& m, std::vector<uint8_t>& data, std::vector<uint8_t>& wsum) {
  for (int64_t j = 0; j < m.rows; j++) {
    int32_t t = 0;
    for (int64_t p = 0; p < m.kp; p++) {
      int8_t& q = reinterpret_cast<int8_t&>(data[lowbit::packed_index(j, p, m.kp, 64)]);
      if (q == -128) q = -127;
      t += q;
    }
    std::memcpy(wsum.data() + 4 * j, &t, 4);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  fuzz::Reader r{data, size};
  const lowbit::WSpec layout = fuzz::to_wspec(kLayouts[r.u8() % (sizeof(kLayouts) / sizeof(kLayouts[0]))]);
  const uint8_t mode = r.u8();
  const int64_t rows = r.u8() % 17, cols = r.u16() % 1100;
  const int64_t kp = r.u16(), group = r.u16();
  const float act = r.f32();
  const int amp_exp = r.u8();
  const uint8_t cut = r.u8();
  try {
    WeightMeta m = format_layout(layout, rows > 0 ? rows : 1, cols > 0 ? cols : 1);
    if (mode & 2) m.kp = kp;
    if (mode & 4) m.group = group;
    if (mode & 8) m.asym = !m.asym;
    if (mode & 16) m.act_scale = act;
    if (mode & 32) m.amplifier = amp_exp == 255 ? -1.0 : amp_exp == 254 ? 3.0 : std::ldexp(1.0, amp_exp - 64);
    if (mode & 64) m.rows = rows;  // 0 included
    std::vector<WeightBuffer> want = check_weight_meta("w", m);
    std::vector<std::vector<uint8_t>> store;
    std::vector<RawBuffer> bufs;
    size_t off = 0;
    for (size_t i = 0; i < want.size(); i++) {
      size_t len = want[i].bytes;
      if (!(mode & 1)) {  // cut the payload: all of it to the last buffer
        len = i + 1 == want.size() ? r.n - off : (size_t)cut * 8;
        if (off + len > r.n) len = r.n - off;
      }
      if (len > (1 << 22)) return 0;
      std::vector<uint8_t> b(len);
      for (size_t k = 0; k < len && r.n; k++) b[k] = r.p[(off + k) % r.n];
      off += len;
      store.push_back(std::move(b));
      bufs.push_back({store.back().data(), store.back().size()});
    }
    if ((mode & 128) && m.format == "q8" && want.size() == 3 && (mode & 1)) fix_q8(m, store[0], store[2]);
    std::unique_ptr<Weight> w = import_weight("w", m, bufs);
    fuzz::check(w->bytes() == [&] { size_t t = 0; for (auto& b : want) t += b.bytes; return t; }(), "buffers add up");
    fuzz::exercise_weight(*w);
  } catch (const std::invalid_argument&) {
    // rejected: what the addon throws to JS
  }
  return 0;
}
