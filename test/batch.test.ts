/**
 * Continuous batching (LoadOptions.parallel, runtime/batch.ts, Model::forward_batch): several
 * sequences in one native step, each over its own KV slot, give the logits each gives alone; and
 * concurrent generations on a parallel model give the tokens they give one at a time, while
 * sharing native steps.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import type { AddressInfo } from "node:net";
import { createServer } from "../src/server/server.js";
import { LLM, DEFAULT_MODEL_DIR } from "../src/llm.js";
import { InvalidOptionError, StateError } from "../src/errors.js";
import type { NativeModel } from "../src/native.js";
import { exportGguf } from "../src/formats/gguf-export.js";
import { hfSource } from "../src/models/source.js";
import { REPO } from "./helpers/paths.js";

function nativeOf(m: LLM): NativeModel {
  return (m as unknown as { native: NativeModel }).native;
}

const maxDiff = (a: Float32Array, b: Float32Array) => {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};
const maxAbs = (a: Float32Array) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

const PROMPTS = ["def fib(n):", "import os\n", "class Stack:\n    def", "# sort a list\ndef sort_list(xs):", "for i in range(10):", "def add(a, b):\n    return"];

/**
 * Three sequences in two batched steps against the same sequences stepped alone on slot 0.
 * Batching must add no error of its own: a row may differ from its one-sequence value only as
 * much as a row of a multi-row step already differs from the same token fed alone (w4a16's GEMV
 * and GEMM round differently: ~0.2% of the largest logit here; the integer formats and bf16 are
 * exact on AVX2), measured on the same model as `inherent`.
 */
for (const quant of [undefined, "w8a8", "w4a8-g128-ismax", "w4a16-g128"] as const) {
  test(`forwardBatch: each sequence's logits equal its own forward (${quant ?? "bf16"})`, async () => {
    const m = await LLM.load(undefined, { threads: 2, parallel: 3, ...(quant ? { quant } : {}) });
    try {
      const n = nativeOf(m), V = m.vocabSize;
      const a = [5, 100, 200, 300, 400], b = [9, 8], c = [77];
      // alone, on slot 0: a's 5 rows, then its next token; b, then its next token
      n.clearCache();
      const aAll = (await n.forward(Int32Array.from(a), Int32Array.from([0, 1, 2, 3, 4]), true)).data;
      const aNext = (await n.forward(Int32Array.of(17), Int32Array.of(5), false)).data;
      n.clearCache();
      const bLast = (await n.forward(Int32Array.from(b), Int32Array.of(0, 1), false)).data;
      const bNext = (await n.forward(Int32Array.of(7), Int32Array.of(2), false)).data;
      n.clearCache();
      const cLast = (await n.forward(Int32Array.from(c), Int32Array.of(0), false)).data;
      n.clearCache();
      // b's next token as the last row of a 3-row step, against bNext (a one-row step)
      const bRows = (await n.forward(Int32Array.from([...b, 7]), Int32Array.of(0, 1, 2), true)).data;
      const inherent = maxDiff(bRows.slice(2 * V), bNext);
      n.clearCache();
      // batched: a (every row) in slot 1, b in slot 2, c in slot 3; then b and a one token each, in that order
      const r1 = await n.forwardBatch(Int32Array.of(1, 2, 3), Int32Array.of(5, 2, 1), Uint8Array.of(1, 0, 0), Int32Array.from([...a, ...b, ...c]), Int32Array.of(0, 1, 2, 3, 4, 0, 1, 0));
      assert.equal(r1.rows, 7);
      const r2 = await n.forwardBatch(Int32Array.of(2, 1), Int32Array.of(1, 1), Uint8Array.of(0, 0), Int32Array.of(7, 17), Int32Array.of(2, 5));
      assert.equal(r2.rows, 2);
      assert.deepEqual([n.cacheSize(0), n.cacheSize(1), n.cacheSize(2), n.cacheSize(3)], [0, 6, 3, 1]);
      const pairs: [Float32Array, Float32Array, string][] = [
        [r1.data.slice(0, 5 * V), aAll, "a, every row"],
        [r1.data.slice(5 * V, 6 * V), bLast, "b"],
        [r1.data.slice(6 * V, 7 * V), cLast, "c"],
        [r2.data.slice(0, V), bNext, "b's next"],
        [r2.data.slice(V, 2 * V), aNext, "a's next"],
      ];
      if (quant === "w4a16-g128") assert.ok(inherent > 0 && inherent < 5e-3 * maxAbs(bNext), `w4a16 rows: ${inherent}`);
      for (const [got, want, what] of pairs) {
        const d = maxDiff(got, want);
        assert.ok(d <= 1.5 * inherent, `${what}: batched logits differ from the sequence's own by ${d} (a multi-row step's own difference: ${inherent})`);
      }
    } finally {
      await m.dispose();
    }
  });
}

test("forwardBatch: bad segments are typed errors and leave every slot as it was", async () => {
  const m = await LLM.load(undefined, { threads: 2, parallel: 2, contextLength: 16 });
  try {
    const n = nativeOf(m);
    await n.forwardBatch(Int32Array.of(1), Int32Array.of(3), Uint8Array.of(0), Int32Array.of(1, 2, 3), Int32Array.of(0, 1, 2));
    const bad: [string, () => Promise<unknown>, RegExp][] = [
      ["duplicate slot", async () => n.forwardBatch(Int32Array.of(1, 1), Int32Array.of(1, 1), Uint8Array.of(0, 0), Int32Array.of(1, 2), Int32Array.of(3, 4)), /appears twice/],
      ["slot out of range", async () => n.forwardBatch(Int32Array.of(3), Int32Array.of(1), Uint8Array.of(0), Int32Array.of(1), Int32Array.of(0)), /out of range/],
      ["counts past the tokens", async () => n.forwardBatch(Int32Array.of(1), Int32Array.of(2), Uint8Array.of(0), Int32Array.of(1), Int32Array.of(0)), /sum to the number of tokens/],
      ["zero count", async () => n.forwardBatch(Int32Array.of(1, 2), Int32Array.of(1, 0), Uint8Array.of(0, 0), Int32Array.of(1), Int32Array.of(0)), />= 1/],
      ["lengths differ", async () => n.forwardBatch(Int32Array.of(1, 2), Int32Array.of(1), Uint8Array.of(0, 0), Int32Array.of(1), Int32Array.of(0)), /differ in length/],
      ["all not bytes", async () => n.forwardBatch(Int32Array.of(1), Int32Array.of(1), Int32Array.of(0) as unknown as Uint8Array, Int32Array.of(1), Int32Array.of(0)), /all has the wrong typed array type/],
      ["token id", async () => n.forwardBatch(Int32Array.of(2), Int32Array.of(1), Uint8Array.of(0), Int32Array.of(1 << 30), Int32Array.of(0)), /out of range/],
      // slot 1 holds 3 of 16 cells: 14 more do not fit, and slot 2's part must not be kept either
      ["a full slot", async () => n.forwardBatch(Int32Array.of(2, 1), Int32Array.of(1, 14), Uint8Array.of(0, 0), Int32Array.from({ length: 15 }, () => 1), Int32Array.from({ length: 15 }, (_, i) => i)), /KV cache full/],
    ];
    for (const [what, call, msg] of bad) {
      await assert.rejects(call, (e: Error) => msg.test(e.message), what);
      assert.deepEqual([n.cacheSize(1), n.cacheSize(2)], [3, 0], `${what}: the slots changed`);
    }
    assert.throws(() => n.cacheSize(3), /slot/);
    assert.throws(() => n.rollback(1, 5), /slot/);
    assert.throws(() => n.setSlots(0), /slots/);
  } finally {
    await m.dispose();
  }
});

test("parallel and batchTokens are validated; tp with parallel is refused", async () => {
  for (const o of [{ parallel: 0 }, { parallel: 1.5 }, { parallel: 1000 }, { batchTokens: 0 }, { parallel: 2, tp: true }]) {
    await assert.rejects(LLM.load(undefined, o), InvalidOptionError, JSON.stringify(o));
  }
});

/** Concurrent greedy generations: the tokens of each alone, in fewer native steps than tokens. */
async function concurrentEqualsSequential(path: string | undefined, opts: { quant?: "w8a8"; batchTokens?: number; parallel: number }, prompts: (string | number[])[], gen: { maxNewTokens: number; promptLookup?: number }) {
  const { parallel, batchTokens, ...load } = opts;
  const one = await LLM.load(path, { threads: 2, ...load });
  const many = await LLM.load(path, { threads: 2, ...load, parallel, ...(batchTokens ? { batchTokens } : {}) });
  try {
    const alone: number[][] = [];
    for (const p of prompts) alone.push((await one.generate(p, { ...gen, stopAtEos: false })).ids);
    const together = await Promise.all(prompts.map((p) => many.generate(p, { ...gen, stopAtEos: false })));
    together.forEach((r, i) => assert.deepEqual(r.ids, alone[i], `prompt ${i}: batched tokens differ from its own`));
    const s = many.batchStats!;
    assert.equal(s.maxSequences, Math.min(parallel, prompts.length), "the streams shared native steps");
    return { stats: s, results: together };
  } finally {
    await one.dispose();
    await many.dispose();
  }
}

test("parallel generate: concurrent greedy streams give each one's own tokens, in shared steps", async () => {
  for (const quant of [undefined, "w8a8"] as const) {
    const { stats } = await concurrentEqualsSequential(undefined, { parallel: 4, ...(quant ? { quant } : {}) }, PROMPTS, { maxNewTokens: 24 });
    // 6 streams of 24 tokens in 4 slots: the first 4 together, then the last 2 (they wait for slots)
    assert.ok(stats.steps <= 2 * 24 + 2, `${stats.steps} native steps`);
  }
});

test("parallel generate: a prompt longer than batchTokens is fed in chunks beside running streams", async () => {
  const long = Array.from({ length: 150 }, (_, i) => 100 + ((i * 37) % 500));
  const { stats } = await concurrentEqualsSequential(undefined, { parallel: 3, batchTokens: 40 }, ["def f(x):", long, "import sys\n"], { maxNewTokens: 16 });
  assert.ok(stats.rows <= stats.steps * 40, "no step carried more than batchTokens rows");
});

test("parallel generate: prompt lookup verifies its drafts in batched slots", async () => {
  const rep = "def add(a, b):\n    return a + b\n\n";
  await concurrentEqualsSequential(undefined, { parallel: 3 }, [rep.repeat(3), rep.repeat(2) + "def", "x = 1\n"], { maxNewTokens: 24, promptLookup: 4 });
});

test("parallel generate: a K-quant GGUF and a family with sliding windows and soft-capping", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-batch-"));
  try {
    const file = join(tmp, "q4_k_m.gguf");
    exportGguf(hfSource(DEFAULT_MODEL_DIR), file, "q4_k_m");
    await concurrentEqualsSequential(file, { parallel: 3 }, PROMPTS.slice(0, 4), { maxNewTokens: 16 });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  // Gemma 2: local (sliding-window) and global layers, attention and final soft-capping
  const gemma2 = join(REPO, "test", "fixtures", "families", "gemma2");
  const ids = [[2, 10, 20, 30], [2, 40, 41], [2, 5, 6, 7, 8, 9]];
  await concurrentEqualsSequential(gemma2, { parallel: 3 }, ids, { maxNewTokens: 12 });
});

test("parallel stream and resetCache: a stream's text is its generate's; slots reuse a cached prefix", async () => {
  const m = await LLM.load(undefined, { threads: 2, parallel: 2 });
  try {
    const opts = { maxNewTokens: 20, stopAtEos: false };
    const want = await m.generate(PROMPTS[0]!, opts);
    const s = m.stream(PROMPTS[1]!, opts);
    const other = m.generate(PROMPTS[0]!, opts);
    let text = "";
    for await (const t of s) text += t;
    assert.equal(text, (await s.result).text);
    const again = await other;
    assert.deepEqual(again.ids, want.ids);
    // the same prompt again: its slot still holds it, so only the last prompt token is computed
    assert.equal(again.timings.prefillTokens, 1, "the slot holding the prompt was picked");
    m.resetCache();
    const fresh = await m.generate(PROMPTS[0]!, opts);
    assert.equal(fresh.timings.prefillTokens, fresh.timings.promptTokens);
    assert.deepEqual(fresh.ids, want.ids);
  } finally {
    await m.dispose();
  }
});

test("serve with parallel slots: concurrent requests (one streamed) answer as one at a time, in shared steps", async () => {
  const one = await LLM.load(undefined, { threads: 2 });
  const many = await LLM.load(undefined, { threads: 2, parallel: 3 });
  const server = createServer({ model: many, modelId: "tinycode-7m" });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/completions`;
  try {
    const body = (prompt: string, stream: boolean) => JSON.stringify({ model: "tinycode-7m", prompt, max_tokens: 48, temperature: 0, ignore_eos: true, stream });
    const post = async (prompt: string, stream: boolean): Promise<string> => {
      const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: body(prompt, stream) });
      assert.equal(r.status, 200);
      if (!stream) return ((await r.json()) as { choices: { text: string }[] }).choices[0]!.text;
      let text = "";
      for (const line of (await r.text()).split("\n")) {
        if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
        const c = JSON.parse(line.slice(6)) as { choices: { text?: string }[] };
        text += c.choices[0]?.text ?? "";
      }
      return text;
    };
    const prompts = PROMPTS.slice(0, 3);
    const got = await Promise.all(prompts.map((p, i) => post(p, i === 1)));
    for (let i = 0; i < prompts.length; i++) {
      const want = await one.generate(prompts[i]!, { maxNewTokens: 48, temperature: 0, stopAtEos: false });
      assert.equal(got[i], want.text, `request ${i}`);
    }
    assert.equal(many.batchStats!.maxSequences, 3, "the requests shared native steps");
    // /metrics: the slots, all free again
    const m = await (await fetch(url.replace("/v1/completions", "/metrics"))).text();
    assert.match(m, /^lowbit_slots\{state="total"\} 3$/m);
    assert.match(m, /^lowbit_slots\{state="busy"\} 0$/m);
    assert.deepEqual(one.slots, { total: 1, busy: 0 });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await one.dispose();
    await many.dispose();
  }
});

test("lowbit serve --parallel and --batch-tokens are checked before the model loads", () => {
  for (const [flag, v] of [["--parallel", "0"], ["--parallel", "x"], ["--batch-tokens", "0"]] as const) {
    const r = spawnSync(process.execPath, [join(REPO, "bin", "lowbit.js"), "serve", flag, v, "--port", "0"], { encoding: "utf8" });
    assert.equal(r.status, 2, `${flag} ${v}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(flag));
  }
});

test("generateBatch: every prompt's own result, in order, batched with parallel and one by one without", async () => {
  const one = await LLM.load(undefined, { threads: 2 });
  const many = await LLM.load(undefined, { threads: 2, parallel: 2 });
  try {
    const opts = { maxNewTokens: 12, temperature: 0, stopAtEos: false };
    const want: number[][] = [];
    for (const p of PROMPTS.slice(0, 3)) want.push((await one.generate(p, opts)).ids);
    assert.deepEqual((await many.generateBatch(PROMPTS.slice(0, 3), opts)).map((r) => r.ids), want);
    assert.deepEqual((await one.generateBatch(PROMPTS.slice(0, 3), opts)).map((r) => r.ids), want);
    assert.equal(many.batchStats!.maxSequences, 2);
    // sampled with a seed: prompt i draws with seed + i, as generate does with that seed
    const sampled = { maxNewTokens: 12, temperature: 0.8, seed: 7, stopAtEos: false };
    const got = await many.generateBatch([PROMPTS[0]!, PROMPTS[0]!], sampled);
    assert.deepEqual(got[0]!.ids, (await one.generate(PROMPTS[0]!, { ...sampled, seed: 7 })).ids);
    assert.deepEqual(got[1]!.ids, (await one.generate(PROMPTS[0]!, { ...sampled, seed: 8 })).ids);
    await assert.rejects(many.generateBatch([]), InvalidOptionError);
    await assert.rejects(many.generateBatch([PROMPTS[0]!], { maxNewTokens: -1 }), InvalidOptionError);
  } finally {
    await one.dispose();
    await many.dispose();
  }
});

test("parallel generate with context shifts: each slot shifts its own cache, as alone", async () => {
  const opts = { maxNewTokens: 80, temperature: 0, stopAtEos: false, contextShift: { nKeep: 4, nDiscard: 16 } };
  const one = await LLM.load(undefined, { threads: 2, contextLength: 48 });
  const many = await LLM.load(undefined, { threads: 2, contextLength: 48, parallel: 2 });
  try {
    const alone: Awaited<ReturnType<LLM["generate"]>>[] = [];
    for (const p of PROMPTS.slice(0, 2)) {
      one.resetCache();
      alone.push(await one.generate(p, opts));
    }
    const together = await Promise.all(PROMPTS.slice(0, 2).map((p) => many.generate(p, opts)));
    together.forEach((r, i) => {
      assert.ok(r.contextShifts! >= 3, `stream ${i}: ${r.contextShifts} shifts`);
      assert.equal(r.contextShifts, alone[i]!.contextShifts);
      assert.deepEqual(r.ids, alone[i]!.ids, `stream ${i}`);
    });
    assert.equal(many.batchStats!.maxSequences, 2);
  } finally {
    await one.dispose();
    await many.dispose();
  }
});

test("parallel generate: disposing the model under running streams rejects them with StateError, no hang", async () => {
  const m = await LLM.load(undefined, { threads: 2, parallel: 2 });
  const runs = PROMPTS.slice(0, 3).map((p) => m.generate(p, { maxNewTokens: 500, stopAtEos: false }));
  await new Promise((r) => setTimeout(r, 50));
  await m.dispose();
  for (const r of runs) await assert.rejects(r, StateError);
});
