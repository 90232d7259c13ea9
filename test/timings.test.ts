/**
 * The benchmark arithmetic on a fake clock: TTFT, TPOT, tokens/s and the time
 * outside the native step from runGeneration, the median/min/max summary, and
 * the bench row's bytes-per-token and bandwidth figures. No real timing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runGeneration, type GenerateResult, type Stepper } from "../src/generate/generate.js";
import { Tokenizer } from "../src/tokenizer.js";
import { summarize } from "../src/bench/stats.js";
import { makeRow, rescoreBandwidth, type CoreBenchOptions } from "../src/bench/core.js";
import type { LLM } from "../src/llm.js";
import { EMBEDDED_MODEL } from "./helpers/paths.js";

const tok = Tokenizer.load(EMBEDDED_MODEL);

/** A stepper whose steps take `prefillMs` (several ids) or `decodeMs` (one id) on a fake clock. */
function fakeStepper(prefillMs: number, decodeMs: number, outsideMs: number): Stepper & { clock: number } {
  const vocab = 16384;
  const s = {
    clock: 0,
    contextLength: 2048,
    eosTokenIds: [0],
    reuse: () => 0,
    now: () => s.clock,
    async step(ids: number[]) {
      const ms = ids.length > 1 ? prefillMs : decodeMs;
      s.clock += ms;
      const logits = new Float32Array(vocab);
      logits[100 + (s.clock % 7)] = 1; // a token that is not EOS
      return { logits, nativeMs: ms - outsideMs };
    },
  };
  return s;
}

async function run(m: Stepper, prompt: number[], maxNewTokens: number): Promise<GenerateResult> {
  let result: GenerateResult | undefined;
  for await (const ev of runGeneration(m, tok, prompt, { maxNewTokens, temperature: 0 })) if (ev.type === "done") result = ev.result;
  return result!;
}

test("TTFT, TPOT, tokens/s and outside-native time on a fake clock", async () => {
  // 8-token prompt: prefill 80 ms; 4 more tokens at 10 ms each, 1 ms of each outside the native step
  const r = await run(fakeStepper(80, 10, 1), [1, 2, 3, 4, 5, 6, 7, 8], 5);
  const t = r.timings;
  assert.equal(r.ids.length, 5);
  assert.equal(t.ttftMs, 80);
  assert.equal(t.tpotMs, 10); // (120 - 80) / 4
  assert.equal(t.totalMs, 120);
  assert.equal(t.promptTokensPerSec, 100); // 8 tokens / 80 ms
  assert.equal(t.genTokensPerSec, 100); // 1000 / 10
  assert.equal(t.overheadMsPerToken, 1); // (40 - 4 x 9) / 4
  assert.equal(t.prefillTokens, 8);
  assert.equal(t.generatedTokens, 5);
});

test("one generated token: TPOT and decode rates are undefined (NaN), TTFT is still measured", async () => {
  const t = (await run(fakeStepper(50, 10, 0), [1, 2, 3], 1)).timings;
  assert.equal(t.ttftMs, 50);
  assert.ok(Number.isNaN(t.tpotMs) && Number.isNaN(t.overheadMsPerToken));
});

test("summary statistics: median of odd and even counts, min, max, NaN ignored", () => {
  assert.deepEqual(summarize([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  assert.deepEqual(summarize([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4, n: 4 });
  assert.deepEqual(summarize([5, NaN, 1]), { median: 3, min: 1, max: 5, n: 2 });
  assert.ok(Number.isNaN(summarize([]).median));
});

test("bench row: bytes per token (weights + KV at the mean decode position) and bandwidth share", () => {
  // 2 layers, 1 KV head of 64: K and V in f32 = 2 * 2 * 64 * 4 = 1024 bytes per cached token
  const model = { config: { nLayers: 2, nKvHeads: 1, headDim: 64 }, decodeWeightBytes: 10_000_000 } as unknown as LLM;
  const o = { genTokens: 32 } as CoreBenchOptions;
  const samples = { ttft: [20, 30, 25], tpot: [1, 2, 1.5], ovh: [0.1, 0.2, 0.15] };
  const row = makeRow(o, { name: "m", dir: "d" }, "bf16", 2, { label: "100", tokens: 100 }, model, samples, 20);
  const kv = 1024 * (100 + 16);
  assert.equal(row.kvBytesPerToken, kv);
  assert.equal(row.ttftMs.median, 25);
  assert.equal(row.tpotMs.median, 1.5);
  assert.equal(row.promptTokPerS, 4000); // 100 tokens / 25 ms
  assert.ok(Math.abs(row.genTokPerS - 1000 / 1.5) < 1e-9);
  assert.ok(Math.abs(row.achievedGBs - (10_000_000 + kv) / 1.5 / 1e6) < 1e-9); // bytes per ms / 1e6 = GB/s
  assert.ok(Math.abs(row.bandwidthEfficiency - (10_000_000 + kv) / 20e9 / 1.5e-3) < 1e-12);
  assert.equal(row.overheadMs, 0.15);
  // the report prints the better of the bandwidths measured before and after: rows are rescored against it
  rescoreBandwidth([row], { 2: 25 });
  assert.ok(Math.abs(row.bandwidthEfficiency - (10_000_000 + kv) / 25e9 / 1.5e-3) < 1e-12);
});
