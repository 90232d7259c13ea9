/**
 * Regressions for what fuzzing the native entry points found
 * (docs/NATIVE-FUZZING.md), each through the addon's JS entry point: the input
 * is rejected with a message saying why, where before it ran into undefined
 * behaviour (signed / float -> int overflow) in native code.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { addon, type NativeModel, type StoredWeightMeta } from "../src/native.js";

const { NativeModel: Model, weightLayout } = addon();

function withModel(fn: (m: NativeModel) => void): void {
  const m = new Model({ threads: 1, kernels: "auto", nLayers: 1, nKvHeads: 1, headDim: 8, nCtx: 8, ropeTheta: 10000 });
  try {
    fn(m);
  } finally {
    m.dispose();
  }
}
const f32Bytes = (a: number[]) => new Uint8Array(Float32Array.from(a).buffer);

test("fuzz import_weight: a saved q8 weight's wsum must be its rows' code sums, codes in [-127, 127]", () => {
  // fuzz_import_weight: a corrupt wsum overflowed int32 in the VNNI kernel (d - 128 * wsum)
  withModel((m) => {
    const meta: StoredWeightMeta = { format: "q8", rows: 2, cols: 64, kp: 64, group: 0, asym: false, actScale: 0 };
    assert.deepEqual(weightLayout(meta).map((b) => [b.name, b.bytes]), [["data", 256], ["scales", 8], ["wsum", 8]]);
    const data = new Int8Array(256); // packed: rows 0..3 of one 64-column chunk, 64 bytes each
    for (let p = 0; p < 64; p++) (data[p] = (p % 5) - 2), (data[64 + p] = 127); // row 0 sums to -2, row 1 to 8128
    const bufs = (wsum: number[], codes = data) => ({
      data: new Uint8Array(codes.buffer.slice(0)),
      scales: f32Bytes([0.01, 0.02]),
      wsum: new Uint8Array(Int32Array.from(wsum).buffer),
    });
    m.importWeight("ok", meta, bufs([-2, 8128]));
    assert.throws(() => m.importWeight("w", meta, bufs([-2, -1208499613])), /w\.wsum\[1\] = -1208499613 is not the sum of the row's codes \(8128\)/);
    const bad = Int8Array.from(data);
    bad[3] = -128;
    assert.throws(() => m.importWeight("w", meta, bufs([-2, 8128], bad)), /w: q8 code -128 at row 0/);
    assert.deepEqual(m.listWeights().names, ["ok"], "rejected weights are not added");
  });
});

test("fuzz make_weight: w4a8 integer scales reject weights no amplifier in [2^-30, 2^40] fits", () => {
  // fuzz_make_weight: scales of 1e38 / 7 made amplifier_bound convert 3.8e44 to int64 (UB)
  // and the int32 scales round(s * 2^-30) overflow
  withModel((m) => {
    const huge = f32Bytes(Array.from({ length: 4 * 32 }, (_, i) => (i % 3 ? 1e38 : -2e37)));
    // (amplifier 1024 with groups of 32 is a native spec no quant format names)
    for (const amplifier of ["heuristic", "max", 1024] as const)
      assert.throws(() => m.addWeight("w", "F32", huge, 4, 32, { format: "q4a8", group: 32, amplifier }), /w: w4a8 integer scales cannot hold these weights .*use float scales \(q4a8-g32\)/, String(amplifier));
    const inf = f32Bytes(Array.from({ length: 4 * 32 }, (_, i) => (i === 5 ? Infinity : 0.5)));
    assert.throws(() => m.addWeight("w", "F32", inf, 4, 32, { format: "q4a8", group: 32, amplifier: "heuristic" }), /cannot hold these weights/);
    // fuzz_make_weight, third run: an infinite scale made the heuristic amplifier convert log2(1 / inf) = -inf to int
    const bf16Inf = new Uint8Array(new Uint16Array(32).fill(0x3f00).fill(0x7f80, 7, 8).buffer); // 0.5 ... inf ... 0.5
    assert.throws(() => m.addWeight("w", "BF16", bf16Inf, 1, 32, { format: "q4a8", group: 32, amplifier: "heuristic" }), /cannot hold these weights/);
    m.addWeight("float", "F32", huge, 4, 32, { format: "q4a8", group: 32 }); // float scales hold them
    m.addWeight("small", "F32", f32Bytes(Array.from({ length: 4 * 32 }, (_, i) => ((i % 7) - 3) / 64)), 4, 32, { format: "q4a8", group: 32, amplifier: "heuristic" });
    const st = m.weightStats();
    assert.equal(st.small!.amplifier, 2 ** 8, "smallest power of two lifting the least scale (3 / 64 / 7) to >= 1");
    assert.ok(st.small!.isBound! > 0 && st.small!.isBound! <= 2 ** 31 - 1);
    assert.equal(st.float!.amplifier, 0);
  });
});

test("addWeight: actScale beyond float range and q8 beyond 65536 columns are rejected", () => {
  // review while factoring make_weight_checked out of addon.cc: (float)1e39 is UB;
  // the w8a8 kernels' int32 sums hold 255 * 127 * kp only for kp <= 65536
  withModel((m) => {
    const w = f32Bytes(Array.from({ length: 64 }, (_, i) => i / 64));
    m.addWeight("q8", "F32", w, 1, 64, "q8", 0.5);
    for (const sc of [1e39, Infinity, 0, -1]) assert.throws(() => m.addWeight("w", "F32", w, 1, 64, "q8", sc), /actScale must be a positive number and needs format q8/, String(sc));
    assert.throws(() => m.addWeight("w", "F32", new Uint8Array(65600 * 4), 1, 65600, "q8"), /w: q8 needs cols <= 65536 \(int32 sums\)/);
    m.addWeight("wide", "F32", new Uint8Array(65536 * 4), 1, 65536, "q8");
  });
});
