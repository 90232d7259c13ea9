/**
 * runCoreBench end to end on the embedded tinycode-7m (tiny settings, no timing asserted):
 * the soundness recheck measures the first setting again in the setup it was measured in,
 * every variant alternating again after an interleaved run, the first format alone after a
 * sequential one, and the progress total counts every generation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { coreBenchTotal, runCoreBench, rowLabel, type CoreBenchOptions } from "../src/bench/core.js";
import { promptCases } from "../src/bench/prompts.js";
import { DEFAULT_MODEL_DIR } from "../src/llm.js";

function options(extra: Partial<CoreBenchOptions>): { o: CoreBenchOptions; ticks: string[] } {
  const ticks: string[] = [];
  let last = 0;
  const o: CoreBenchOptions = {
    models: [{ name: "tinycode-7m", dir: DEFAULT_MODEL_DIR }],
    formats: ["f32", "w8a8"],
    threads: [2],
    prompts: promptCases([{ kind: "length", length: 12 }, { kind: "length", length: 20 }]),
    genTokens: 4,
    reps: 3,
    warmupRuns: 1,
    recheck: true,
    onProgress: (label, done) => {
      if (done > last) ticks.push(label);
      last = done;
    },
    ...extra,
  };
  return { o, ticks };
}

test("interleaved run: every variant of the first setting measured again, alternating, each compared with its first measurement", async () => {
  const { o, ticks } = options({ interleave: true, draft: { name: "tinycode-7m", dir: DEFAULT_MODEL_DIR, formats: ["w8a8"], tokens: 2 } });
  const r = await runCoreBench(o);
  assert.equal(r.rows.length, 3 * 2); // (f32, w8a8, w8a8 + draft) x 2 prompt settings
  const labels = ["tinycode-7m f32 t=2 prompt 12", "tinycode-7m w8a8 t=2 prompt 12", "tinycode-7m w8a8 + draft tinycode-7m t=2 prompt 12"];
  assert.deepEqual(r.rows.filter((x) => x.prompt === "12").map(rowLabel), labels);
  assert.deepEqual(r.rechecks!.map((c) => `${c.label} ${c.metric}`), labels.flatMap((l) => [`${l} ttftMs`, `${l} tpotMs`]));
  for (const c of r.rechecks!) {
    const first = r.rows.find((x) => rowLabel(x) === c.label)!;
    assert.deepEqual(c.first, first[c.metric]);
    assert.equal(c.again.n, 3);
    assert.ok(c.again.median > 0 && Math.abs(c.drift - (c.again.median / c.first.median - 1)) < 1e-12);
  }
  // each repetition runs every variant in turn (rep 1: A, B, C; rep 2: A, B, C), in the
  // measurement and in its repeat alike
  const v = ["f32", "w8a8", "w8a8 + draft tinycode-7m"];
  const want = [1, 2, 3].flatMap((k) => v.map((x) => `${k} ${x}`));
  const runs = (recheck: boolean, prompt: string) =>
    ticks.filter((t) => t.includes("recheck: ") === recheck && t.includes(`prompt ${prompt} run`)).map((t) => t.replace(/^.*run (\d)\/3 (.*)$/, "$1 $2"));
  assert.deepEqual(runs(false, "12"), want);
  assert.deepEqual(runs(false, "20"), want);
  assert.deepEqual(runs(true, "12"), want);
  assert.equal(ticks.length, coreBenchTotal(o));
});

test("sequential run: the first format alone again", async () => {
  const { o, ticks } = options({});
  const r = await runCoreBench(o);
  assert.equal(r.rows.length, 4);
  assert.deepEqual(r.rechecks!.map((c) => `${c.label} ${c.metric}`), ["tinycode-7m f32 t=2 prompt 12 ttftMs", "tinycode-7m f32 t=2 prompt 12 tpotMs"]);
  assert.ok(ticks.filter((t) => t.includes("recheck: ")).every((t) => t.includes("tinycode-7m f32 t=2 prompt 12")));
  assert.equal(ticks.length, coreBenchTotal(o));
});
