/**
 * The native ops the model families brought (native/src/graph.h), each
 * against a plain double-precision JS definition on random inputs:
 * layer_norm (+bias, per head), rms_norm per head, matmul + bias, gelu
 * (tanh), gelu_erf, relu, gelu_mul, scale, softcap, pos_embed (+offset,
 * positions out of the table refused), partial / GPT-J-order rope, and
 * attention with a scale, a sliding window, soft-capping and ALiBi, by
 * prefill and by decoding token by token through the KV cache, and a cache
 * shift of an ALiBi model (no key rotation). f32 against f64: 1e-5.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { addon, type NativeModel, type NativeModelOptions, type OpSpec } from "../src/native.js";
import { f32ToF16Bits } from "../src/formats/f16.js";
import { toF32 } from "../src/quant/tensors.js";

const A = addon();
const TOL = 1e-5;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 * 2 - 1;
  };
}
const rand = (n: number, seed: number, scale = 1): Float32Array => { const r = rng(seed); return Float32Array.from({ length: n }, () => r() * scale); };
const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const i32 = (a: number[]) => Int32Array.from(a);

interface Built { m: NativeModel; E: Float32Array }
/** A model whose embedding table E [vocab, d] gives the op's input rows; `setup` adds weights. */
function build(d: number, vocab: number, opts: Partial<NativeModelOptions>, setup: (m: NativeModel) => void, ops: OpSpec[], output: string): Built {
  const m = new A.NativeModel({ threads: 2, kernels: "ref", nLayers: 1, nKvHeads: 1, headDim: d, nCtx: 64, ropeTheta: 10000, ...opts });
  const E = rand(vocab * d, 7);
  m.addWeight("E", "F32", bytes(E), vocab, d, "f32");
  setup(m);
  m.setGraph([{ op: "embed", weight: "E", out: "x" }, ...ops, { op: "output_rows", a: output, out: "y" }], "y");
  return { m, E };
}
async function run(m: NativeModel, tokens: number[], positions?: number[]): Promise<Float32Array> {
  return (await m.forward(i32(tokens), i32(positions ?? tokens.map((_, i) => i)), true)).data;
}
function close(got: Float32Array, want: number[], what: string, tol = TOL): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  assert.ok(worst <= tol, `${what}: max |diff| ${worst} > ${tol}`);
}
const rowOf = (E: Float32Array, d: number, t: number) => Array.from(E.subarray(t * d, (t + 1) * d));
const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse; a series/continued fraction in double instead
  const t = Math.abs(x);
  if (t < 3) { let sum = 0, term = t; for (let n = 0; n < 60; n++) { sum += term / (2 * n + 1); term *= -t * t / (n + 1); } return Math.sign(x) * 2 / Math.sqrt(Math.PI) * sum; }
  return Math.sign(x);
}
const geluErf = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));
/** f32 -> f16 (round to nearest even) -> f32 */
const f16 = (x: number) => toF32(new Uint8Array(Uint16Array.of(f32ToF16Bits(x)).buffer), "F16")[0]!;
/** llama.cpp's GELU (GGML_GELU_FP16): the input and the table's result rounded to f16; the f32 formula of ggml_gelu_f32 */
const geluGgml = (x: number) => {
  if (x <= -10) return 0;
  if (x >= 10) return x;
  const v = f16(x), F = Math.fround;
  return f16(F(F(0.5 * v) * F(1 + F(Math.tanh(F(F(0.7978845608028654 * v) * F(1 + F(F(0.044715 * v) * v))))))));
};

test("layer_norm with bias, whole rows and per head; rms_norm per head", async () => {
  const d = 12, toks = [0, 3, 5];
  const w = rand(d, 1), b = rand(d, 2), wh = rand(4, 3), bh = rand(4, 4);
  const { m, E } = build(d, 8, {}, (m) => {
    m.addWeight("w", "F32", bytes(w), 1, d, "vector");
    m.addWeight("b", "F32", bytes(b), 1, d, "vector");
    m.addWeight("wh", "F32", bytes(wh), 1, 4, "vector");
    m.addWeight("bh", "F32", bytes(bh), 1, 4, "vector");
  }, [{ op: "layer_norm", a: "x", weight: "w", bias: "b", eps: 1e-5, out: "h" }], "h");
  const ln = (x: number[], w: Float32Array, b: Float32Array | null) => {
    const mean = x.reduce((s, v) => s + v, 0) / x.length, v = x.reduce((s, t) => s + (t - mean) ** 2, 0) / x.length;
    return x.map((t, i) => (t - mean) / Math.sqrt(v + 1e-5) * w[i]! + (b ? b[i]! : 0));
  };
  close(await run(m, toks), toks.flatMap((t) => ln(rowOf(E, d, t), w, b)), "layer_norm");
  m.dispose();
  // per head: headDim 4, 3 heads
  for (const op of ["layer_norm", "rms_norm"] as const) {
    const { m: m2, E: E2 } = build(d, 8, { headDim: 4 }, (m) => {
      m.addWeight("wh", "F32", bytes(wh), 1, 4, "vector");
      m.addWeight("bh", "F32", bytes(bh), 1, 4, "vector");
    }, [{ op, a: "x", weight: "wh", ...(op === "layer_norm" ? { bias: "bh" } : {}), heads: 3, eps: 1e-6, out: "x" }], "x");
    const rms = (x: number[]) => { const s = Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length + 1e-6); return x.map((v, i) => v / s * wh[i]!); };
    const want = toks.flatMap((t) => {
      const r = rowOf(E2, d, t);
      return [0, 1, 2].flatMap((h) => {
        const seg = r.slice(h * 4, h * 4 + 4);
        return op === "rms_norm" ? rms(seg) : (() => { const mean = seg.reduce((s, v) => s + v, 0) / 4, v = seg.reduce((s, t) => s + (t - mean) ** 2, 0) / 4; return seg.map((t, i) => (t - mean) / Math.sqrt(v + 1e-6) * wh[i]! + bh[i]!); })();
      });
    });
    close(await run(m2, toks), want, `${op} per head`);
    m2.dispose();
  }
  // a norm bias of the wrong width, a bias on rms_norm: refused at compile time
  const bad = new A.NativeModel({ threads: 1, kernels: "ref", nLayers: 1, nKvHeads: 1, headDim: d, nCtx: 8, ropeTheta: 10000 });
  bad.addWeight("E", "F32", bytes(rand(8 * d, 1)), 8, d, "f32");
  bad.addWeight("w", "F32", bytes(w), 1, d, "vector");
  bad.addWeight("bh", "F32", bytes(bh), 1, 4, "vector");
  assert.throws(() => bad.setGraph([{ op: "embed", weight: "E", out: "x" }, { op: "layer_norm", a: "x", weight: "w", bias: "bh", eps: 1e-5, out: "x" }, { op: "output_rows", a: "x", out: "y" }], "y"), /bias 'bh' must be an f32 vector \[12\]/);
  assert.throws(() => bad.setGraph([{ op: "embed", weight: "E", out: "x" }, { op: "rms_norm", a: "x", weight: "w", bias: "w", eps: 1e-5, out: "x" }, { op: "output_rows", a: "x", out: "y" }], "y"), /rms_norm takes no bias/);
  bad.dispose();
});

test("matmul + bias (fused q/k/v keep their biases), activations, gelu_mul, scale, softcap", async () => {
  const d = 10, n1 = 6, n2 = 9, toks = [1, 2, 4, 7];
  const W1 = rand(n1 * d, 11, 0.5), b1 = rand(n1, 12), W2 = rand(n2 * d, 13, 0.5), b2 = rand(n2, 14), W3 = rand(n1 * d, 15, 0.5);
  const mm = (x: number[], W: Float32Array, rows: number, b?: Float32Array) =>
    Array.from({ length: rows }, (_, r) => x.reduce((s, v, j) => s + v * W[r * d + j]!, 0) + (b ? b[r]! : 0));
  const setup = (m: NativeModel) => {
    m.addWeight("W1", "F32", bytes(W1), n1, d, "f32"); m.addWeight("b1", "F32", bytes(b1), 1, n1, "vector");
    m.addWeight("W2", "F32", bytes(W2), n2, d, "f32"); m.addWeight("b2", "F32", bytes(b2), 1, n2, "vector");
    m.addWeight("W3", "F32", bytes(W3), n1, d, "f32");
  };
  const cases: Array<[string, OpSpec[], string, (x: number[]) => number[]]> = [
    ["matmul+bias x3 fused", [
      { op: "matmul", a: "x", weight: "W1", bias: "b1", out: "p" },
      { op: "matmul", a: "x", weight: "W2", bias: "b2", out: "q" },
      { op: "matmul", a: "x", weight: "W3", out: "r" },
      { op: "gelu", a: "p", out: "p" },
      { op: "add", a: "p", b: "r", out: "p" },
    ], "p", (x) => { const p = mm(x, W1, n1, b1).map(gelu), r = mm(x, W3, n1); return p.map((v, i) => v + r[i]!); }],
    ["q of the fused run", [
      { op: "matmul", a: "x", weight: "W1", bias: "b1", out: "p" },
      { op: "matmul", a: "x", weight: "W2", bias: "b2", out: "q" },
    ], "q", (x) => mm(x, W2, n2, b2)],
    ["gelu_erf", [{ op: "gelu_erf", a: "x", out: "x" }], "x", (x) => x.map(geluErf)],
    ["gelu ggml (f16 table), x spread over +-12", [{ op: "scale", a: "x", scale: 12, out: "x" }, { op: "gelu", a: "x", mode: "ggml", out: "x" }], "x", (x) => x.map((v) => geluGgml(Math.fround(v * 12)))],
    ["gelu_mul ggml", [{ op: "matmul", a: "x", weight: "W1", out: "g" }, { op: "matmul", a: "x", weight: "W3", out: "u" }, { op: "gelu_mul", a: "g", b: "u", mode: "ggml", out: "g" }], "g",
      (x) => { const g = mm(x, W1, n1), u = mm(x, W3, n1); return g.map((v, i) => geluGgml(Math.fround(v)) * u[i]!); }],
    ["relu", [{ op: "relu", a: "x", out: "h" }], "h", (x) => x.map((v) => Math.max(0, v))],
    ["gelu_mul", [{ op: "matmul", a: "x", weight: "W1", out: "g" }, { op: "matmul", a: "x", weight: "W3", out: "u" }, { op: "gelu_mul", a: "g", b: "u", out: "g" }], "g",
      (x) => { const g = mm(x, W1, n1), u = mm(x, W3, n1); return g.map((v, i) => gelu(v) * u[i]!); }],
    ["scale", [{ op: "scale", a: "x", scale: Math.sqrt(d), out: "x" }], "x", (x) => x.map((v) => v * Math.fround(Math.sqrt(d)))],
    ["softcap", [{ op: "scale", a: "x", scale: 4, out: "x" }, { op: "softcap", a: "x", softcap: 1.5, out: "x" }], "x", (x) => x.map((v) => 1.5 * Math.tanh(4 * v / 1.5))],
  ];
  for (const [what, ops, out, f] of cases) {
    const { m, E } = build(d, 8, {}, setup, ops, out);
    close(await run(m, toks), toks.flatMap((t) => f(rowOf(E, d, t))), what);
    m.dispose();
  }
});

test("pos_embed adds row pos + offset; a position past the table is refused and the model stays usable", async () => {
  const d = 6, rows = 10, off = 2;
  const P = rand(rows * d, 21);
  const { m, E } = build(d, 8, {}, (m) => m.addWeight("P", "F32", bytes(P), rows, d, "f32"),
    [{ op: "pos_embed", a: "x", weight: "P", offset: off, out: "x" }], "x");
  const toks = [3, 1, 4], pos = [5, 6, 7];
  close(await run(m, toks, pos), toks.flatMap((t, i) => rowOf(E, d, t).map((v, j) => v + P[(pos[i]! + off) * d + j]!)), "pos_embed");
  await assert.rejects(m.forward(i32([1]), i32([8]), true), /position 8 is outside the model's 8 learned positions/);
  close(await run(m, [2], [0]), rowOf(E, d, 2).map((v, j) => v + P[off * d + j]!), "after the refusal");
  m.dispose();
});

test("rope: partial rotary dims and GPT-J pair order, written interleaved", async () => {
  const hd = 8, heads = 2, d = hd * heads, theta = 10000;
  for (const [dims, mode] of [[4, "neox"], [8, "gptj"], [4, "gptj"]] as const) {
    const { m, E } = build(d, 8, { headDim: hd, ropeDims: dims, ropeTheta: theta }, () => {}, [{ op: "rope", a: "x", heads, dims, mode }], "x");
    const toks = [0, 5, 2], pos = [3, 17, 40];
    const want = toks.flatMap((t, r) => {
      const x = rowOf(E, d, t);
      const outRow: number[] = [];
      for (let h = 0; h < heads; h++) {
        const v = x.slice(h * hd, (h + 1) * hd), o = v.slice();
        for (let i = 0; i < dims / 2; i++) {
          const a = pos[r]! * Math.pow(theta, -2 * i / dims);
          const [x0, x1] = mode === "gptj" ? [v[2 * i]!, v[2 * i + 1]!] : [v[i]!, v[i + dims / 2]!];
          o[2 * i] = x0 * Math.cos(a) - x1 * Math.sin(a);
          o[2 * i + 1] = x0 * Math.sin(a) + x1 * Math.cos(a);
        }
        outRow.push(...o);
      }
      return outRow;
    });
    close(await run(m, toks, pos), want, `rope dims ${dims} ${mode}`, 2e-5);
    m.dispose();
  }
  // per-layer thetas (Gemma 3): a rope op naming layer 1 turns by layer 1's theta, as a model of that theta does
  const perLayer = build(d, 8, { headDim: hd, nLayers: 2, ropeThetaLayers: Float32Array.from([10000, 500]) }, () => {}, [{ op: "rope", a: "x", heads, layer: 1 }], "x");
  const plain = build(d, 8, { headDim: hd, ropeTheta: 500 }, () => {}, [{ op: "rope", a: "x", heads }], "x");
  assert.deepEqual(await run(perLayer.m, [1, 2, 3], [4, 9, 30]), await run(plain.m, [1, 2, 3], [4, 9, 30]), "layer 1's theta");
  perLayer.m.dispose();
  plain.m.dispose();
  assert.throws(() => new A.NativeModel({ threads: 1, kernels: "ref", nLayers: 2, nKvHeads: 1, headDim: 8, nCtx: 8, ropeTheta: 1e4, ropeThetaLayers: Float32Array.from([1]) }), /ropeThetaLayers must have nLayers entries/);
  assert.throws(() => build(d, 8, { headDim: hd, ropeDims: 4 }, () => {}, [{ op: "rope", a: "x", heads }], "x"), /dims must be the model's ropeDims \(4\)/);
  assert.throws(() => build(d, 8, { headDim: hd, ropeDims: 0 }, () => {}, [{ op: "rope", a: "x", heads }], "x"), /has no RoPE/);
  assert.throws(() => new A.NativeModel({ threads: 1, kernels: "ref", nLayers: 1, nKvHeads: 1, headDim: 8, nCtx: 8, ropeTheta: 1e4, ropeDims: 3 }), /ropeDims must be even/);
});

/** Attention of q [n, heads*hd] over keys/values in f64: every option of the op. */
function refAttention(q: number[][], k: number[][], v: number[][], qpos: number[], kpos: number[], heads: number, kvh: number, hd: number,
  o: { scale?: number; window?: number; softcap?: number; alibi?: number }): number[] {
  const out: number[] = [];
  const nlog2 = 2 ** Math.floor(Math.log2(heads));
  const slope = (h: number) => h < nlog2 ? Math.pow(2 ** (-(o.alibi ?? 0) / nlog2), h + 1) : Math.pow(2 ** (-(o.alibi ?? 0) / 2 / nlog2), 2 * (h - nlog2) + 1);
  for (let i = 0; i < q.length; i++)
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / (heads / kvh));
      const s: number[] = [], idx: number[] = [];
      for (let c = 0; c < k.length; c++) {
        if (kpos[c]! > qpos[i]! || (o.window && kpos[c]! <= qpos[i]! - o.window)) continue;
        let x = 0;
        for (let t = 0; t < hd; t++) x += q[i]![h * hd + t]! * k[c]![g * hd + t]!;
        x *= o.scale ?? 1 / Math.sqrt(hd);
        if (o.softcap) x = o.softcap * Math.tanh(x / o.softcap);
        if (o.alibi) x += slope(h) * (kpos[c]! - qpos[i]!);
        s.push(x); idx.push(c);
      }
      const mx = Math.max(...s), e = s.map((x) => Math.exp(x - mx)), z = e.reduce((a, b) => a + b, 0);
      for (let t = 0; t < hd; t++) out.push(idx.reduce((a, c, j) => a + e[j]! / z * v[c]![g * hd + t]!, 0));
    }
  return out;
}

test("attention: scale, sliding window, soft-cap, ALiBi; prefill and token-by-token decode agree with the definition", async () => {
  const hd = 4, heads = 4, kvh = 2, d = 12, n = 11;
  const Wq = rand(heads * hd * d, 31, 0.6), Wk = rand(kvh * hd * d, 32, 0.6), Wv = rand(kvh * hd * d, 33, 0.6);
  const toks = Array.from({ length: n }, (_, i) => (i * 5 + 1) % 16);
  for (const o of [{}, { window: 3 }, { scale: 0.7, softcap: 0.9 }, { alibi: 8 }, { window: 4, alibi: 8, softcap: 2 }]) {
    const mk = () => build(d, 16, { headDim: hd, nKvHeads: kvh, ropeDims: 0 }, (m) => {
      m.addWeight("Wq", "F32", bytes(Wq), heads * hd, d, "f32");
      m.addWeight("Wk", "F32", bytes(Wk), kvh * hd, d, "f32");
      m.addWeight("Wv", "F32", bytes(Wv), kvh * hd, d, "f32");
    }, [
      { op: "matmul", a: "x", weight: "Wq", out: "q" }, { op: "matmul", a: "x", weight: "Wk", out: "k" }, { op: "matmul", a: "x", weight: "Wv", out: "v" },
      { op: "kv_store", layer: 0, a: "k", b: "v" },
      { op: "attention", layer: 0, a: "q", heads, out: "att", ...o },
    ], "att");
    const { m, E } = mk();
    const proj = (W: Float32Array, rows: number) => toks.map((t) => { const x = rowOf(E, d, t); return Array.from({ length: rows }, (_, r) => x.reduce((s, v, j) => s + v * W[r * d + j]!, 0)); });
    const q = proj(Wq, heads * hd), k = proj(Wk, kvh * hd), v = proj(Wv, kvh * hd);
    const pos = toks.map((_, i) => i);
    const want = refAttention(q, k, v, pos, pos, heads, kvh, hd, o);
    close(await run(m, toks), want, `prefill ${JSON.stringify(o)}`);
    // decode: the cache holds the earlier tokens
    m.clearCache();
    const got: number[] = [];
    for (let i = 0; i < n; i++) got.push(...(await run(m, [toks[i]!], [i])));
    close(Float32Array.from(got), want, `decode ${JSON.stringify(o)}`);
    if (o.alibi && !o.window) {
      // ALiBi cache shift: keys are not turned; the shifted cache scores the last token as positions relative to it say
      m.clearCache();
      await run(m, toks.slice(0, n - 1));
      m.drop(1, 3, 3);
      const shifted = await run(m, [toks[n - 1]!], [n - 1 - 3]);
      const keep = [0, ...Array.from({ length: n - 5 }, (_, i) => i + 4), n - 1];
      const kp = keep.map((c) => (c === 0 ? 0 : c - 3));
      const w2 = refAttention([q[n - 1]!], keep.map((c) => k[c]!), keep.map((c) => v[c]!), [n - 4], kp, heads, kvh, hd, o);
      close(shifted, w2, "alibi after a cache shift");
    }
    m.dispose();
  }
  assert.throws(() => build(d, 16, { headDim: hd, nKvHeads: kvh }, (m) => m.addWeight("Wq", "F32", bytes(Wq), heads * hd, d, "f32"),
    [{ op: "matmul", a: "x", weight: "Wq", out: "q" }, { op: "attention", layer: 0, a: "q", heads, window: -1, out: "att" }], "att"), /window must be >= 0/);
});
