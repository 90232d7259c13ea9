/**
 * runCoreBench end to end on the embedded tinycode-7m (tiny settings, no timing asserted):
 * the soundness check is a second run of the first setting (its models loaded again) that
 * alternates with the first run repetition by repetition, every variant in an interleaved
 * run, the first format in a sequential one; the progress total counts every generation.
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

test("interleaved run: every variant of the first setting loaded again and measured in turn with the first run, each compared with its first run", async () => {
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
    assert.notDeepEqual(c.again, c.first); // its own samples
    assert.ok(c.again.median > 0 && Math.abs(c.drift - (c.again.median / c.first.median - 1)) < 1e-12);
  }
  // each repetition runs every variant in turn, each variant's two runs back to back, which one
  // goes first swapping every repetition (rep 1: A A' B B', rep 2: A' A B' B); the second
  // prompt setting has no second run
  const v = ["f32", "w8a8", "w8a8 + draft tinycode-7m"];
  const pair = (k: number, x: string) => (k % 2 === 1 ? [`${k} ${x}`, `${k} second run: ${x}`] : [`${k} second run: ${x}`, `${k} ${x}`]);
  const runs = (prompt: string) => ticks.filter((t) => t.includes(`prompt ${prompt} run`)).map((t) => t.replace(/^\[\d+m\d+s\] (second run: )?.*run (\d)\/3 (.*)$/, "$2 $1$3"));
  assert.deepEqual(runs("12"), [1, 2, 3].flatMap((k) => v.flatMap((x) => pair(k, x))));
  assert.deepEqual(runs("20"), [1, 2, 3].flatMap((k) => v.map((x) => `${k} ${x}`)));
  assert.equal(ticks.filter((t) => t.includes("second run: ") && t.includes("warm-up")).length, 3);
  assert.equal(ticks.length, coreBenchTotal(o));
});

test("sequential run: the first format loaded twice, its two runs alternating on the first setting", async () => {
  const { o, ticks } = options({});
  const r = await runCoreBench(o);
  assert.equal(r.rows.length, 4);
  assert.deepEqual(r.rechecks!.map((c) => `${c.label} ${c.metric}`), ["tinycode-7m f32 t=2 prompt 12 ttftMs", "tinycode-7m f32 t=2 prompt 12 tpotMs"]);
  for (const c of r.rechecks!) assert.deepEqual(c.first, r.rows[0]![c.metric]);
  const second = ticks.filter((t) => t.includes("second run: "));
  assert.ok(second.length === 4 && second.every((t) => t.includes("tinycode-7m f32 t=2 prompt 12")));
  const runs = ticks.filter((t) => t.includes("f32 t=2 prompt 12 run")).map((t) => t.replace(/^\[\d+m\d+s\] (second run: )?.*run (\d)\/3$/, "$2 $1").trim());
  assert.deepEqual(runs, ["1", "1 second run:", "2 second run:", "2", "3", "3 second run:"]);
  assert.equal(ticks.length, coreBenchTotal(o));
});

test("no recheck: no second run", async () => {
  const { o, ticks } = options({ recheck: false, formats: ["f32"], prompts: promptCases([{ kind: "length", length: 12 }]) });
  const r = await runCoreBench(o);
  assert.equal(r.rechecks, undefined);
  assert.ok(!ticks.some((t) => t.includes("second run")));
  assert.equal(ticks.length, coreBenchTotal(o));
});

test("interleaved run with prompt lookup: each lookup format measured again, its acceptance in the row", async () => {
  const { o, ticks } = options({ interleave: true, recheck: false, prompts: promptCases([{ kind: "length", length: 12 }]), lookup: { tokens: 3, ngram: 1, formats: ["f32"] } });
  const r = await runCoreBench(o);
  assert.deepEqual(r.rows.map(rowLabel), ["tinycode-7m f32 t=2 prompt 12", "tinycode-7m w8a8 t=2 prompt 12", "tinycode-7m f32 + prompt lookup n<=1 t=2 prompt 12"]);
  const l = r.rows[2]!.draft!;
  assert.equal(l.lookup, true);
  assert.equal(l.tokens, 3);
  // the length prompt's ids never recur, so drafts come (if at all) from repeats in the output: counts, never NaN
  assert.ok(l.acceptance >= 0 && l.acceptance <= 1 && l.proposedPerRound! >= 0 && l.proposedPerRound! <= 3, JSON.stringify(l));
  assert.equal(r.rows[0]!.draft, undefined);
  assert.equal(ticks.length, coreBenchTotal(o));
  await assert.rejects(runCoreBench({ ...o, interleave: false }), /interleaved runs only/);
});
