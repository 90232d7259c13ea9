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
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { LLM, DEFAULT_MODEL_DIR } from "../src/llm.js";
import { addon, type NativeModel, type NativeModelOptions, type OpSpec } from "../src/native.js";
import type { LlamaConfig } from "../src/config.js";
import { llamaGraph, llamaTensors } from "../src/models/llama.js";

const A = addon();
const ADDON_PATH = join(DEFAULT_MODEL_DIR, "..", "..", "build", "Release", "lowbit.node");
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
const i32 = (a: number[]) => Int32Array.from(a);

function assertBitEqual(a: Float32Array, b: Float32Array, msg: string): void {
  assert.equal(a.length, b.length, msg);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${msg}: differs at ${i}: ${a[i]} vs ${b[i]}`);
}

// ---------------------------------------------------------------- tiny model

/** A 1-layer Llama with deterministic pseudo-random weights (vocab 50, d 16). */
const TINY: LlamaConfig = {
  architecture: "llama", hiddenSize: 16, intermediateSize: 24, nLayers: 1, nHeads: 2, nKvHeads: 1, headDim: 8,
  vocabSize: 50, ropeTheta: 10000, rmsNormEps: 1e-5, maxPositionEmbeddings: 32, tieWordEmbeddings: false,
  bosTokenId: null, eosTokenIds: [],
};
const TINY_OPTS: NativeModelOptions = { threads: 1, kernels: "auto", nLayers: 1, nKvHeads: 1, headDim: 8, nCtx: 32, ropeTheta: 10000 };

function weightBytes(rows: number, cols: number, seed: number, norm: boolean): Uint8Array {
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < x.length; i++) x[i] = norm ? 1 + 0.1 * Math.sin(seed + i) : 0.3 * Math.sin(seed * 7.1 + i * 1.37);
  return new Uint8Array(x.buffer);
}

/** Adds every tiny weight; `wrap` may re-wrap the bytes (e.g. as an unaligned view). */
function addTinyWeights(m: NativeModel, wrap: (b: Uint8Array) => Uint8Array = (b) => b): void {
  llamaTensors(TINY).forEach((s, k) => m.addWeight(s.name, "F32", wrap(weightBytes(s.rows, s.cols, k, s.kind === "norm")), s.rows, s.cols, s.kind === "norm" ? "vector" : "f32"));
}

function tiny(opts: Partial<NativeModelOptions> = {}, withGraph = true): NativeModel {
  const m = new A.NativeModel({ ...TINY_OPTS, ...opts });
  addTinyWeights(m);
  if (withGraph) {
    const g = llamaGraph(TINY);
    m.setGraph(g.ops, g.output);
  }
  return m;
}

// ------------------------------------------------------------ child processes

interface ChildResult { status: number | null; signal: NodeJS.Signals | null; out: { ok: boolean; name?: string; message?: string } | null; stderr: string }

/**
 * Runs `body` (CommonJS, inside an async function, `A` = the addon) in a
 * fresh node process. It prints what it threw, if anything.
 */
function inChild(body: string): ChildResult {
  const code = `const A = require(${JSON.stringify(ADDON_PATH)});
(async () => { ${body} })().then(
  () => console.log(JSON.stringify({ ok: true })),
  (e) => console.log(JSON.stringify({ ok: false, name: e && e.constructor && e.constructor.name, message: String(e && e.message) })));`;
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ["-e", code], { encoding: "utf8", timeout: 120_000, env });
  let out = null;
  try {
    out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "");
  } catch {
    /* crashed before printing */
  }
  return { status: r.status, signal: r.signal, out, stderr: r.stderr };
}

/** The child must end normally, its call having thrown an error matching `re`. */
function assertChildRejected(r: ChildResult, re: RegExp, what: string): void {
  const lines = r.stderr.split("\n");
  const fatal = lines.findIndex((l) => /FATAL|Segmentation|Abort/i.test(l));
  const tail = lines.slice(Math.max(0, fatal), Math.max(0, fatal) + 6).join("\n");
  assert.ok(r.signal === null && r.status === 0, `${what}: process crashed (status ${r.status}, signal ${r.signal}) instead of throwing.\n${tail}`);
  assert.ok(r.out && !r.out.ok, `${what}: was accepted; expected an error`);
  assert.match(r.out.message ?? "", re, what);
}

// ---------------------------------------------------------- embedded model

const loaded: LLM[] = [];
after(async () => {
  for (const m of loaded) await m.dispose();
});

async function embedded(): Promise<{ m: LLM; n: NativeModel; A: number[]; base: Float32Array; step: Float32Array }> {
  const m = await LLM.load(undefined, { dtype: "f32", threads: 2 });
  loaded.push(m);
  const n = (m as unknown as { native: NativeModel }).native;
  const ids = m.encode("def add(a, b):\n    return a + b\n");
  const base = (await n.forward(i32(ids), i32(range(0, ids.length)), false)).data;
  const step = (await n.forward(i32([ids[1]]), i32([ids.length]), false)).data;
  n.rollback(1);
  return { m, n, A: ids, base, step };
}

/** The cache still holds exactly the prompt and the next step gives the same logits as before. */
async function assertIntact(e: Awaited<ReturnType<typeof embedded>>, what: string): Promise<void> {
  const a = e.A.length;
  assert.equal(e.n.cacheSize(), a, `${what}: cache size changed`);
  assert.deepEqual(Array.from(e.n.cachePositions()), range(0, a), `${what}: cache positions changed`);
  assertBitEqual((await e.n.forward(i32([e.A[1]]), i32([a]), false)).data, e.step, `${what}: next step after the rejected call`);
  e.n.rollback(1);
}

// ===================================================================== tests

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
  // In range but impossible to allocate (a 2^62-byte KV cache): an error, not a crash.
  assert.throws(() => new A.NativeModel({ ...TINY_OPTS, nLayers: 4096, nKvHeads: 4096, headDim: 4096, nCtx: 2 ** 24 }), /bad_alloc/);
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
    for (const dt of ["F64", "f32", "", "I8", "Q4_0"]) {
      assert.throws(() => m.addWeight("w", dt as "F32", good, 3, 4, "f32"), { name: "TypeError", message: "unsupported dtype" }, `dtype ${dt}`);
    }
    for (const fmt of ["q4", "F32", "", "f16", "int8"]) {
      assert.throws(() => m.addWeight("w", "F32", good, 3, 4, fmt), { name: "TypeError", message: "unknown weight format" }, `format ${fmt}`);
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
    ["weighted_sum V short", "ref", "weighted_sum", { nk: 3, d: 4, ldv: 5, w: f(3), v: f(13), init: f(4) }, RangeError, /v is too short/],
    ["weighted_sum init short", "ref", "weighted_sum", { nk: 3, d: 4, ldv: 5, w: f(3), v: f(14), init: f(3) }, RangeError, /init is too short/],
    ["weighted_sum w short", "ref", "weighted_sum", { nk: 3, d: 4, ldv: 5, w: f(2), v: f(14), init: f(4) }, RangeError, /w is too short/],
    ["weighted_sum ldv < d", "ref", "weighted_sum", { nk: 3, d: 4, ldv: 2, w: f(3), v: f(14), init: f(4) }, RangeError, /ldv < d/],
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
      assert.throws(() => A.runKernel(v, name, args), (e: unknown) => {
        assert.ok(e instanceof cls, `${what} (${v}): expected ${cls.name}, got ${String(e)}`);
        assert.match((e as Error).message, re, what);
        return true;
      }, `${what} (${v})`);
    }
  }
  assert.throws(() => A.runKernel(1 as unknown as string, "max", {}), { name: "TypeError", message: "variant must be a string" });
  assert.throws(() => A.runKernel("ref", 1 as unknown as string, {}), { name: "TypeError", message: "name must be a string" });
  assert.throws(() => (A.runKernel as (...a: unknown[]) => unknown)("ref", "max"), { name: "TypeError", message: "args must be an object" });
  // Zero sizes are fine (nothing to do).
  assert.deepEqual(Array.from(A.runKernel("ref", "matmul_f32", { m: 0, n: 0, k: 0, j0: 0, j1: 0, a: f(0), w: f(0) }) as Float32Array), []);
  // Longer arrays than needed are fine too (only the prefix is read).
  assert.equal(A.runKernel("ref", "sumsq", { n: 2, x: new Float32Array([1, 2, 100]) }), 5);
});

test("runKernel: huge m*n with tiny arrays is a RangeError, not a fatal OOM abort (child process)", () => {
  // The output C (m*n floats) is allocated before a/w are checked against m*k
  // and n*k: 2^52 floats make V8 abort ("ArrayBuffer::New Allocation failed").
  const r = inChild(`A.runKernel("ref", "matmul_f32", { m: 2 ** 26, n: 2 ** 26, k: 1, j0: 0, j1: 0, a: new Float32Array(1), w: new Float32Array(1) });`);
  assertChildRejected(r, /a is too short|m \* n too large/, "runKernel matmul_f32 m = n = 2^26 with 1-element arrays");
});
