/**
 * GPTQ and AWQ (src/quant/method.ts): the native GPTQ solver against a
 * textbook GPTQ in float64 TypeScript on a tiny matrix, the calibrated output
 * error sum_r e H e^T of GPTQ and AWQ below round-to-nearest's, the native
 * Hessians against X^T X of the recorded rows, q4_0 blocks that decode to the
 * solver's values, a GPTQ model saved and reloaded bit for bit, and the typed
 * errors of bad option combinations.
 */
import { nativeFormatLabel } from "../src/quant/formats.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidOptionError, LLM } from "../src/index.js";
import { loadHfDirectory } from "../src/loader.js";
import { defaultKernels } from "../src/load-options.js";
import { hfSource } from "../src/models/source.js";
import { addon, type NativeWeightFormat } from "../src/native.js";
import { awqScales } from "../src/quant/awq.js";
import { calibratable } from "../src/quant/float-model.js";
import { readF32, sequentialGptqWeights } from "../src/quant/gptq.js";
import { calibrationPasses } from "../src/quant/smoothquant.js";
import { planWeights } from "../src/weights/plan.js";
import { llamaTensors } from "../src/models/llama.js";
import { collectHessians } from "../src/quant/hessians.js";
import { checkQuantMethod } from "../src/quant/method.js";
import { EMBEDDED_MODEL, sharedPath, SKIP_NO_SHARED } from "./helpers/paths.js";

const CALIB = sharedPath("data", "python-heldout-calib.jsonl");
const KERNELS = defaultKernels();

/** deterministic pseudo-random numbers in [0, 1) (LCG) */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
}

/** X [n, k] with a few outlier columns (as matmul inputs have), W [rows, k], H = X^T X in float64 */
function problem(rows: number, k: number, n: number, seed: number): { w: Float32Array; h: Float64Array } {
  const r = rng(seed), x = new Float64Array(n * k), w = new Float32Array(rows * k), h = new Float64Array(k * k);
  const scale = Float64Array.from({ length: k }, (_, j) => (j % 13 === 5 ? 8 : 0.5 + r()));
  for (let t = 0; t < n; t++) for (let j = 0; j < k; j++) x[t * k + j] = (r() - 0.5 + 0.3 * (r() - 0.5) * (j % 7)) * scale[j]!;
  for (let i = 0; i < rows * k; i++) w[i] = (r() - 0.5) * 0.2;
  for (let t = 0; t < n; t++) for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) h[a * k + b] += x[t * k + a]! * x[t * k + b]!;
  return { w, h };
}

/** sum over rows of e H e^T, e = q - w (float64) */
function outputError(w: Float32Array, q: Float32Array, rows: number, k: number, h: Float64Array): number {
  let s = 0;
  for (let r = 0; r < rows; r++)
    for (let a = 0; a < k; a++) {
      const ea = q[r * k + a]! - w[r * k + a]!;
      if (ea === 0) continue;
      let t = 0;
      for (let b = 0; b < k; b++) t += h[a * k + b]! * (q[r * k + b]! - w[r * k + b]!);
      s += ea * t;
    }
  return s;
}

interface RefGrid { group: number; asym: boolean }

/** one group's grid by the round-to-nearest rule (quantize.h), in float32 like the formats store it */
function refGroupGrid(v: number[], g: RefGrid): { s: number; o: number } {
  let mn = 0, mx = 0, amax = 0;
  for (const x of v) (mn = Math.min(mn, x)), (mx = Math.max(mx, x)), (amax = Math.max(amax, Math.abs(x)));
  if (g.asym) return { s: Math.fround((mx - mn) / 15), o: mn };
  const s = Math.fround(amax / 7);
  return { s, o: Math.fround(-8 * s) };
}
function refDequant(x: number, s: number, o: number, g: RefGrid): number {
  if (s === 0) return g.asym ? o : 0;
  const q = Math.min(15, Math.max(0, g.asym ? Math.round((x - o) / s) : Math.round(x / s) + 8));
  return s * q + o;
}

/** Textbook GPTQ (Frantar et al., Algorithm 1 without lazy batches), float64, groups in storage order chosen at their first column. */
function refGptq(w: Float32Array, rows: number, k: number, h0: Float64Array, g: RefGrid, actOrder: boolean, damp = 0.01): Float32Array {
  const dead = Array.from({ length: k }, (_, i) => h0[i * k + i] === 0);
  const diag = (i: number) => (dead[i] ? 1 : h0[i * k + i]!);
  let mean = 0;
  for (let i = 0; i < k; i++) mean += diag(i) / k;
  const perm = Array.from({ length: k }, (_, i) => i);
  if (actOrder) perm.sort((a, b) => diag(b) - diag(a) || a - b);
  // H^-1 by Gauss-Jordan, then its upper Cholesky factor U (U^T U = H^-1)
  const a = new Float64Array(k * 2 * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) a[i * 2 * k + j] = i === j ? diag(perm[i]!) + damp * mean : dead[perm[i]!] || dead[perm[j]!] ? 0 : h0[perm[i]! * k + perm[j]!]!;
    a[i * 2 * k + k + i] = 1;
  }
  for (let c = 0; c < k; c++) {
    const p = a[c * 2 * k + c]!;
    for (let j = 0; j < 2 * k; j++) a[c * 2 * k + j]! /= p;
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = a[r * 2 * k + c]!;
      for (let j = 0; j < 2 * k; j++) a[r * 2 * k + j]! -= f * a[c * 2 * k + j]!;
    }
  }
  const hinv = (i: number, j: number) => a[i * 2 * k + k + j]!;
  const L = new Float64Array(k * k); // lower, L L^T = H^-1; U = L^T
  for (let j = 0; j < k; j++) {
    let d = hinv(j, j);
    for (let p = 0; p < j; p++) d -= L[j * k + p]! ** 2;
    L[j * k + j] = Math.sqrt(d);
    for (let i = j + 1; i < k; i++) {
      let s = hinv(i, j);
      for (let p = 0; p < j; p++) s -= L[i * k + p]! * L[j * k + p]!;
      L[i * k + j] = s / L[j * k + j]!;
    }
  }
  const U = (i: number, j: number) => L[j * k + i]!;
  const out = new Float32Array(rows * k), pos = new Array<number>(k);
  perm.forEach((c, i) => (pos[c] = i));
  for (let r = 0; r < rows; r++) {
    const x = perm.map((c) => (dead[c] ? 0 : w[r * k + c]!));
    const grids = new Map<number, { s: number; o: number }>();
    for (let i = 0; i < k; i++) {
      const gi = Math.floor(perm[i]! / g.group);
      if (!grids.has(gi)) {
        const cols = Array.from({ length: Math.min(g.group, k - gi * g.group) }, (_, t) => x[pos[gi * g.group + t]!]!);
        grids.set(gi, refGroupGrid(cols.map((v) => Math.fround(v)), g));
      }
      const { s, o } = grids.get(gi)!;
      const q = refDequant(x[i]!, s, o, g), e = (x[i]! - q) / U(i, i);
      x[i] = q;
      for (let j = i + 1; j < k; j++) x[j]! -= e * U(i, j);
    }
    perm.forEach((c, i) => (out[r * k + c] = x[i]!));
  }
  return out;
}

for (const [format, grid, actOrder] of [
  [{ format: "q4", group: 32 } as const, { group: 32, asym: false }, false],
  [{ format: "q4", group: 32, asym: true } as const, { group: 32, asym: true }, false],
  [{ format: "q4", group: 32 } as const, { group: 32, asym: false }, true],
] as const) {
  test(`native GPTQ (${nativeFormatLabel(format)}${actOrder ? ", act order" : ""}) matches a float64 textbook GPTQ and beats RTN's output error`, () => {
    const rows = 12, k = 96, { w, h } = problem(rows, k, 256, 7);
    const r = addon().gptqQuantize(w, rows, k, h, format as NativeWeightFormat, { actOrder, threads: 2 });
    const ref = refGptq(w, rows, k, h, grid, actOrder);
    let same = 0;
    for (let i = 0; i < rows * k; i++) if (Math.abs(r.weights[i]! - ref[i]!) <= 1e-5 * Math.max(1, Math.abs(ref[i]!))) same++;
    // float32 updates natively vs float64 here: a rare rounding tie may flip one code and what follows it in its row
    assert.ok(same >= 0.97 * rows * k, `${same} of ${rows * k} values equal to the reference`);
    const eNative = outputError(w, r.weights, rows, k, h), eRef = outputError(w, ref, rows, k, h);
    assert.ok(Math.abs(eNative - eRef) <= 0.02 * eRef, `output error ${eNative} vs reference ${eRef}`);
    const rtn = addon().q4OutputError(w, rows, k, h, format as NativeWeightFormat, undefined, { threads: 2, kernels: KERNELS });
    assert.ok(eNative < 0.9 * rtn, `GPTQ ${eNative} vs RTN ${rtn}`);
    // the grid returned is the one the values lie on: s * q + o with q in [0, 15]
    const ng = k / 32;
    for (let i = 0; i < rows * k; i++) {
      const gi = Math.floor(i / k) * ng + Math.floor((i % k) / 32), s = r.scales[gi]!, o = r.offsets[gi]!;
      const q = s > 0 ? Math.round((r.weights[i]! - o) / s) : 0;
      assert.ok(q >= 0 && q <= 15 && Math.abs(s * q + o - r.weights[i]!) <= 1e-6 * Math.max(1, Math.abs(o)), `value ${i} on its grid`);
    }
  });
}

test("q4OutputError of RTN equals sum e H e^T of the round-to-nearest weights computed here", () => {
  const rows = 8, k = 64, { w, h } = problem(rows, k, 128, 3);
  const q = new Float32Array(rows * k);
  for (let r = 0; r < rows; r++)
    for (let g0 = 0; g0 < k; g0 += 32) {
      const v = Array.from(w.subarray(r * k + g0, r * k + g0 + 32));
      const { s, o } = refGroupGrid(v, { group: 32, asym: false });
      for (let t = 0; t < 32; t++) q[r * k + g0 + t] = refDequant(v[t]!, s, o, { group: 32, asym: false });
    }
  const want = outputError(w, q, rows, k, h), got = addon().q4OutputError(w, rows, k, h, { format: "q4", group: 32 } as const, undefined, { threads: 2, kernels: KERNELS });
  assert.ok(Math.abs(got - want) <= 1e-3 * want, `${got} vs ${want}`);
});

test("GPTQ q4_0: the GGUF blocks decode to the solver's values, with llama.cpp's Q4_0 grid (d = fp16(signed max / -8))", () => {
  const rows = 4, k = 64, { w, h } = problem(rows, k, 128, 11);
  const r = addon().gptqQuantize(w, rows, k, h, "q4_0", { threads: 1 });
  assert.equal(r.blocks!.length, rows * (k / 32) * 18);
  const dec = addon().ggmlDequantize(2, r.blocks!, new Float32Array(rows * k)); // GGML_TYPE_Q4_0 = 2
  for (let i = 0; i < rows * k; i++) assert.ok(Math.abs(dec[i]! - r.weights[i]!) <= 1e-6, `value ${i}: ${dec[i]} vs ${r.weights[i]}`);
  const rtn = addon().q4OutputError(w, rows, k, h, "q4_0", undefined, { threads: 1, kernels: KERNELS });
  assert.ok(outputError(w, r.weights, rows, k, h) < rtn);
});

test("bad GPTQ arguments are typed errors, not crashes", () => {
  const { w, h } = problem(2, 32, 16, 1);
  assert.throws(() => addon().gptqQuantize(w, 2, 32, h, "q8" as NativeWeightFormat, { threads: 1 }), TypeError);
  assert.throws(() => addon().gptqQuantize(w, 3, 32, h, { format: "q4", group: 32 } as const, { threads: 1 }), RangeError);
  assert.throws(() => addon().gptqQuantize(w, 2, 32, h.subarray(1), { format: "q4", group: 32 } as const, { threads: 1 }), RangeError);
  assert.throws(() => addon().gptqQuantize(w, 2, 32, h, { format: "q4", group: 32 } as const, { threads: 1, damp: 0 }), RangeError);
  assert.throws(() => addon().gptqQuantize(w, 2, 32, new Float64Array(32 * 32).fill(NaN), { format: "q4", group: 32 } as const, { threads: 1 }), /not positive definite/);
});

test("quantMethod / actOrder / gptqDamp: bad combinations are InvalidOptionErrors before anything loads", async () => {
  assert.equal(checkQuantMethod(undefined, "w4a16-g128"), "rtn");
  assert.equal(checkQuantMethod("gptq", "q4_0", true, 0.05), "gptq");
  assert.throws(() => checkQuantMethod("gptq", "w8a8"), InvalidOptionError);
  assert.throws(() => checkQuantMethod("awq", "q8_0"), InvalidOptionError);
  assert.throws(() => checkQuantMethod("gptq", undefined), InvalidOptionError);
  assert.throws(() => checkQuantMethod("spqr", "w4a16-g128"), InvalidOptionError);
  assert.throws(() => checkQuantMethod("awq", "w4a16-g128", true), InvalidOptionError);
  assert.throws(() => checkQuantMethod("gptq", "w4a16-g128", false, 2), InvalidOptionError);
  await assert.rejects(LLM.load(EMBEDDED_MODEL, { quant: "w8a8-sq", quantMethod: "gptq" }), InvalidOptionError);
  await assert.rejects(LLM.load(EMBEDDED_MODEL, { quantMethod: "awq" }), InvalidOptionError);
});

test("calibrated Hessians equal X^T X of the recorded matmul inputs", { skip: CALIB ? false : SKIP_NO_SHARED }, async () => {
  const m = loadHfDirectory(EMBEDDED_MODEL, { dtype: "f32", threads: 2, kernels: KERNELS, contextLength: 64 });
  try {
    const cal = calibratable(m);
    m.native.collectStats(true, { hessian: true, sampleStride: 1, sampleCap: 1 << 12 });
    for (const t of ["def add(a, b):\n    return a + b\n", "for i in range(10):\n    print(i * i)\n"]) await cal.logitsAll(cal.encode(t));
    const hs = m.native.activationHessians(), det = m.native.activationDetail();
    m.native.collectStats(false);
    for (const name of ["blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.1.attn_output.weight"]) {
      const h = hs[name]!, x = det[name]!.sample, k = h.cols, n = x.length / k;
      assert.equal(n, h.rowsSeen);
      let maxDiff = 0, maxAbs = 0;
      for (let a = 0; a < k; a++)
        for (let b = 0; b < k; b++) {
          let s = 0;
          for (let t = 0; t < n; t++) s += x[t * k + a]! * x[t * k + b]!;
          maxDiff = Math.max(maxDiff, Math.abs(s - h.hessian[a * k + b]!));
          maxAbs = Math.max(maxAbs, Math.abs(s));
        }
      assert.ok(maxDiff <= 1e-5 * maxAbs, `${name}: max |H - X^T X| ${maxDiff} of ${maxAbs}`);
      let s0 = 0;
      for (let t = 0; t < n; t++) s0 += Math.abs(x[t * k]!);
      assert.ok(Math.abs(h.absSum[0]! - s0) <= 1e-5 * s0);
    }
    assert.equal(hs["blk.0.attn_k.weight"], hs["blk.0.attn_q.weight"], "q/k/v share their input's Hessian");
  } finally {
    m.native.dispose();
  }
});

test("on tinycode-7m's calibrated layers GPTQ and AWQ lower the output error of RTN (w4a16-g128)", { skip: CALIB ? false : SKIP_NO_SHARED }, async () => {
  const source = hfSource(EMBEDDED_MODEL);
  const m = loadHfDirectory(EMBEDDED_MODEL, { dtype: "f32", threads: 2, kernels: KERNELS, contextLength: 256 });
  let hs;
  try {
    hs = await collectHessians(calibratable(m), { file: CALIB!, samples: 4, tokens: 128 });
  } finally {
    m.native.dispose();
  }
  for (const name of ["blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.1.ffn_up.weight"]) {
    const { x, rows, cols } = readF32(source, name), h = hs[name]!.hessian;
    const r = addon().gptqQuantize(x, rows, cols, h, { format: "q4", group: 128 } as const, { threads: 2 });
    const rtn = addon().q4OutputError(x, rows, cols, h, { format: "q4", group: 128 } as const, undefined, { threads: 2, kernels: KERNELS });
    const g = outputError(x, r.weights, rows, cols, h);
    assert.ok(g < 0.9 * rtn, `${name}: GPTQ ${g} vs RTN ${rtn}`);
  }
  const awq = await awqScales(source, hs, { native: { format: "q4", group: 128 } as const, threads: 2, kernels: KERNELS, grid: 10 });
  const ratios = [...awq.chosen.values()].map((c) => c.ratio);
  assert.ok(ratios.every((x) => x <= 1), "alpha = 0 is RTN: the search never does worse");
  assert.ok(ratios.reduce((a, b) => a + b, 0) / ratios.length < 0.97, `mean error ratio to RTN ${ratios.join(", ")}`);
  // the factors fold into the norms before q/k/v and gate/up, and into ffn_up's rows for down_proj
  const downs = [...awq.chosen.entries()].filter(([n, c]) => n.endsWith("ffn_down.weight") && c.alpha > 0);
  for (const [n] of downs) assert.ok(awq.rowSmoothing.has(n.replace("ffn_down", "ffn_up")));
});

test("a GPTQ model (w4a16-g128, act order) saves and reloads bit for bit, without recalibration", { skip: CALIB ? false : SKIP_NO_SHARED }, async () => {
  const opts = { quant: "w4a16-g128", quantMethod: "gptq", actOrder: true, calib: CALIB!, calibSamples: 4, calibTokens: 128, threads: 2 } as const;
  const a = await LLM.load(EMBEDDED_MODEL, opts);
  const dir = join(mkdtempSync(join(tmpdir(), "lowbit-gptq-")), "saved");
  try {
    assert.equal(a.origin.quantization.method, "gptq");
    await a.save(dir);
    const b = await LLM.load(dir, { threads: 2 });
    try {
      assert.equal(b.origin.quantization.act_order, 1);
      const ids = a.tokenizer.encode("def fib(n):\n    if n < 2:\n        return n\n");
      assert.deepEqual(await b.logitsAll(ids), await a.logitsAll(ids));
      await assert.rejects(LLM.load(dir, { quantMethod: "gptq" }), InvalidOptionError);
    } finally {
      await b.dispose();
    }
    // the stored grid of a matrix is the one GPTQ chose (not round-to-nearest's)
    const rtn = await LLM.load(EMBEDDED_MODEL, { quant: "w4a16-g128", threads: 2 });
    try {
      const name = "blk.0.attn_q.weight", n = a.weightStats()[name]!.rows * 2; // 2 groups of 128 per row
      const grab = (m: LLM) => {
        const buf = new Uint8Array(n * 4);
        (m as unknown as { model(): { exportWeightBuffer(w: string, b: string, into: Uint8Array): void } }).model().exportWeightBuffer(name, "scales", buf);
        return new Float32Array(buf.buffer);
      };
      assert.notDeepEqual(grab(a), grab(rtn));
    } finally {
      await rtn.dispose();
    }
  } finally {
    await a.dispose();
  }
});

test("sequential GPTQ: layer 0's Hessians equal one-shot's, later layers see the quantized layers before them; only one layer recorded", { skip: CALIB ? false : SKIP_NO_SHARED }, async () => {
  const calib = { file: CALIB!, samples: 2, tokens: 64 };
  const source = hfSource(EMBEDDED_MODEL);
  const m = loadHfDirectory(EMBEDDED_MODEL, { dtype: "f32", threads: 2, kernels: KERNELS, contextLength: 64 });
  try {
    const cal = calibratable(m);
    const all = await collectHessians(cal, calib);
    const l0 = await cal.withStageHessians!(0, calibrationPasses(cal, calib));
    assert.deepEqual(Object.keys(l0).sort(), Object.keys(all).filter((n) => n.startsWith("blk.0.")).sort(), "only layer 0's inputs");
    for (const n of Object.keys(l0)) assert.deepEqual(l0[n]!.hessian, all[n]!.hessian, `${n}: same graph up to layer 0`);
    // the full graph is back: logits equal the model's own
    const ids = cal.encode("def add(a, b):\n    return a + b\n");
    const before = await cal.logitsAll(ids);
    // layer 0's matrices replaced by their GPTQ values: layer 1's inputs change, layer 0's do not
    const seq = await sequentialGptqWeights(source, planWeights(llamaTensors(m.config), { dtype: "f32", quant: "w4a16-g128", quantHead: false, tieWordEmbeddings: m.config.tieWordEmbeddings }).weights
      .filter((w) => w.quant && w.name.startsWith("blk.0.")), cal, calib, { actOrder: false, damp: 0.01, threads: 2 });
    assert.equal(seq.size, 7, "q, k, v, o, gate, up, down of layer 0");
    const after = await cal.logitsAll(ids);
    assert.notDeepEqual(after, before, "layer 0 now holds the quantized values");
    const l1 = await cal.withStageHessians!(1, calibrationPasses(cal, calib));
    const n1 = "blk.1.attn_q.weight";
    let d = 0, s = 0;
    for (let i = 0; i < l1[n1]!.hessian.length; i++) (d += Math.abs(l1[n1]!.hessian[i]! - all[n1]!.hessian[i]!)), (s += Math.abs(all[n1]!.hessian[i]!));
    assert.ok(d > 1e-6 * s && d < 0.2 * s, `layer 1's Hessian moved by ${d / s} (relative)`);
    // a replacement of another shape is an error, and leaves the model usable
    const { x, rows, cols } = readF32(source, "blk.0.attn_q.weight");
    assert.throws(() => cal.replaceMatrix!("blk.0.attn_q.weight", x.subarray(cols), rows - 1, cols), /differs from the loaded/);
    assert.throws(() => cal.replaceMatrix!("blk.99.attn_q.weight", x, rows, cols), /not loaded/);
    assert.deepEqual(await cal.logitsAll(ids), after);
  } finally {
    m.native.dispose();
  }
});

test("sequential GPTQ (the default) is recorded in the saved model's quantization; one-shot on request", { skip: CALIB ? false : SKIP_NO_SHARED }, async () => {
  const opts = { quant: "w4a16-g128", quantMethod: "gptq", calib: CALIB!, calibSamples: 2, calibTokens: 64, threads: 2 } as const;
  const a = await LLM.load(EMBEDDED_MODEL, opts), b = await LLM.load(EMBEDDED_MODEL, { ...opts, gptqOneShot: true });
  try {
    assert.equal(a.origin.quantization.sequential, 1);
    assert.equal(b.origin.quantization.sequential, 0);
    const ids = a.tokenizer.encode("for i in range(3):\n    print(i)\n");
    assert.notDeepEqual(await a.logitsAll(ids), await b.logitsAll(ids));
  } finally {
    await a.dispose();
    await b.dispose();
  }
  assert.throws(() => checkQuantMethod("awq", "w4a16-g128", undefined, undefined, true), InvalidOptionError);
  assert.throws(() => checkQuantMethod("gptq", "w4a16-g128", undefined, undefined, "yes"), InvalidOptionError);
});

test("GPTQ q4_k: a diagonal Hessian gives quantize_row_q4_K's blocks bit for bit; a correlated one lowers the output error, blocks decoding to the solver's values", () => {
  const rows = 8, k = 512;
  const { w, h } = problem(rows, k, 600, 23);
  // no correlation between columns: no error feedback, so every super-block's grid and codes are round-to-nearest's
  const diag = new Float64Array(k * k);
  for (let i = 0; i < k; i++) diag[i * k + i] = h[i * k + i]!;
  const plain = addon().gptqQuantize(w, rows, k, diag, "q4_k", { threads: 2 });
  const rtnBlocks = addon().ggmlQuantize("q4_k", w, rows, k);
  assert.equal(plain.blocks!.length, rows * (k / 256) * 144);
  assert.deepEqual(plain.blocks, rtnBlocks);
  const r = addon().gptqQuantize(w, rows, k, h, "q4_k", { threads: 2 });
  const dec = addon().ggmlDequantize(12, r.blocks!, new Float32Array(rows * k)); // GGML_TYPE_Q4_K = 12
  for (let i = 0; i < rows * k; i++) assert.ok(Math.abs(dec[i]! - r.weights[i]!) <= 1e-6, `value ${i}: ${dec[i]} vs ${r.weights[i]}`);
  assert.notDeepEqual(r.blocks, rtnBlocks);
  const rtnValues = addon().ggmlDequantize(12, rtnBlocks, new Float32Array(rows * k));
  const rtn = outputError(w, rtnValues, rows, k, h), g = outputError(w, r.weights, rows, k, h);
  assert.ok(g < 0.9 * rtn, `GPTQ ${g} vs RTN ${rtn}`);
  // AWQ's objective on the q4_k grid is that same RTN error
  const e = addon().q4OutputError(w, rows, k, h, "q4_k", undefined, { threads: 2, kernels: KERNELS });
  assert.ok(Math.abs(e - rtn) <= 1e-3 * rtn, `${e} vs ${rtn}`);
  for (const actOrder of [true]) {
    const a = addon().gptqQuantize(w, rows, k, h, "q4_k", { threads: 1, actOrder });
    assert.ok(outputError(w, a.weights, rows, k, h) < rtn);
  }
  assert.throws(() => addon().gptqQuantize(w.subarray(0, rows * 480), rows, 480, h.subarray(0, 480 * 480), "q4_k", { threads: 1 }), /multiple of 256/);
});
