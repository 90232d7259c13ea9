/**
 * The N-API boundary (native/src/addon.cc, addon_kernels.cc, addon_util.h)
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
import {
  A, TINY, TINY_OPTS, addTinyWeights, assertBitEqual, assertChildRejected, assertIntact, disposeLoaded, embedded, i32, inChild, range, tiny, weightBytes,
} from "./helpers/native-boundary.js";

after(disposeLoaded);


test("NativeModel constructor: missing, mistyped, negative, NaN, huge fields are errors", () => {
  const ok = () => new A.NativeModel({ ...TINY_OPTS });
  ok().dispose();
  for (const key of Object.keys(TINY_OPTS) as Array<keyof NativeModelOptions>) {
    const o: Record<string, unknown> = { ...TINY_OPTS };
    delete o[key];
    assert.throws(() => new A.NativeModel(o as unknown as NativeModelOptions), TypeError, `missing ${key}`);
  }
  const bad: Array<[Partial<Record<keyof NativeModelOptions, unknown>>, new (...a: never[]) => Error, RegExp]> = [
    [{ threads: 0 }, RangeError, /threads must be an integer in \[1, 256\]/],
    [{ threads: -1 }, RangeError, /threads/],
    [{ threads: NaN }, RangeError, /threads/],
    [{ threads: 1.5 }, RangeError, /threads/],
    [{ threads: 257 }, RangeError, /threads/],
    [{ threads: 1e12 }, RangeError, /threads/],
    [{ threads: "2" }, TypeError, /threads must be a number/],
    [{ nLayers: -3 }, RangeError, /nLayers/],
    [{ nLayers: 0 }, RangeError, /nLayers/],
    [{ nLayers: Infinity }, RangeError, /nLayers/],
    [{ nKvHeads: NaN }, RangeError, /nKvHeads/],
    [{ headDim: 1 }, RangeError, /headDim/],
    [{ headDim: 7 }, Error, /invalid model dimensions/], // odd: RoPE needs pairs
    [{ headDim: 2 ** 31 }, RangeError, /headDim/],
    [{ nCtx: 0 }, RangeError, /nCtx/],
    [{ nCtx: -16 }, RangeError, /nCtx/],
    [{ nCtx: 2 ** 25 }, RangeError, /nCtx/],
    [{ nCtx: null }, TypeError, /nCtx must be a number/],
    [{ ropeTheta: NaN }, TypeError, /ropeTheta must be a finite number/],
    [{ ropeTheta: Infinity }, TypeError, /ropeTheta/],
    [{ ropeTheta: "1e4" }, TypeError, /ropeTheta/],
    [{ kernels: "foo" }, Error, /kernel variant 'foo' is unknown or not supported/],
    [{ kernels: "" }, Error, /unknown or not supported/],
    [{ kernels: 2 }, TypeError, /kernels must be a string/],
  ];
  for (const [over, cls, re] of bad) {
    assert.throws(() => new A.NativeModel({ ...TINY_OPTS, ...over } as NativeModelOptions), (e: unknown) => {
      assert.ok(e instanceof cls, `${JSON.stringify(over)}: expected ${cls.name}, got ${String(e)}`);
      assert.match((e as Error).message, re);
      return true;
    }, JSON.stringify(over));
  }
  // In range but impossible to allocate (a 2^63-byte KV cache): an error naming the bytes, not a crash
  // (nor a bare std::bad_alloc, issue 16).
  assert.throws(() => new A.NativeModel({ ...TINY_OPTS, nLayers: 4096, nKvHeads: 4096, headDim: 4096, nCtx: 2 ** 24 }),
    /KV cache for a context of 16777216 tokens \(4096 layers x 4096 KV heads x 4096 dims, K and V in f32\) needs 9223372036854775808 bytes \(8589934592\.0 GiB\): too large/);
  for (const arg of [undefined, null, 5, "x", []]) {
    assert.throws(() => new A.NativeModel(arg as unknown as NativeModelOptions), TypeError, `options ${String(arg)}`);
  }
  assert.throws(() => (A.NativeModel as unknown as (o: unknown) => void)(TINY_OPTS), TypeError, "call without new");
});

test("NativeModel constructor: ropeTheta must be > 0 (0 or negative gives NaN logits)", async () => {
  for (const ropeTheta of [0, -1, -10000]) {
    let m: NativeModel | undefined;
    try {
      m = new A.NativeModel({ ...TINY_OPTS, ropeTheta });
    } catch (e) {
      assert.ok(e instanceof Error);
      continue; // rejected: good
    }
    // Accepted: show what it leads to, then fail.
    addTinyWeights(m);
    const g = llamaGraph(TINY);
    m.setGraph(g.ops, g.output);
    const r = await m.forward(i32([1, 2, 3]), i32([0, 1, 2]), false);
    const nans = r.data.filter(Number.isNaN).length;
    m.dispose();
    assert.fail(`ropeTheta ${ropeTheta} was accepted; forward then gives ${nans}/${r.data.length} NaN logits`);
  }
});

test("addWeight: wrong typed array, byte length, dtype, format, shape are errors", () => {
  const m = new A.NativeModel({ ...TINY_OPTS });
  try {
    const good = weightBytes(3, 4, 1, false); // 3x4 f32 = 48 bytes
    m.addWeight("ok", "F32", good, 3, 4, "f32");
    m.addWeight("ok_buffer", "F32", Buffer.from(good), 3, 4, "bf16"); // Buffer is a Uint8Array
    m.addWeight("ok_f16", "F16", new Uint8Array(24), 3, 4, "f32");
    m.addWeight("ok_bf16", "BF16", new Uint8Array(24), 3, 4, "bf16");
    const f32 = new Float32Array(good.buffer);
    const wrongType: unknown[] = [f32, new Int8Array(48), new Uint8ClampedArray(48), new Uint16Array(24), new DataView(good.buffer), good.buffer, Array.from(good), null, undefined];
    for (const b of wrongType) {
      assert.throws(() => m.addWeight("w", "F32", b as Uint8Array, 3, 4, "f32"), TypeError, `bytes ${Object.prototype.toString.call(b)}`);
    }
    for (const len of [0, 47, 49, 96]) {
      assert.throws(() => m.addWeight("w", "F32", new Uint8Array(len), 3, 4, "f32"), /byte size does not match shape and dtype/, `F32 with ${len} bytes`);
    }
    assert.throws(() => m.addWeight("w", "F16", good, 3, 4, "f32"), /byte size does not match/, "F16 given F32-sized bytes");
    assert.throws(() => m.addWeight("w", "BF16", new Uint8Array(23), 3, 4, "bf16"), /byte size does not match/);
    for (const dt of ["F64", "f32", "", "I8", "IQ2_XS", "Q8_1", "q4_0"]) {
      assert.throws(() => m.addWeight("w", dt as "F32", good, 3, 4, "f32"), { name: "TypeError", message: "unsupported dtype" }, `dtype ${dt}`);
    }
    for (const fmt of ["q4", "F32", "", "f16", "int8"]) {
      assert.throws(() => m.addWeight("w", "F32", good, 3, 4, fmt as "f32"), { name: "TypeError", message: "unknown weight format" }, `format ${fmt}`);
    }
    for (const [r, c] of [[0, 48], [-1, 4], [NaN, 4], [1.5, 4], [2 ** 41, 1], [3, 0], [3, Infinity]]) {
      assert.throws(() => m.addWeight("w", "F32", good, r, c, "f32"), RangeError, `shape ${r}x${c}`);
    }
    assert.throws(() => m.addWeight("w", "F32", good, "3" as unknown as number, 4, "f32"), TypeError);
    assert.throws(() => (m.addWeight as (...a: unknown[]) => void)("w", "F32", good, 3, 4), TypeError, "format missing");
    assert.throws(() => m.addWeight(5 as unknown as string, "F32", good, 3, 4, "f32"), TypeError, "name not a string");
    assert.throws(() => m.aliasWeight("alias", "missing"), /alias target 'missing' not loaded/);
    // Stored packed: 3 rows pad to a group of 4, 4 columns pad to one 64-byte chunk per row.
    assert.equal(m.info().weightBytes, 4 * (4 * 64));
    m.addWeight("norm", "F32", good.subarray(0, 16), 1, 4, "vector");
    assert.equal(m.info().weightBytes, 4 * (4 * 64) + 16, "vectors are stored plain");
    assert.throws(() => m.addWeight("v2", "F32", good, 3, 4, "vector"), /vectors are f32 \[1, n\]/);
  } finally {
    m.dispose();
  }
  // After setGraph no more weights.
  const t = tiny();
  try {
    assert.throws(() => t.addWeight("late", "F32", new Uint8Array(4), 1, 1, "f32"), /weights cannot be added after the graph is set/);
  } finally {
    t.dispose();
  }
});

test("addWeight: rows*cols*size overflowing size_t is an error, not a crash (child process)", () => {
  // count = 2^40 * 2^23 = 2^63 elements; count * 4 bytes wraps to 0 == bytes.length,
  // so the size check passes and make_weight writes 2^63 floats into a 64-byte buffer.
  const r = inChild(`const m = new A.NativeModel({threads:1,kernels:"ref",nLayers:1,nKvHeads:1,headDim:2,nCtx:4,ropeTheta:10000});
    m.addWeight("w", "F32", new Uint8Array(0), 2 ** 40, 2 ** 23, "f32");`);
  assertChildRejected(r, /.+/, "addWeight(F32, 0 bytes, 2^40 x 2^23)");
  const r2 = inChild(`const m = new A.NativeModel({threads:1,kernels:"ref",nLayers:1,nKvHeads:1,headDim:2,nCtx:4,ropeTheta:10000});
    m.addWeight("w", "F16", new Uint8Array(0), 2 ** 40, 2 ** 23, "bf16");`);
  assertChildRejected(r2, /.+/, "addWeight(F16, 0 bytes, 2^40 x 2^23)");
});

test("addWeight accepts unaligned Uint8Array views (byteOffset 1) with the same result", async () => {
  const a = tiny();
  const b = new A.NativeModel({ ...TINY_OPTS });
  try {
    addTinyWeights(b, (bytes) => {
      const buf = new Uint8Array(bytes.length + 1);
      buf.set(bytes, 1);
      return buf.subarray(1); // odd byteOffset: f32 data not 4-byte aligned
    });
    const g = llamaGraph(TINY);
    b.setGraph(g.ops, g.output);
    const ra = await a.forward(i32([3, 1, 4, 1, 5]), i32(range(0, 5)), true);
    const rb = await b.forward(i32([3, 1, 4, 1, 5]), i32(range(0, 5)), true);
    assertBitEqual(rb.data, ra.data, "unaligned vs aligned weights");
  } finally {
    a.dispose();
    b.dispose();
  }
});

test("setGraph: unknown op/weight, undefined buffer, shape mismatch, bad layer, no output are errors; the old graph survives", async () => {
  const m = tiny();
  try {
    const g = llamaGraph(TINY);
    const want = (await m.forward(i32([1, 2, 3]), i32([0, 1, 2]), false)).data;
    m.clearCache();
    const ops = () => g.ops.map((o) => ({ ...o }));
    const edit = (f: (o: OpSpec[]) => OpSpec[]) => f(ops());
    const find = (o: OpSpec[], p: (s: OpSpec) => boolean) => o.findIndex(p);
    const cases: Array<[string, OpSpec[], string, RegExp]> = [
      ["unknown op", edit((o) => [...o.slice(0, 1), { op: "conv" } as unknown as OpSpec, ...o.slice(1)]), g.output, /graph op #1 \(conv\): unknown op/],
      ["unknown weight", edit((o) => ((o[find(o, (s) => s.op === "matmul")].weight = "blk.0.nope.weight"), o)), g.output, /unknown weight 'blk\.0\.nope\.weight'/],
      ["embed of an unknown weight", edit((o) => ((o[0].weight = "missing"), o)), g.output, /unknown weight 'missing'/],
      ["undefined buffer read", edit((o) => ((o[1].a = "zz"), o)), g.output, /reads undefined buffer 'zz'/],
      ["matmul input width mismatch", edit((o) => ((o[find(o, (s) => s.weight === "blk.0.ffn_down.weight")].a = "h"), o)), g.output, /input width does not match/],
      ["add operands differ", edit((o) => ((o[find(o, (s) => s.op === "add")].b = "k"), o)), g.output, /operands differ in shape/],
      ["buffer redefined with another shape", edit((o) => ((o[find(o, (s) => s.weight === "blk.0.attn_k.weight")].out = "q"), o)), g.output, /redefined with another shape/],
      ["norm weight of the wrong size", edit((o) => ((o[1].weight = "blk.0.attn_q.weight"), o)), g.output, /norm weight must be f32 \[16\]/],
      ["rms_norm eps 0", edit((o) => ((o[1].eps = 0), o)), g.output, /eps must be > 0/],
      ["matmul writing its input", edit((o) => ((o[find(o, (s) => s.op === "matmul")].out = "h"), o)), g.output, /matmul cannot write its input/],
      ["rope heads mismatch", edit((o) => ((o[find(o, (s) => s.op === "rope")].heads = 3), o)), g.output, /width is not heads \* head_dim/],
      ["kv_store layer out of range", edit((o) => ((o[find(o, (s) => s.op === "kv_store")].layer = 1), o)), g.output, /layer out of range/],
      ["attention layer -5", edit((o) => ((o[find(o, (s) => s.op === "attention")].layer = -5), o)), g.output, /layer out of range/],
      ["attention without layer", edit((o) => (delete o[find(o, (s) => s.op === "attention")].layer, o)), g.output, /layer out of range/],
      ["rope after output_rows", [...ops(), { op: "rope", a: "xo", heads: 2 }], g.output, /rope needs one row per token/],
      ["output never written", ops(), "nothing", /graph output buffer 'nothing' is never written/],
      ["output before output_rows", ops(), "x", /graph output must come after output_rows/],
      ["no embed op", edit((o) => o.slice(1)), g.output, /reads undefined buffer 'x'/],
      ["empty graph", [], g.output, /never written/],
    ];
    for (const [what, o, out, re] of cases) {
      assert.throws(() => m.setGraph(o, out), (e: unknown) => {
        assert.ok(e instanceof Error, what);
        assert.match((e as Error).message, re, what);
        return true;
      }, what);
    }
    // JS-side shape errors of the op list itself
    assert.throws(() => m.setGraph("ops" as unknown as OpSpec[], g.output), { name: "TypeError", message: "ops must be an array" });
    assert.throws(() => m.setGraph([null as unknown as OpSpec], g.output), { name: "TypeError", message: "op must be an object" });
    assert.throws(() => m.setGraph([{ a: "x" } as unknown as OpSpec], g.output), { name: "TypeError", message: "op must be a string" });
    assert.throws(() => m.setGraph([{ op: "embed", weight: 5 } as unknown as OpSpec], g.output), { name: "TypeError", message: "weight must be a string" });
    assert.throws(() => m.setGraph([{ op: "rms_norm", eps: NaN } as unknown as OpSpec], g.output), { name: "TypeError", message: "eps must be a finite number" });
    assert.throws(() => m.setGraph([{ op: "kv_store", layer: 0.5 } as unknown as OpSpec], g.output), RangeError);
    // (reported as a plain Error: SetGraph() rethrows everything from its try block as Napi::Error)
    assert.throws(() => (m.setGraph as (...a: unknown[]) => void)(g.ops), /output must be a string/);
    // Every rejection left the compiled graph in place.
    assertBitEqual((await m.forward(i32([1, 2, 3]), i32([0, 1, 2]), false)).data, want, "forward after rejected setGraph calls");
    // attention heads must be a multiple of the kv heads (2 kv heads, 3 query heads of 8).
    const gq = new A.NativeModel({ ...TINY_OPTS, nKvHeads: 2 });
    gq.addWeight("E", "F32", weightBytes(10, 24, 1, false), 10, 24, "f32");
    assert.throws(() => gq.setGraph([{ op: "embed", weight: "E", out: "x" }, { op: "attention", layer: 0, a: "x", heads: 3, out: "y" }], "y"), /heads must be a multiple of kv heads/);
    gq.dispose();
    // A model whose graph was never set rejects forward.
    const bare = new A.NativeModel({ ...TINY_OPTS });
    await assert.rejects(bare.forward(i32([1]), i32([0]), false), /model has no graph/);
    bare.dispose();
  } finally {
    m.dispose();
  }
});

// Graphs that feed an output-row buffer (1 row in "last" mode) to ops that read
// one row per token: kv_store / attention and a second output_rows read n rows
// from a 1-row buffer. Graph::compile must reject them (rope already is).
const OUT_ROWS_SETUP = `const V = 64, D = 4096;
  const m = new A.NativeModel({ threads: 1, kernels: "ref", nLayers: 1, nKvHeads: 1, headDim: D, nCtx: 8192, ropeTheta: 10000 });
  const w = (r, c) => { const x = new Float32Array(r * c); for (let i = 0; i < x.length; i++) x[i] = Math.sin(i); return new Uint8Array(x.buffer); };
  m.addWeight("E", "F32", w(V, D), V, D, "f32");
  const n = 4000, tokens = new Int32Array(n).fill(1), positions = Int32Array.from({ length: n }, (_, i) => i);`;

test("setGraph: kv_store/attention reading an output_rows buffer is rejected (was: heap over-read, segfault)", () => {
  const r = inChild(`${OUT_ROWS_SETUP}
    m.setGraph([{ op: "embed", weight: "E", out: "x" }, { op: "output_rows", a: "x", out: "xo" },
      { op: "kv_store", layer: 0, a: "xo", b: "xo" }, { op: "attention", layer: 0, a: "xo", heads: 1, out: "att" },
      { op: "output_rows", a: "att", out: "ao" }, { op: "matmul", a: "ao", weight: "E", out: "logits" }], "logits");
    await m.forward(tokens, positions, false);`);
  assertChildRejected(r, /.+/, "kv_store/attention on an output_rows buffer");
});

test("setGraph: output_rows of an output_rows buffer is rejected (was: reads row n-1 of a 1-row buffer, segfault)", () => {
  const r = inChild(`${OUT_ROWS_SETUP}
    m.setGraph([{ op: "embed", weight: "E", out: "x" }, { op: "output_rows", a: "x", out: "xo" },
      { op: "output_rows", a: "xo", out: "xo2" }, { op: "matmul", a: "xo2", weight: "E", out: "logits" }], "logits");
    await m.forward(tokens, positions, false);`);
  assertChildRejected(r, /.+/, "output_rows chained on an output_rows buffer");
});
