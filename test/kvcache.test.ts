/**
 * KV-cache editing through the model (native/src/kvcache.cc via NativeModel):
 * rollback, drop with and without RoPE shift, a full cache, and prefix reuse in
 * LLM.generate. Uses the embedded tinycode-7m with f32 weights.
 *
 * LLM has no public rollback/drop, so the native handle is reached through
 * `(model as any).native`; every test that does so resets the LLM's own
 * bookkeeping (resetCache) before using the public API again.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { LLM, DEFAULT_MODEL_DIR } from "../src/llm.js";
import { addon, type NativeModel } from "../src/native.js";
import { loadConfig } from "../src/config.js";
import { llamaGraph, llamaTensors } from "../src/models/llama.js";
import { openSafetensorsDir, readTensorBytes } from "../src/formats/safetensors.js";

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

function nativeOf(m: LLM): NativeModel {
  return (m as unknown as { native: NativeModel }).native;
}

async function fwd(n: NativeModel, ids: number[], pos: number[], all = false): Promise<Float32Array> {
  const r = await n.forward(Int32Array.from(ids), Int32Array.from(pos), all);
  return r.data;
}

/** max |a - b| / max |b| */
function relDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / s;
}

function assertBitEqual(a: Float32Array, b: Float32Array, msg: string): void {
  assert.equal(a.length, b.length, msg);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${msg}: first difference at ${i}: ${a[i]} vs ${b[i]} (max rel diff ${relDiff(a, b)})`);
  }
}

/**
 * The embedded model truncated to its first `nLayers` layers (same weights,
 * output norm and tied head), built directly on the addon like the loader does.
 */
function buildTruncated(nLayers: number, nCtx: number): NativeModel {
  const cfg = { ...loadConfig(DEFAULT_MODEL_DIR), nLayers };
  const index = openSafetensorsDir(DEFAULT_MODEL_DIR);
  const native = new (addon().NativeModel)({
    threads: 2, kernels: "auto", nLayers, nKvHeads: cfg.nKvHeads, headDim: cfg.headDim, nCtx, ropeTheta: cfg.ropeTheta,
  });
  for (const s of llamaTensors(cfg)) {
    const info = index.tensors.get(s.hfName);
    assert.ok(info, s.hfName);
    native.addWeight(s.name, info.dtype, readTensorBytes(info), s.rows, s.cols, s.kind === "norm" ? "vector" : "f32");
  }
  if (cfg.tieWordEmbeddings) native.aliasWeight("output.weight", "token_embd.weight");
  const g = llamaGraph(cfg);
  native.setGraph(g.ops, g.output);
  return native;
}

const models: LLM[] = [];
const natives: NativeModel[] = [];
after(async () => {
  for (const m of models) await m.dispose();
  for (const n of natives) n.dispose();
});

async function load(opts: { contextLength?: number } = {}): Promise<LLM> {
  const m = await LLM.load(undefined, { dtype: "f32", threads: 2, ...opts });
  models.push(m);
  return m;
}

const PROMPT = "def fibonacci(n):\n    if n < 2:\n        return n\n";
const EXTRA = "    # this comment will be rolled back\n";
const MIDDLE = "import numpy as np\nx = np.zeros(10)\n";

test("rollback: logits after feeding and rolling back extra tokens are bit-identical to never feeding them", async () => {
  const m = await load();
  const n = nativeOf(m);
  const A = m.encode(PROMPT), E = m.encode(EXTRA);
  const a = A.length, e = E.length, t = A[3];

  n.clearCache();
  const promptLogits = await fwd(n, A, range(0, a));
  const want = await fwd(n, [t], [a]);
  const want2 = await fwd(n, [A[5]], [a + 1]);

  // (1) extra tokens fed as one batch, then rolled back at once
  n.clearCache();
  assertBitEqual(await fwd(n, A, range(0, a)), promptLogits, "prefill after clearCache");
  await fwd(n, E, range(a, a + e));
  assert.equal(n.cacheSize(), a + e);
  n.rollback(e);
  assert.equal(n.cacheSize(), a);
  assert.deepEqual(Array.from(n.cachePositions()), range(0, a));
  // f32 weights, same kernels, same cells and threads: the next step runs the
  // identical sequence of floating-point operations, so equality is exact.
  assertBitEqual(await fwd(n, [t], [a]), want, "step after batch rollback");
  assertBitEqual(await fwd(n, [A[5]], [a + 1]), want2, "second step after batch rollback");

  // (2) extra tokens fed one by one (rejected draft tokens), rolled back in two parts
  n.rollback(2);
  assert.equal(n.cacheSize(), a);
  for (let i = 0; i < e; i++) await fwd(n, [E[i]], [a + i]);
  n.rollback(3);
  n.rollback(e - 3);
  n.rollback(0); // no-op
  assert.equal(n.cacheSize(), a);
  assertBitEqual(await fwd(n, [t], [a]), want, "step after incremental rollback");

  // (3) rolling back everything is a clear: the prompt gives the same logits again
  n.rollback(n.cacheSize());
  assert.equal(n.cacheSize(), 0);
  assertBitEqual(await fwd(n, A, range(0, a)), promptLogits, "prefill after full rollback");

  // (4) out-of-range rollbacks are RangeErrors and change nothing
  for (const bad of [a + 1, -1, 1.5, NaN, Infinity]) {
    assert.throws(() => n.rollback(bad), RangeError, `rollback(${bad})`);
  }
  // A non-number is refused too (the addon currently reports it as a RangeError
  // "n must be a number": Rollback() rethrows every exception as RangeError).
  assert.throws(() => n.rollback("1" as unknown as number), /n must be a number/);
  assert.equal(n.cacheSize(), a);
  assertBitEqual(await fwd(n, [t], [a]), want, "step after rejected rollbacks");
  m.resetCache();
});

test("drop + shift, 1-layer model: S = P + X + Q with X dropped (shift |X|) matches a fresh P + Q within 1e-4", async (tc) => {
  // With a single layer, a cell's K/V depend only on its token and position
  // (they are computed before any attention), so after drop+shift the cache
  // must equal a fresh P + Q cache, up to the rounding of re-rotating the
  // keys (f32 sin/cos of angles up to ~40 rad, ~1e-6 relative).
  const tok = await load();
  const P = tok.encode(PROMPT), X = tok.encode(MIDDLE), Q = tok.encode(EXTRA);
  const p = P.length, x = X.length, q = Q.length;
  const n = buildTruncated(1, 256);
  natives.push(n);
  const T = [P[2], Q[1], X[0]];

  const fresh: Float32Array[] = [];
  await fwd(n, [...P, ...Q], range(0, p + q));
  for (let i = 0; i < T.length; i++) fresh.push(await fwd(n, [T[i]], [p + q + i]));

  n.clearCache();
  await fwd(n, P, range(0, p));
  await fwd(n, X, range(p, p + x));
  await fwd(n, Q, range(p + x, p + x + q));
  assert.equal(n.cacheSize(), p + x + q);
  n.drop(p, x, x);
  assert.equal(n.cacheSize(), p + q);
  assert.deepEqual(Array.from(n.cachePositions()), range(0, p + q), "positions after the kept range are lowered by the shift");
  for (let i = 0; i < T.length; i++) {
    const got = await fwd(n, [T[i]], [p + q + i]);
    const r = relDiff(got, fresh[i]);
    tc.diagnostic(`step ${i}: max rel diff ${r.toExponential(2)}`);
    assert.ok(r <= 1e-4, `step ${i} after drop+shift: max rel diff ${r} > 1e-4`);
  }

  // Without a shift the kept cells keep their positions, and the cache equals
  // a fresh run of the same tokens at those (gapped) positions: bit-exact,
  // since nothing is re-rotated (cells are only moved).
  const gapped = [...range(0, p), ...range(p + x, p + x + q)];
  n.clearCache();
  await fwd(n, [...P, ...Q], gapped);
  const wantGap = await fwd(n, [T[0]], [p + x + q]);
  n.clearCache();
  await fwd(n, [...P, ...X, ...Q], range(0, p + x + q));
  n.drop(p, x, 0);
  assert.deepEqual(Array.from(n.cachePositions()), gapped);
  assertBitEqual(await fwd(n, [T[0]], [p + x + q]), wantGap, "step after drop without shift");
});

test("drop + shift, full model: dropping leading cells that the kept cells never attended matches a fresh run within 1e-4", async (tc) => {
  // In the 4-layer model the K/V of layers >= 1 depend on everything a token
  // attended to, so dropping a middle range X from P + X + Q is NOT equivalent
  // to a fresh P + Q (that is StreamingLLM's approximation, not a cache
  // invariant). It is equivalent when the kept cells never saw X: here X is
  // cached first but at positions above Q's, so the position mask hides it
  // from Q; then drop(0, |X|, |X|) must turn Q's cells into those of a fresh
  // run of Q at positions 0.. (RoPE scores depend only on position differences).
  const m = await load();
  const n = nativeOf(m);
  const X = m.encode(MIDDLE), Q = m.encode(PROMPT);
  const x = X.length, q = Q.length;
  const T = [Q[1], X[2], Q[7]];

  n.clearCache();
  await fwd(n, Q, range(0, q));
  const fresh: Float32Array[] = [];
  for (let i = 0; i < T.length; i++) fresh.push(await fwd(n, [T[i]], [q + i]));

  n.clearCache();
  const hidden = range(x + q + 100, x + q + 100 + x); // above every position Q or T will use
  await fwd(n, X, hidden);
  await fwd(n, Q, range(x, x + q)); // cells are now unsorted by position: per-cell masking
  n.drop(0, x, x);
  assert.deepEqual(Array.from(n.cachePositions()), range(0, q));
  for (let i = 0; i < T.length; i++) {
    const got = await fwd(n, [T[i]], [q + i]);
    const r = relDiff(got, fresh[i]);
    tc.diagnostic(`step ${i}: max rel diff ${r.toExponential(2)}`);
    assert.ok(r <= 1e-4, `step ${i} after drop+shift: max rel diff ${r} > 1e-4`);
  }
  m.resetCache();
});

test("drop without shift keeps positions; drop ranges outside the cache are RangeErrors and leave it intact", async () => {
  const m = await load();
  const n = nativeOf(m);
  const S = m.encode(PROMPT);
  const s = S.length;

  n.clearCache();
  await fwd(n, S, range(0, s));
  n.drop(2, 3, 0);
  assert.equal(n.cacheSize(), s - 3);
  assert.deepEqual(Array.from(n.cachePositions()), [0, 1, ...range(5, s)]);
  n.drop(0, 1, 0);
  assert.deepEqual(Array.from(n.cachePositions()), [1, ...range(5, s)]);
  n.drop(n.cacheSize(), 0, 0); // empty range at the end: no-op
  n.drop(3, 0, 7); // empty range: no-op even with a shift
  assert.deepEqual(Array.from(n.cachePositions()), [1, ...range(5, s)]);
  const logits = await fwd(n, [S[0]], [s]);
  assert.ok(logits.every(Number.isFinite));

  // Control: the next-step logits of an untouched cache, to compare after the rejected drops.
  n.clearCache();
  await fwd(n, S, range(0, s));
  const before = Array.from(n.cachePositions());
  const want = await fwd(n, [S[1]], [s]);
  n.rollback(1);
  const size = n.cacheSize();
  const bad: Array<[number, number, number]> = [
    [size - 1, 2, 0], // runs past the end
    [0, size + 1, 0],
    [size + 1, 0, 0], // starts past the end
    [-1, 1, 0],
    [0, -1, 0],
    [1.5, 1, 0],
    [0, 1, 2 ** 25], // shift out of range
    [NaN, 1, 0],
  ];
  for (const [st, c, sh] of bad) {
    assert.throws(() => n.drop(st, c, sh), RangeError, `drop(${st}, ${c}, ${sh})`);
  }
  // Non-numbers / missing arguments are refused (reported as RangeError, see rollback above).
  assert.throws(() => n.drop("0" as unknown as number, 1, 0), /start must be a number/);
  assert.throws(() => (n.drop as (...a: unknown[]) => void)(0, 1), /shift is required/);
  assert.equal(n.cacheSize(), size);
  assert.deepEqual(Array.from(n.cachePositions()), before);
  assertBitEqual(await fwd(n, [S[1]], [s]), want, "step after rejected drops");
  m.resetCache();
});

test("cache full (contextLength 16): forward past nCtx is rejected and the cache stays usable", async () => {
  const m = await load({ contextLength: 16 });
  const n = nativeOf(m);
  assert.equal(m.contextLength, 16);
  assert.equal(m.info().nCtx, 16);
  const ids = m.encode(PROMPT.repeat(2)).slice(0, 17);
  assert.equal(ids.length, 17);

  n.clearCache();
  await assert.rejects(fwd(n, ids, range(0, 17)), /KV cache full: 0 \+ 17 > 16/);
  assert.equal(n.cacheSize(), 0);

  const first10 = await fwd(n, ids.slice(0, 10), range(0, 10));
  await assert.rejects(fwd(n, ids.slice(10, 17), range(10, 17)), /KV cache full: 10 \+ 7 > 16/);
  assert.equal(n.cacheSize(), 10, "a rejected step commits nothing");
  assert.deepEqual(Array.from(n.cachePositions()), range(0, 10));
  const six = await fwd(n, ids.slice(10, 16), range(10, 16)); // exactly fills the cache
  assert.equal(n.cacheSize(), 16);
  await assert.rejects(fwd(n, [ids[16]], [16]), /KV cache full: 16 \+ 1 > 16/);
  assert.equal(n.cacheSize(), 16);

  // Still usable: rollback + recompute gives the same logits, and a fresh
  // prefill reproduces the first result.
  n.rollback(6);
  assertBitEqual(await fwd(n, ids.slice(10, 16), range(10, 16)), six, "recomputed tail after rejected steps");
  n.clearCache();
  assertBitEqual(await fwd(n, ids.slice(0, 10), range(0, 10)), first10, "prefill after rejected steps");

  // Public API: a prompt that leaves no room is a ContextOverflowError before
  // any native call; generate stops with finishReason "context" when full.
  m.resetCache();
  await assert.rejects(async () => m.logits(ids.slice(0, 16)), { name: "ContextOverflowError", code: "CONTEXT_OVERFLOW" });
  const r = await m.generate(ids.slice(0, 10), { maxNewTokens: 100, stopAtEos: false });
  assert.equal(r.finishReason, "context");
  assert.equal(r.ids.length, 7, "10 prompt tokens + 6 fed new tokens fill 16 cells; the 7th token is sampled, not fed");
  assert.equal(n.cacheSize(), 16);
  // ...and the model keeps working afterwards (prefix reuse rolls the cache back).
  const r2 = await m.generate(ids.slice(0, 10), { maxNewTokens: 3, stopAtEos: false });
  assert.deepEqual(r2.ids, r.ids.slice(0, 3));
  assert.equal(r2.timings.prefillTokens, 1);
});

test("prefix reuse: a second generate with the same prompt prefills 1 token and gives the ids of a fresh model", async () => {
  const m = await load();
  const fresh = await load();
  const prompt = m.encode(PROMPT);
  const opts = { maxNewTokens: 12, stopAtEos: false }; // greedy (temperature unset)

  const r1 = await m.generate(prompt, opts);
  assert.equal(r1.timings.prefillTokens, prompt.length);
  assert.equal(r1.ids.length, 12);
  const r2 = await m.generate(prompt, opts);
  assert.equal(r2.timings.prefillTokens, 1, "all but the last prompt token come from the cache");
  assert.equal(r2.timings.promptTokens, prompt.length);
  assert.deepEqual(r2.ids, r1.ids);
  const rf = await fresh.generate(prompt, opts);
  assert.deepEqual(rf.ids, r1.ids, "reused cache vs fresh model");
  assert.equal(rf.timings.prefillTokens, prompt.length);

  // A prompt extending the previous prompt + output reuses it too, and
  // continues exactly as the first generation did.
  const ext = [...prompt, ...r1.ids.slice(0, 4)];
  const r3 = await m.generate(ext, { maxNewTokens: 8, stopAtEos: false });
  assert.equal(r3.timings.prefillTokens, 1);
  assert.deepEqual(r3.ids, r1.ids.slice(4, 12));
  const r3f = await fresh.generate(ext, { maxNewTokens: 8, stopAtEos: false });
  assert.deepEqual(r3f.ids, r3.ids);

  // A diverging prompt reuses only the common prefix.
  const other = [...prompt.slice(0, 5), ...m.encode(MIDDLE)];
  const r4 = await m.generate(other, { maxNewTokens: 4, stopAtEos: false });
  assert.equal(r4.timings.prefillTokens, other.length - 5);
  const r4f = await (await load()).generate(other, { maxNewTokens: 4, stopAtEos: false });
  assert.deepEqual(r4.ids, r4f.ids);
});
