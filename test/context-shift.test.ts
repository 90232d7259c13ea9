/**
 * StreamingLLM context shift (src/generate/context-shift.ts, src/eval/streaming.ts) on the
 * embedded tinycode-7m with f32 weights:
 *   - shift-RoPE is a position change: window attention with the kept keys re-rotated gives the
 *     same scores as the same evictions with positions left growing (RoPE depends on q - k only);
 *   - generation past the context equals the same steps made on the native cache by hand;
 *   - streaming with a cache larger than the stream is plain causal scoring; re-computation
 *     scores each token from exactly the `cache` tokens before it;
 *   - bad options are typed errors (API) and exit code 2 (CLI).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { LLM } from "../src/llm.js";
import { ContextOverflowError, InvalidOptionError } from "../src/errors.js";
import type { NativeModel } from "../src/native.js";
import { resolveContextShift } from "../src/generate/context-shift.js";
import { recomputeNll, streamingNll, pplFrom } from "../src/eval/streaming.js";
import { generationPrompt, loadProblems } from "../src/eval/humaneval.js";
import { codeStream } from "./helpers/texts.js";
import { main } from "../src/cli/main.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const models: LLM[] = [];
after(async () => {
  for (const m of models) await m.dispose();
});
async function load(contextLength: number): Promise<LLM> {
  const m = await LLM.load(undefined, { dtype: "f32", threads: 2, contextLength });
  models.push(m);
  return m;
}
const nativeOf = (m: LLM) => (m as unknown as { native: NativeModel }).native;
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

function logSoftmaxAt(logits: Float32Array, id: number): number {
  let mx = -Infinity;
  for (const x of logits) mx = Math.max(mx, x);
  let s = 0;
  for (const x of logits) s += Math.exp(x - mx);
  return logits[id]! - mx - Math.log(s);
}

function argmax(a: Float32Array): number {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[b]!) b = i;
  return b;
}

/**
 * Greedy generation done by hand on a fresh model's native cache: the prompt in chunks that fill
 * the cache (drop(nKeep, nDiscard, nDiscard) when it is full), then one token per step.
 */
async function byHand(ctx: number, prompt: number[], maxNewTokens: number, nKeep: number, nDiscard: number): Promise<{ ids: number[]; shifts: number }> {
  const rn = nativeOf(await load(ctx));
  let shifts = 0;
  const room = (need: number) => {
    if (rn.cacheSize() + need > ctx) {
      rn.drop(nKeep, nDiscard, nDiscard);
      shifts++;
    }
  };
  const feed = async (ids: number[]) => (await rn.forward(Int32Array.from(ids), Int32Array.from(range(rn.cacheSize(), rn.cacheSize() + ids.length)), false)).data;
  let i = 0;
  while (rn.cacheSize() + prompt.length - i > ctx) {
    if (rn.cacheSize() === ctx) {
      room(1);
      continue; // the rest may fit now
    }
    const n = ctx - rn.cacheSize();
    await feed(prompt.slice(i, i + n));
    i += n;
  }
  const ids = [argmax(await feed(prompt.slice(i)))];
  while (ids.length < maxNewTokens) {
    room(1);
    ids.push(argmax(await feed([ids[ids.length - 1]!])));
  }
  return { ids, shifts };
}

test("defaults and limits: 4 sinks, half the rest dropped; nKeep + nDiscard must fit the cache", () => {
  assert.deepEqual(resolveContextShift({}, 2048), { nKeep: 4, nDiscard: 1022 });
  assert.deepEqual(resolveContextShift({ nKeep: 0 }, 9), { nKeep: 0, nDiscard: 4 });
  assert.deepEqual(resolveContextShift({ nDiscard: 1 }, 3), { nKeep: 2, nDiscard: 1 });
  for (const [o, re] of [
    [{ nKeep: 8 }, /nKeep \(8\) must be below the cache size \(8 tokens\)/],
    [{ nKeep: 4, nDiscard: 5 }, /nKeep \+ nDiscard \(4 \+ 5\) exceed the cache size \(8 tokens\)/],
    [{ nDiscard: 0 }, /nDiscard must be an integer >= 1, got 0/],
    [{ nKeep: -1 }, /nKeep must be an integer >= 0/],
    [{ nKeep: 1.5 }, /nKeep must be an integer >= 0/],
  ] as const) assert.throws(() => resolveContextShift(o, 8), (e: Error) => e instanceof InvalidOptionError && re.test(e.message), JSON.stringify(o));
});

test("shift-RoPE is a position change: window attention with re-rotated keys = the same evictions at growing positions", async () => {
  const cache = 24, d = 5, chunk = 3;
  const m = await load(cache);
  const ids = codeStream(m, 80);
  const got = await streamingNll(m, ids, { cache, nKeep: 0, nDiscard: d, chunk });
  // by hand on the native cache: the same chunks and evictions, but drop(0, d, 0) keeps every
  // position, so no key is rotated and the positions keep growing past the cache size
  const n = nativeOf(m);
  n.clearCache();
  const want = new Float32Array(ids.length - 1);
  let shifts = 0;
  for (let i = 0; i < ids.length - 1; ) {
    if (n.cacheSize() === cache) {
      n.drop(0, d, 0);
      shifts++;
    }
    const k = Math.min(chunk, cache - n.cacheSize(), ids.length - 1 - i);
    const r = await n.forward(Int32Array.from(ids.slice(i, i + k)), Int32Array.from(range(i, i + k)), true, Int32Array.from(ids.slice(i + 1, i + k + 1)));
    want.set(r.data, i);
    i += k;
  }
  n.clearCache();
  assert.equal(got.shifts, shifts);
  assert.ok(shifts >= 10, `${shifts} shifts`);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got.nll[i]! - want[i]!));
  // f32 re-rotation of the keys against keys rotated once (measured: 4e-6)
  assert.ok(worst < 5e-5, `max |nll difference| ${worst}`);
  // and the sinks change the result: with nKeep 4 the scores after the first shift differ
  const sinks = await streamingNll(m, ids, { cache, nKeep: 4, nDiscard: d, chunk });
  assert.ok(Math.abs(pplFrom(sinks.nll, cache) - pplFrom(got.nll, cache)) > 1e-3);
  assert.deepEqual(Array.from(sinks.nll.subarray(0, cache - 1)), Array.from(got.nll.subarray(0, cache - 1)));
});

test("no eviction: streaming token by token scores like one causal pass; re-computation scores each token from the cache tokens before it", async () => {
  const m = await load(64);
  const ids = codeStream(m, 60);
  const whole = await m.nll(ids);
  const s = await streamingNll(m, ids, { cache: 64, nKeep: 4 });
  assert.equal(s.shifts, 0);
  for (let i = 0; i < whole.length; i++) assert.ok(Math.abs(s.nll[i]! - whole[i]!) < 1e-4, `token ${i}: ${s.nll[i]} vs ${whole[i]}`);
  // re-computation, cache 16, stride 1: token i + 1 scored after exactly ids[i - 15 .. i]
  const r = await recomputeNll(m, ids, 16, 1);
  for (const i of [0, 7, 15, 16, 31, 58]) {
    const ctx = ids.slice(Math.max(0, i - 15), i + 1);
    const want = -logSoftmaxAt(await m.logits(ctx), ids[i + 1]!);
    assert.ok(Math.abs(r.nll[i]! - want) < 1e-4, `token ${i}: ${r.nll[i]} vs ${want}`);
  }
  // stride = cache: the perplexity command's non-overlapping windows
  const w = await recomputeNll(m, ids, 16, 16);
  assert.deepEqual(Array.from(w.nll.subarray(16, 32)), Array.from(await m.nll(ids.slice(16, 33))));
});

test("generation past the context: the same tokens as the steps made on the native cache by hand; the cache stays contiguous", async () => {
  const ctx = 40, nKeep = 4, nDiscard = 10, maxNewTokens = 100;
  const m = await load(ctx);
  const prompt = m.encode("def fibonacci(n):\n    if n < 2:\n        return n\n");
  const r = await m.generate(prompt, { maxNewTokens, contextShift: { nKeep, nDiscard } });
  assert.equal(r.ids.length, maxNewTokens);
  assert.equal(r.finishReason, "length");
  const n = nativeOf(m);
  const positions = Array.from(n.cachePositions());
  assert.deepEqual(positions, range(0, positions.length));
  const { ids: want, shifts } = await byHand(ctx, prompt, maxNewTokens, nKeep, nDiscard);
  assert.deepEqual(r.ids, want);
  assert.equal(r.contextShifts, shifts);
  assert.ok(shifts >= 3, `${shifts} shifts`);
  // without contextShift the same generation stops at the context
  const plain = await m.generate(prompt, { maxNewTokens });
  assert.equal(plain.finishReason, "context");
  assert.deepEqual(plain.ids, want.slice(0, plain.ids.length));
  assert.equal(plain.contextShifts, undefined);
  // a shifted cache is not reused as a prefix: the next generation recomputes past the sinks
  await m.generate(prompt, { maxNewTokens: 60, contextShift: { nKeep, nDiscard } });
  const again = await m.generate(prompt, { maxNewTokens: 3 });
  assert.deepEqual(again.ids, want.slice(0, 3));
});

test("a prompt longer than the context: chunks that fill the cache, shifted between them (without contextShift: ContextOverflowError)", async () => {
  const ctx = 40, nKeep = 4, nDiscard = 10;
  const m = await load(ctx);
  const prompt = codeStream(m, 100);
  assert.throws(() => m.generate(prompt, { maxNewTokens: 4 }), (e: Error) => e instanceof ContextOverflowError && /contextShift streams past it/.test(e.message));
  const r = await m.generate(prompt, { maxNewTokens: 30, contextShift: { nKeep, nDiscard } });
  const { ids, shifts } = await byHand(ctx, prompt, 30, nKeep, nDiscard);
  assert.deepEqual(r.ids, ids);
  assert.equal(r.contextShifts, shifts);
  assert.ok(shifts >= 8, `${shifts} shifts`);
  assert.equal(r.timings.prefillTokens, 100);
  // a prompt of exactly the context fits with contextShift (the first new token shifts the cache)
  const full = await m.generate(prompt.slice(0, ctx), { maxNewTokens: 2, contextShift: { nKeep, nDiscard } });
  assert.deepEqual(full.ids, (await byHand(ctx, prompt.slice(0, ctx), 2, nKeep, nDiscard)).ids);
  assert.equal(full.contextShifts, 1);
});

test("CLI: generate --context-shift runs past --ctx; eval streaming prints what the API computes", async () => {
  let out = "";
  const io = { out: (x: string) => void (out += x), err: () => {}, errIsTTY: false };
  assert.equal(await main(["generate", "--dtype", "f32", "--ctx", "24", "--context-shift", "--keep", "2", "--discard", "5", "--max-new-tokens", "40", "--prompt", "def add(a, b):", "--json"], io), 0);
  const g = JSON.parse(out) as { ids: number[]; finish_reason: string; context_shifts: number; prompt_ids: number[] };
  assert.equal(g.ids.length, 40);
  assert.equal(g.finish_reason, "length");
  assert.deepEqual(g.ids, (await byHand(24, g.prompt_ids, 40, 2, 5)).ids);
  assert.equal(g.context_shifts, Math.ceil((g.prompt_ids.length + 39 - 24) / 5));
  // eval streaming on a file of HumanEval solutions
  const dir = mkdtempSync(join(tmpdir(), "lowbit-streaming-"));
  try {
    const data = join(dir, "code.jsonl");
    writeFileSync(data, loadProblems().slice(0, 20).map((p) => JSON.stringify({ text: generationPrompt(p) + p.canonical_solution })).join("\n"));
    out = "";
    assert.equal(await main(["eval", "streaming", "--dtype", "f32", "--data", data, "--tokens", "300", "--cache", "64", "--keep", "0,4", "--recompute-stride", "8", "--json"], io), 0);
    const j = JSON.parse(out) as { rows: { method: string; nKeep: number; ppl: number; pplPastCache: number; shifts: number }[] };
    assert.deepEqual(j.rows.map((r) => [r.method, r.nKeep, r.shifts]), [["window attention", 0, 300 - 1 - 64], ["StreamingLLM", 4, 300 - 1 - 64], ["sliding window with re-computation", 0, 0]]);
    // one text of some 200k tokens (more than a function call takes arguments) is read like any other
    const big = join(dir, "big.jsonl");
    writeFileSync(big, JSON.stringify({ text: "x = [" + "1, ".repeat(200_000) + "]\n" }));
    out = "";
    assert.equal(await main(["eval", "streaming", "--dtype", "f32", "--data", big, "--tokens", "100", "--cache", "32", "--keep", "4", "--recompute-stride", "0", "--json"], io), 0);
    assert.equal((JSON.parse(out) as { rows: unknown[] }).rows.length, 1);
    const m = await load(64);
    const ids: number[] = [];
    for (const p of loadProblems().slice(0, 20)) ids.push(...m.encode(generationPrompt(p) + p.canonical_solution), m.config.eosTokenIds[0]!);
    const stream = ids.slice(0, 300);
    const api = [await streamingNll(m, stream, { cache: 64, nKeep: 0 }), await streamingNll(m, stream, { cache: 64, nKeep: 4 }), await recomputeNll(m, stream, 64, 8)];
    for (const [k, r] of api.entries()) {
      assert.ok(Math.abs(j.rows[k]!.ppl - pplFrom(r.nll)) < 1e-9 * pplFrom(r.nll), `${j.rows[k]!.method}: ${j.rows[k]!.ppl} vs ${pplFrom(r.nll)}`);
      assert.ok(Math.abs(j.rows[k]!.pplPastCache - pplFrom(r.nll, 64)) < 1e-9 * pplFrom(r.nll, 64));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad options: typed errors from the API, exit code 2 from the CLI", async () => {
  const m = await load(32);
  await assert.rejects(m.generate("def f():", { contextShift: { nKeep: 40 } }), /nKeep \(40\) must be below the cache size \(32 tokens\)/);
  assert.throws(() => m.generate("def f():", { contextShift: { nDiscard: -2 } }), InvalidOptionError);
  assert.throws(() => m.generate("def f():", { contextShift: 4 as never }), /contextShift must be an object/);
  await assert.rejects(streamingNll(m, [1, 2, 3], { cache: 33, nKeep: 4 }), /cache must be an integer in \[2, 32\]/);
  await assert.rejects(recomputeNll(m, [1, 2, 3], 8, 9), /stride must be an integer in \[1, 8\]/);
  for (const [argv, re] of [
    [["generate", "--prompt", "x", "--keep", "4"], /--keep and --discard need --context-shift/],
    [["generate", "--prompt", "x", "--context-shift", "--discard", "0"], /--discard must be an integer >= 1/],
    [["eval", "streaming", "--data", "/nonexistent.jsonl"], /cannot read data file/],
    [["eval", "streaming", "--tokens", "100", "--cache", "100", "--data", "x"], /--tokens \(100\) must exceed --cache \(100\)/],
    [["eval", "streaming", "--keep", "0,x", "--data", "x"], /--keep must be an integer >= 0/],
  ] as const) {
    let err = "";
    const code = await main([...argv], { out: () => {}, err: (s) => void (err += s), errIsTTY: false });
    assert.equal(code, 2, argv.join(" "));
    assert.match(err, re, argv.join(" "));
  }
});
