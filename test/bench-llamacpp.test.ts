/**
 * `lowbit bench --vs-llamacpp` end to end on the embedded tinycode-7m: the
 * GGUF file written once into the cache and reused, lowbit and llama.cpp in
 * two child processes (default libuv pool, UV_THREADPOOL_SIZE=1) measured
 * alternately on a fixed-length prompt and two HumanEval prompts, the
 * repeat check, and the worker's errors. Timings are only checked to be
 * positive and finite (the machine is shared); the greedy tokens of both
 * engines must agree on this F32 file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NativeError } from "../src/errors.js";
import { ensureGguf, ggufCachePath } from "../src/bench/gguf-cache.js";
import { LlamaCppWorker } from "../src/bench/llamacpp-client.js";
import { parsePromptSpecs, promptCases } from "../src/bench/prompts.js";
import { DEFAULT_LLAMACPP_VARIANTS, runVsLlamaCpp, vsTotal } from "../src/bench/vs-llamacpp.js";
import { vsMarkdown } from "../src/bench/vs-report.js";
import { getOracle, oracleUnavailable } from "./helpers/llama-oracle.js";
import { EMBEDDED_MODEL } from "./helpers/paths.js";

const tmp = mkdtempSync(join(tmpdir(), "lowbit-bench-vs-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test("GGUF cache: one file per model, source and type, written once then reused", () => {
  const a = ggufCachePath(tmp, EMBEDDED_MODEL, "tinycode-7m", "f32");
  assert.notEqual(a, ggufCachePath(tmp, EMBEDDED_MODEL, "tinycode-7m", "f16"));
  assert.notEqual(ggufCachePath(tmp, "synthetic:tiny", "synthetic:tiny", "f16", 1), ggufCachePath(tmp, "synthetic:tiny", "synthetic:tiny", "f16", 2));
  assert.match(a, /tinycode-7m-[0-9a-f]{10}-f32\.gguf$/);
  const first = ensureGguf(tmp, EMBEDDED_MODEL, "tinycode-7m", "f32");
  assert.deepEqual(first, { path: a, made: true });
  const mtime = statSync(a).mtimeMs;
  assert.deepEqual(ensureGguf(tmp, EMBEDDED_MODEL, "tinycode-7m", "f32"), { path: a, made: false });
  assert.equal(statSync(a).mtimeMs, mtime);
});

test("lowbit vs llama.cpp on the same F32 file: alternating runs, both pools, the repeat check", async (t) => {
  if (!(await getOracle())) return t.skip(oracleUnavailable());
  const ticks: string[] = [];
  let last = 0;
  const o: Parameters<typeof runVsLlamaCpp>[0] = {
    models: [{ name: "tinycode-7m", dir: EMBEDDED_MODEL }],
    ggufTypes: ["f32"],
    threads: [2],
    prompts: promptCases(parsePromptSpecs("12,humaneval", 2)),
    genTokens: 4,
    reps: 2,
    warmupRuns: 0,
    cacheDir: tmp,
    recheck: true,
    onProgress: (label, done) => {
      if (done > last) ticks.push(label.replace(/^\[\d+m\d+s\] /, ""));
      last = done;
    },
  };
  const r = await runVsLlamaCpp(o);
  assert.equal(ticks.length, vsTotal(o));
  // the second run: every engine started again, in the rotation with the first set, on the first setting only
  const e = ["lowbit", ...DEFAULT_LLAMACPP_VARIANTS.map((v) => v.engine)];
  const both = [...e, ...e.map((x) => `second run: ${x}`)];
  const order = (rep: number) => both.map((_, k) => both[(k + rep - 1) % both.length]!);
  const runs = ticks.filter((x) => x.includes("prompt 12 run")).map((x) => x.replace(/^(second run: )?.*run (\d)\/2 (.*)$/, "$2 $1$3"));
  assert.deepEqual(runs, [1, 2].flatMap((rep) => order(rep).map((x) => `${rep} ${x}`)));
  assert.ok(ticks.filter((x) => x.startsWith("second run: ")).every((x) => x.includes("prompt 12 ")));
  assert.deepEqual(r.engines, ["lowbit", ...DEFAULT_LLAMACPP_VARIANTS.map((v) => v.engine)]);
  assert.equal(r.rows.length, 6);
  assert.deepEqual(r.rows.map((x) => `${x.prompt}|${x.engine}`), ["12", "humaneval (2)"].flatMap((p) => r.engines.map((e) => `${p}|${e}`)));
  for (const x of r.rows) {
    assert.equal(x.ttftMs.n, 2);
    assert.ok(x.ttftMs.min > 0 && Number.isFinite(x.ttftMs.max) && x.tpotMs.min > 0 && Number.isFinite(x.tpotMs.max), JSON.stringify(x));
    assert.ok(Math.abs(x.ppTokPerS - (x.promptTokens / x.ttftMs.median) * 1000) < 1e-9);
    assert.ok(Math.abs(x.tgTokPerS - 1000 / x.tpotMs.median) < 1e-9);
    assert.equal(x.genTokens, 4);
    // the same model on the same file: the same greedy tokens (llama.cpp's F16 KV cache rounds, so >= 3 of 4)
    assert.ok(x.sameGreedyTokens >= 3, `${x.engine} ${x.prompt}: ${x.sameGreedyTokens} of 4 greedy tokens agree`);
  }
  assert.equal(r.rows[0]!.promptTokens, 12);
  assert.ok(r.rows[3]!.promptTokens > 50, "HumanEval prompts are long"); // mean of the first two problems
  assert.equal(r.files.length, 1);
  assert.equal(r.files[0]!.made, false); // written by the cache test above, reused
  assert.deepEqual(r.llamaCpp.map((s) => s.uvThreadpoolSize).sort(), ["1", "default"]);
  assert.ok(r.llamaCpp.every((s) => s.threads === 2 && s.batchSize === 512));
  assert.equal(r.rechecks!.length, 6); // TTFT and TPOT of each engine on the first setting
  assert.deepEqual(r.rechecks!.map((c) => c.label), e.flatMap((x) => [`tinycode-7m f32 t=2 prompt 12, ${x}`, `tinycode-7m f32 t=2 prompt 12, ${x}`]));
  for (const [k, c] of r.rechecks!.entries()) {
    assert.deepEqual(c.first, r.rows[k >> 1]![c.metric]);
    assert.equal(c.again.n, 2);
    assert.notDeepEqual(c.again, c.first); // a run of its own, not the first run's numbers
  }
  assert.match(vsMarkdown(r), /\| tinycode-7m \| f32 \| 2 \| humaneval \(2\), mean \d+ tok \| \d+\.\d+x \|/);
});

test("llama.cpp worker errors are NativeErrors: a missing file, running before loading; closing twice is fine", async (t) => {
  if (!(await getOracle())) return t.skip(oracleUnavailable());
  const w = LlamaCppWorker.start({ label: "test worker" });
  try {
    await assert.rejects(w.run([1, 2, 3], 2), (e: unknown) => e instanceof NativeError && /test worker: no model loaded/.test(e.message));
    await assert.rejects(w.load({ path: join(tmp, "missing.gguf"), threads: 1, contextSize: 64, batchSize: 64 }), (e: unknown) => e instanceof NativeError && /test worker/.test(e.message));
  } finally {
    await w.close();
    await w.close();
  }
  await assert.rejects(w.run([1], 2), (e: unknown) => e instanceof NativeError && /exited/.test(e.message));
});
