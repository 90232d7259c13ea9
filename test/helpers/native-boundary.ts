/**
 * Shared by the N-API boundary tests (native-input, native-forward): a tiny
 * 1-layer model with deterministic weights, child-process runners for inputs
 * that once crashed, and the embedded model with an intact-cache check.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { LLM, DEFAULT_MODEL_DIR } from "../../src/llm.js";
import { addon, type NativeModel, type NativeModelOptions } from "../../src/native.js";
import type { LlamaConfig } from "../../src/config.js";
import { testAddonPath } from "./test-addon.js";
import { llamaGraph, llamaTensors } from "../../src/models/llama.js";

export const A = addon();
export const ADDON_PATH = join(DEFAULT_MODEL_DIR, "..", "..", "build", "Release", "lowbit.node");
export const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
export const i32 = (a: number[]) => Int32Array.from(a);

export function assertBitEqual(a: Float32Array, b: Float32Array, msg: string): void {
  assert.equal(a.length, b.length, msg);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${msg}: differs at ${i}: ${a[i]} vs ${b[i]}`);
}

// ---------------------------------------------------------------- tiny model

/** A 1-layer Llama with deterministic pseudo-random weights (vocab 50, d 16). */
export const TINY: LlamaConfig = {
  architecture: "llama", hiddenSize: 16, intermediateSize: 24, nLayers: 1, nHeads: 2, nKvHeads: 1, headDim: 8,
  vocabSize: 50, ropeTheta: 10000, ropeScaling: null, rmsNormEps: 1e-5, maxPositionEmbeddings: 32, tieWordEmbeddings: false,
  bosTokenId: null, eosTokenIds: [],
};
export const TINY_OPTS: NativeModelOptions = { threads: 1, kernels: "auto", nLayers: 1, nKvHeads: 1, headDim: 8, nCtx: 32, ropeTheta: 10000 };

export function weightBytes(rows: number, cols: number, seed: number, norm: boolean): Uint8Array {
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < x.length; i++) x[i] = norm ? 1 + 0.1 * Math.sin(seed + i) : 0.3 * Math.sin(seed * 7.1 + i * 1.37);
  return new Uint8Array(x.buffer);
}

/** Adds every tiny weight; `wrap` may re-wrap the bytes (e.g. as an unaligned view). */
export function addTinyWeights(m: NativeModel, wrap: (b: Uint8Array) => Uint8Array = (b) => b): void {
  llamaTensors(TINY).forEach((s, k) => m.addWeight(s.name, "F32", wrap(weightBytes(s.rows, s.cols, k, s.kind === "norm")), s.rows, s.cols, s.kind === "norm" ? "vector" : "f32"));
}

export function tiny(opts: Partial<NativeModelOptions> = {}, withGraph = true): NativeModel {
  const m = new A.NativeModel({ ...TINY_OPTS, ...opts });
  addTinyWeights(m);
  if (withGraph) {
    const g = llamaGraph(TINY);
    m.setGraph(g.ops, g.output);
  }
  return m;
}

// ------------------------------------------------------------ child processes

export interface ChildResult { status: number | null; signal: NodeJS.Signals | null; out: { ok: boolean; name?: string; message?: string } | null; stderr: string }

/**
 * Runs `body` (CommonJS, inside an async function, `A` = the addon) in a
 * fresh node process. It prints what it threw, if anything.
 */
export function inChild(body: string): ChildResult {
  const code = `const A = require(${JSON.stringify(ADDON_PATH)}); const T = require(${JSON.stringify(testAddonPath())});
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
export function assertChildRejected(r: ChildResult, re: RegExp, what: string): void {
  const lines = r.stderr.split("\n");
  const fatal = lines.findIndex((l) => /FATAL|Segmentation|Abort/i.test(l));
  const tail = lines.slice(Math.max(0, fatal), Math.max(0, fatal) + 6).join("\n");
  assert.ok(r.signal === null && r.status === 0, `${what}: process crashed (status ${r.status}, signal ${r.signal}) instead of throwing.\n${tail}`);
  assert.ok(r.out && !r.out.ok, `${what}: was accepted; expected an error`);
  assert.match(r.out.message ?? "", re, what);
}

// ---------------------------------------------------------- embedded model

export const loaded: LLM[] = [];
/** Disposes the models embedded() loaded (register with `after(disposeLoaded)`). */
export async function disposeLoaded(): Promise<void> {
  for (const m of loaded.splice(0)) await m.dispose();
}

export async function embedded(): Promise<{ m: LLM; n: NativeModel; A: number[]; base: Float32Array; step: Float32Array }> {
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
export async function assertIntact(e: Awaited<ReturnType<typeof embedded>>, what: string): Promise<void> {
  const a = e.A.length;
  assert.equal(e.n.cacheSize(), a, `${what}: cache size changed`);
  assert.deepEqual(Array.from(e.n.cachePositions()), range(0, a), `${what}: cache positions changed`);
  assertBitEqual((await e.n.forward(i32([e.A[1]]), i32([a]), false)).data, e.step, `${what}: next step after the rejected call`);
  e.n.rollback(1);
}

