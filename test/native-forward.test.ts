/**
 * The N-API boundary, part 2 (forward, dispose, runKernel) (native/src/addon.cc, addon_kernels.cc, addon_util.h)
 * must turn every bad input into a JS exception or a rejected promise, never
 * a crash, and a rejected call must leave the model usable.
 *
 * Argument-shape errors (types, lengths, ranges visible without running the
 * model) throw synchronously; errors found while running (token ids, target
 * ids, cache capacity) reject the forward promise. Both are asserted exactly.
 *
 * Inputs that crashed the process when this file was written run in a child
 * process, so a crash fails only that test (with the signal in the message).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { LLM } from "../src/llm.js";
import { type NativeModel, type NativeModelOptions, type OpSpec } from "../src/native.js";
import { llamaGraph, llamaTensors } from "../src/models/llama.js";
import { testAddon } from "./helpers/test-addon.js";
import {
  A, TINY, TINY_OPTS, addTinyWeights, assertBitEqual, assertChildRejected, assertIntact, disposeLoaded, embedded, i32, inChild, range, tiny, weightBytes,
} from "./helpers/native-boundary.js";

after(disposeLoaded);

test("forward: bad tokens/positions/targets are rejected and the model still works", async () => {
  const e = await embedded();
  const { n } = e;
  const a = e.A.length;
  const V = 16384;
  // Synchronous argument errors (nothing is queued).
  const sync: Array<[string, () => unknown, new (...x: never[]) => Error, RegExp]> = [
    ["length mismatch", () => n.forward(i32([1, 2]), i32([a]), false), RangeError, /tokens and positions differ in length/],
    ["empty", () => n.forward(i32([]), i32([]), false), RangeError, /forward needs at least one token/],
    ["Float32Array tokens", () => n.forward(new Float32Array([1]) as unknown as Int32Array, i32([a]), false), TypeError, /tokens has the wrong typed array type/],
    ["Uint32Array tokens", () => n.forward(new Uint32Array([1]) as unknown as Int32Array, i32([a]), false), TypeError, /tokens has the wrong typed array type/],
    ["plain array tokens", () => n.forward([1] as unknown as Int32Array, i32([a]), false), TypeError, /tokens must be a typed array/],
    ["Float32Array positions", () => n.forward(i32([1]), new Float32Array([a]) as unknown as Int32Array, false), TypeError, /positions has the wrong typed array type/],
    ["no arguments", () => (n.forward as () => unknown)(), TypeError, /tokens must be a typed array/],
    ["targets too long (last row only)", () => n.forward(i32([1]), i32([a]), false, i32([1, 2])), RangeError, /targets must have one id per output row/],
    ["targets too short (all rows)", () => n.forward(i32([1, 2, 3]), i32([a, a + 1, a + 2]), true, i32([1, 2])), RangeError, /one id per output row/],
    ["empty targets", () => n.forward(i32([1]), i32([a]), false, i32([])), RangeError, /one id per output row/],
    ["Float32Array targets", () => n.forward(i32([1]), i32([a]), false, new Float32Array([1]) as unknown as Int32Array), TypeError, /targets has the wrong typed array type/],
  ];
  for (const [what, f, cls, re] of sync) {
    assert.throws(f, (err: unknown) => {
      assert.ok(err instanceof cls, `${what}: expected ${cls.name}, got ${String(err)}`);
      assert.match((err as Error).message, re, what);
      return true;
    }, what);
    await assertIntact(e, what);
  }
  // Errors found by the native step: the promise rejects, nothing is cached.
  const async: Array<[string, Int32Array, Int32Array, boolean, Int32Array | undefined, RegExp]> = [
    ["token -1", i32([-1]), i32([a]), false, undefined, /token id -1 out of range \[0, 16384\)/],
    ["token = vocab", i32([V]), i32([a]), false, undefined, /token id 16384 out of range/],
    ["token 2^31-1", i32([2 ** 31 - 1]), i32([a]), false, undefined, /out of range/],
    ["one bad token in a batch", i32([5, 6, V + 7, 8]), i32(range(a, a + 4)), true, undefined, /token id 16391 out of range/],
    ["target -1", i32([5]), i32([a]), false, i32([-1]), /target id out of range/],
    ["target = vocab", i32([5, 6]), i32([a, a + 1]), true, i32([3, V]), /target id out of range/],
  ];
  for (const [what, tok, pos, all, targets, re] of async) {
    await assert.rejects(n.forward(tok, pos, all, targets), re, what);
    await assertIntact(e, what);
  }
  // Valid targets work: one NLL per row.
  const nll = await n.forward(i32([5, 6]), i32([a, a + 1]), true, i32([6, 7]));
  assert.equal(nll.rows, 2);
  assert.ok(nll.data.length === 2 && nll.data.every((x) => Number.isFinite(x) && x > 0));
  n.rollback(2);
  await assertIntact(e, "after a valid NLL step");
});

test("forward: a second forward while one is running throws 'busy' synchronously; the first completes correctly", async () => {
  const e = await embedded();
  const { n, m } = e;
  // A long first step (512-token prefill, ~100+ ms) so that it is certainly
  // still running when the next calls are made (microseconds later).
  const big = Array.from({ length: 512 }, (_, i) => e.A[i % e.A.length]);
  const a = e.A.length;
  const first = n.forward(i32(big), i32(range(a, a + 512)), false);
  assert.throws(() => n.forward(i32([1]), i32([a]), false), { message: "model is busy with a forward step" });
  // Every cache/weight mutation is refused while the step runs, and so is dispose.
  assert.throws(() => n.rollback(0), /busy/);
  assert.throws(() => n.drop(0, 0, 0), /busy/);
  assert.throws(() => n.clearCache(), /busy/);
  assert.throws(() => n.addWeight("x", "F32", new Uint8Array(4), 1, 1, "f32"), /busy/);
  assert.throws(() => n.setGraph([], "x"), /busy/);
  assert.throws(() => n.dispose(), /cannot dispose during a forward step/);
  const r = await first;
  assert.equal(r.rows, 1);
  assert.ok(r.data.every(Number.isFinite));
  assert.equal(n.cacheSize(), a + 512);
  n.rollback(512);
  await assertIntact(e, "after the busy rejection");

  // Through the public API concurrent calls are queued, not rejected, and give
  // the same results as sequential calls.
  const p1 = e.A, p2 = m.encode("class Stack:\n    def push(self, x):\n");
  const l1 = await m.logits(p1), l2 = await m.logits(p2);
  const [c1, c2, c3] = await Promise.all([m.logits(p1), m.logits(p2), m.logits(p1)]);
  assertBitEqual(c1, l1, "queued logits #1");
  assertBitEqual(c2, l2, "queued logits #2");
  assertBitEqual(c3, l1, "queued logits #3");
});

test("forward and every other method after dispose are errors; LLM reports StateError", async () => {
  const t = tiny();
  await t.forward(i32([1]), i32([0]), false);
  t.dispose();
  assert.throws(() => t.forward(i32([1]), i32([1]), false), { message: "model is disposed" });
  for (const [what, f] of [
    ["cacheSize", () => t.cacheSize()],
    ["cachePositions", () => t.cachePositions()],
    ["rollback", () => t.rollback(0)],
    ["drop", () => t.drop(0, 0, 0)],
    ["clearCache", () => t.clearCache()],
    ["info", () => t.info()],
    ["addWeight", () => t.addWeight("x", "F32", new Uint8Array(4), 1, 1, "f32")],
    ["aliasWeight", () => t.aliasWeight("x", "token_embd.weight")],
    ["setGraph", () => t.setGraph([], "x")],
  ] as Array<[string, () => unknown]>) {
    assert.throws(f, { message: "model is disposed" }, what);
  }
  t.dispose(); // second dispose is a no-op

  const m = await LLM.load(undefined, { dtype: "f32", threads: 1 });
  await m.dispose();
  await assert.rejects(m.generate("x = 1", { maxNewTokens: 2 }), { name: "StateError", code: "BAD_STATE" });
  await assert.rejects(m.logits([1, 2]), { name: "StateError" });
  assert.throws(() => m.info(), { name: "StateError" });
  await m.dispose();
});

const T = testAddon();

test("runKernel lives in the test-only addon, not in the production one", () => {
  assert.equal(typeof T.runKernel, "function");
  assert.equal("runKernel" in A, false, "the production addon exports no kernel test hook");
});

test("runKernel: short arrays, wrong types, bad sizes, unknown names are errors", () => {
  const f = (n: number) => new Float32Array(n);
  const h = (n: number) => new Uint16Array(n);
  const mm = { m: 3, n: 5, k: 7, j0: 0, j1: 5 };
  const cases: Array<[string, string, string, Record<string, unknown>, new (...x: never[]) => Error, RegExp]> = [
    ["unknown kernel", "ref", "nope", { n: 1 }, Error, /unknown kernel 'nope'/],
    ["unknown variant", "sse9", "max", { n: 1, x: f(1) }, Error, /kernel variant not available/],
    ["matmul a shorter than m*k", "ref", "matmul_f32", { ...mm, a: f(20), w: f(35) }, RangeError, /a is too short/],
    ["matmul w shorter than n*k", "ref", "matmul_f32", { ...mm, a: f(21), w: f(34) }, RangeError, /w is too short/],
    ["matmul a Float64Array", "ref", "matmul_f32", { ...mm, a: new Float64Array(21), w: f(35) }, TypeError, /a has the wrong type/],
    ["matmul a plain array", "ref", "matmul_f32", { ...mm, a: Array(21).fill(0), w: f(35) }, TypeError, /a has the wrong type/],
    ["matmul_f32 with bf16 arrays", "ref", "matmul_f32", { ...mm, a: h(21), w: h(35) }, TypeError, /wrong type/],
    ["matmul_bf16 with f32 arrays", "ref", "matmul_bf16", { ...mm, a: f(21), w: f(35) }, TypeError, /wrong type/],
    ["matmul_bf16 w short", "ref", "matmul_bf16", { ...mm, a: h(21), w: h(34) }, RangeError, /w is too short/],
    ["matmul j0 > j1", "ref", "matmul_f32", { ...mm, j0: 3, j1: 2, a: f(21), w: f(35) }, RangeError, /bad column range/],
    ["matmul j1 > n", "ref", "matmul_f32", { ...mm, j1: 6, a: f(21), w: f(35) }, RangeError, /bad column range/],
    ["matmul m negative", "ref", "matmul_f32", { ...mm, m: -1, a: f(21), w: f(35) }, RangeError, /m must be an integer/],
    ["matmul k fractional", "ref", "matmul_f32", { ...mm, k: 6.5, a: f(21), w: f(35) }, RangeError, /k must be an integer/],
    ["matmul n NaN", "ref", "matmul_f32", { ...mm, n: NaN, a: f(21), w: f(35) }, RangeError, /n must be an integer/],
    ["matmul m above 2^26", "ref", "matmul_f32", { ...mm, m: 2 ** 26 + 1, a: f(21), w: f(35) }, RangeError, /m must be an integer/],
    ["matmul m missing", "ref", "matmul_f32", { n: 5, k: 7, j0: 0, j1: 5, a: f(21), w: f(35) }, TypeError, /m must be a number/],
    ["dot_rows ldk < d", "ref", "dot_rows", { nk: 2, d: 4, ldk: 3, q: f(4), k: f(8), scale: 1 }, RangeError, /ldk < d/],
    ["dot_rows K short", "ref", "dot_rows", { nk: 3, d: 4, ldk: 6, q: f(4), k: f(15), scale: 1 }, RangeError, /k is too short/],
    ["dot_rows q short", "ref", "dot_rows", { nk: 3, d: 4, ldk: 6, q: f(3), k: f(16), scale: 1 }, RangeError, /q is too short/],
    ["dot_rows scale missing", "ref", "dot_rows", { nk: 3, d: 4, ldk: 6, q: f(4), k: f(16) }, TypeError, /scale must be a finite number/],
    ["dot_rows scale NaN", "ref", "dot_rows", { nk: 3, d: 4, ldk: 6, q: f(4), k: f(16), scale: NaN }, TypeError, /scale must be a finite number/],
    ["attn_pv V short", "ref", "attn_pv", { nk: 3, d: 4, ldv: 5, lanes: 8, w: f(3), v: f(13) }, RangeError, /v is too short/],
    ["attn_pv w short", "ref", "attn_pv", { nk: 3, d: 4, ldv: 5, lanes: 8, w: f(2), v: f(14) }, RangeError, /w is too short/],
    ["attn_pv ldv < d", "ref", "attn_pv", { nk: 3, d: 4, ldv: 2, lanes: 8, w: f(3), v: f(14) }, RangeError, /ldv < d/],
    ["attn_pv lanes 16", "ref", "attn_pv", { nk: 3, d: 4, ldv: 5, lanes: 16, w: f(3), v: f(14) }, RangeError, /lanes must be 8 or 32/],
    ["exp_sum x short", "ref", "exp_sum", { n: 9, x: f(8), max: 0 }, RangeError, /x is too short/],
    ["exp_sum max missing", "ref", "exp_sum", { n: 8, x: f(8) }, TypeError, /max must be a finite number/],
    ["max x short", "ref", "max", { n: 2, x: f(1) }, RangeError, /x is too short/],
    ["sumsq x wrong type", "ref", "sumsq", { n: 2, x: h(2) }, TypeError, /x has the wrong type/],
    ["scale_mul y short", "ref", "scale_mul", { n: 4, x: f(4), y: f(3), s: 1 }, RangeError, /y is too short/],
    ["scale_mul s missing", "ref", "scale_mul", { n: 4, x: f(4), y: f(4) }, TypeError, /s must be a finite number/],
    ["silu_mul x short", "ref", "silu_mul", { n: 4, x: f(3), y: f(4) }, RangeError, /x is too short/],
    ["f32_to_bf16 given bf16", "ref", "f32_to_bf16", { n: 2, x: h(2) }, TypeError, /x has the wrong type/],
    ["bf16_to_f32 given f32", "ref", "bf16_to_f32", { n: 2, x: f(2) }, TypeError, /x has the wrong type/],
    ["bf16_to_f32 x short", "ref", "bf16_to_f32", { n: 3, x: h(2) }, RangeError, /x is too short/],
    ["elementwise n missing", "ref", "sumsq", { x: f(2) }, TypeError, /n must be a number/],
  ];
  for (const [what, variant, name, args, cls, re] of cases) {
    for (const v of [variant, ...(variant === "ref" ? ["auto"] : [])]) {
      assert.throws(() => T.runKernel(v, name, args), (e: unknown) => {
        assert.ok(e instanceof cls, `${what} (${v}): expected ${cls.name}, got ${String(e)}`);
        assert.match((e as Error).message, re, what);
        return true;
      }, `${what} (${v})`);
    }
  }
  assert.throws(() => T.runKernel(1 as unknown as string, "max", {}), { name: "TypeError", message: "variant must be a string" });
  assert.throws(() => T.runKernel("ref", 1 as unknown as string, {}), { name: "TypeError", message: "name must be a string" });
  assert.throws(() => (T.runKernel as (...a: unknown[]) => unknown)("ref", "max"), { name: "TypeError", message: "args must be an object" });
  // Zero sizes are fine (nothing to do).
  assert.deepEqual(Array.from(T.runKernel("ref", "matmul_f32", { m: 0, n: 0, k: 0, j0: 0, j1: 0, a: f(0), w: f(0) }) as Float32Array), []);
  // Longer arrays than needed are fine too (only the prefix is read).
  assert.equal(T.runKernel("ref", "sumsq", { n: 2, x: new Float32Array([1, 2, 100]) }), 5);
});

test("runKernel: huge m*n with tiny arrays is a RangeError, not a fatal OOM abort (child process)", () => {
  // The output C (m*n floats) is allocated before a/w are checked against m*k
  // and n*k: 2^52 floats make V8 abort ("ArrayBuffer::New Allocation failed").
  const r = inChild(`T.runKernel("ref", "matmul_f32", { m: 2 ** 26, n: 2 ** 26, k: 1, j0: 0, j1: 0, a: new Float32Array(1), w: new Float32Array(1) });`);
  assertChildRejected(r, /a is too short|m \* n too large/, "runKernel matmul_f32 m = n = 2^26 with 1-element arrays");
});
