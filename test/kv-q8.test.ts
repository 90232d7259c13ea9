/**
 * The q8_0 KV cache (kvType "q8_0", llama.cpp's -ctk/-ctv q8_0): its kernels (kv/kv_q8.h) on every
 * variant equal to the scalar reference bit for bit, the reference equal to the definition computed
 * here; a model with it close to the f32 cache (logits, greedy tokens, perplexity) at 17/64 of its
 * bytes, through generation, prefix reuse, context shift and batched slots; a head size it cannot
 * hold refused.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { LLM } from "../src/llm.js";
import { rngFor, randF32, run, SIMD, AVAILABLE, skipReason } from "./helpers/kernels.js";
import { EMBEDDED_MODEL, REPO } from "./helpers/paths.js";

interface Ref {
  prompts: { input_ids: number[]; greedy_ids: number[] }[];
}
const REF7 = JSON.parse(readFileSync(join(EMBEDDED_MODEL, "reference.json"), "utf8")) as Ref;

/** f16 bits -> value (IEEE binary16). */
function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
/** The blocks of a row: scale value and int8 codes. */
function blocks(row: Uint8Array, d: number, at = 0): { scale: number; codes: Int8Array }[] {
  const out = [];
  for (let b = 0; b < d / 32; b++) {
    const o = at + b * 34;
    out.push({ scale: f16(row[o]! | (row[o + 1]! << 8)), codes: new Int8Array(row.buffer, row.byteOffset + o + 2, 32) });
  }
  return out;
}
/** Round half to even, as the kernels' rounding. */
const rne = (x: number) => {
  const f = Math.floor(x), r = x - f;
  return r > 0.5 || (r === 0.5 && f % 2 !== 0) ? f + 1 : f;
};
/** Rows of q8_0 blocks from random values, by the reference store. */
function q8Rows(rng: () => number, rows: number, d: number, ld: number): Uint8Array {
  const out = new Uint8Array(Math.max(0, (rows - 1) * ld + (d / 32) * 34));
  for (let t = 0; t < rows; t++) out.set(run("ref", "kv_q8_store", { n: d, x: randF32(rng, d, -3, 3) }) as Uint8Array, t * ld);
  return out;
}

test("kv q8_0 store: scale max|x| / 127 stored as f16, codes rounded to nearest even; load multiplies back", () => {
  const rng = rngFor("kv-q8-store");
  const x = randF32(rng, 128, -5, 5);
  x.set([0, 0, 0, 0], 32); // a block's zeros
  for (let i = 64; i < 96; i++) x[i] = 0; // an all-zero block: scale 0, codes 0
  x[100] = 127; // a block whose codes are exactly the values
  for (let i = 101; i < 128; i++) x[i] = Math.round(x[i]! * 20);
  const y = run("ref", "kv_q8_store", { n: 128, x }) as Uint8Array;
  assert.equal(y.length, 4 * 34);
  blocks(y, 128).forEach((blk, b) => {
    const xs = x.subarray(32 * b, 32 * b + 32);
    const amax = xs.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const s = Math.fround(amax / 127), inv = s ? Math.fround(1 / s) : 0;
    // the stored scale is the nearest half to s
    assert.ok(Math.abs(blk.scale - s) <= Math.abs(s) * 2 ** -11 + 2 ** -25, `block ${b} scale`);
    for (let i = 0; i < 32; i++) assert.equal(blk.codes[i], rne(Math.fround(xs[i]! * inv)), `block ${b} code ${i}`);
  });
  assert.ok(blocks(y, 128)[2]!.codes.every((c) => c === 0));
  const back = run("ref", "kv_q8_load", { n: 128, x: y }) as Float32Array;
  blocks(y, 128).forEach((blk, b) => {
    for (let i = 0; i < 32; i++) assert.equal(back[32 * b + i], Math.fround(blk.scale * blk.codes[i]!));
  });
  assert.throws(() => run("ref", "kv_q8_store", { n: 40, x: new Float32Array(40) }), /multiple of 32/);
});

test("kv q8_0 reference: dot_rows and attn_pv are the definition (eight lanes of scaled queries; V summed in order)", () => {
  const rng = rngFor("kv-q8-ref");
  for (const [nk, d, ld] of [[5, 64, 68], [3, 32, 34], [2, 128, 272]] as const) {
    const q = randF32(rng, d), K = q8Rows(rng, nk, d, ld), w = randF32(rng, nk, 0, 1);
    const dots = run("ref", "kv_q8_dot_rows", { nk, d, ld, q, k: K, scale: 0.125 }) as Float32Array;
    const pv = run("ref", "kv_q8_attn_pv", { nk, d, ld, w, v: K }) as Float32Array;
    for (let t = 0; t < nk; t++) {
      const bl = blocks(K, d, t * ld), a = new Array<number>(8).fill(0);
      // f32 steps: the scaled query rounds, then the fma rounds once (exact in double before it)
      for (let p = 0; p < d; p++) a[p % 8] = Math.fround(a[p % 8]! + Math.fround(q[p]! * bl[p >> 5]!.scale) * bl[p >> 5]!.codes[p % 32]!);
      const s = Math.fround(Math.fround(Math.fround(a[0]! + a[4]!) + Math.fround(a[2]! + a[6]!)) + Math.fround(Math.fround(a[1]! + a[5]!) + Math.fround(a[3]! + a[7]!)));
      assert.equal(dots[t], Math.fround(0.125 * s), `nk=${nk} d=${d} row ${t}`);
    }
    for (let p = 0; p < d; p++) {
      let o = 0;
      for (let t = 0; t < nk; t++) {
        const blk = blocks(K, d, t * ld)[p >> 5]!;
        o = Math.fround(o + Math.fround(w[t]! * blk.scale) * blk.codes[p % 32]!);
      }
      assert.equal(pv[p], o, `nk=${nk} d=${d} column ${p}`);
    }
  }
});

for (const v of SIMD) {
  test(`kv q8_0 kernels: ${v} equals the scalar reference bit for bit`, { skip: skipReason(v) ?? false }, () => {
    assert.ok(AVAILABLE.get(v));
    const rng = rngFor(`kv-q8-${v}`);
    const x = randF32(rng, 1024, -70000, 70000);
    x.fill(0, 64, 96);
    x.set([65519, 65520, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -11, 0.5, -0.5, 1.5], 0);
    assert.deepEqual(run(v, "kv_q8_store", { n: x.length, x }), run("ref", "kv_q8_store", { n: x.length, x }));
    const small = randF32(rng, 512, -1e-3, 1e-3);
    assert.deepEqual(run(v, "kv_q8_store", { n: small.length, x: small }), run("ref", "kv_q8_store", { n: small.length, x: small }));
    const h = q8Rows(rng, 1, 512, 0);
    assert.deepEqual(run(v, "kv_q8_load", { n: 512, x: h }), run("ref", "kv_q8_load", { n: 512, x: h }));
    for (const [nk, d, ld] of [[0, 64, 68], [1, 64, 68], [4, 64, 68], [7, 128, 136], [9, 96, 120], [33, 32, 34], [3, 256, 272], [2, 64, 100]] as const) {
      const q = randF32(rng, d), K = q8Rows(rng, nk, d, ld), w = randF32(rng, nk, 0, 1);
      for (const scale of [1, 0.088388]) {
        assert.deepEqual(run(v, "kv_q8_dot_rows", { nk, d, ld, q, k: K, scale }), run("ref", "kv_q8_dot_rows", { nk, d, ld, q, k: K, scale }), `dot_rows nk=${nk} d=${d}`);
      }
      assert.deepEqual(run(v, "kv_q8_attn_pv", { nk, d, ld, w, v: K }), run("ref", "kv_q8_attn_pv", { nk, d, ld, w, v: K }), `attn_pv nk=${nk} d=${d}`);
      const out = randF32(rng, d);
      assert.deepEqual(run(v, "kv_q8_attn_pv", { nk, d, ld, w, v: K, out }), run("ref", "kv_q8_attn_pv", { nk, d, ld, w, v: K, out }), `attn_pv onto sums nk=${nk} d=${d}`);
    }
  });
}

test("kvType q8_0: 17/64 of the f32 cache's bytes, logits and perplexity near the f32 cache's, greedy tokens", async () => {
  const a = await LLM.load(EMBEDDED_MODEL, { dtype: "f32" });
  const b = await LLM.load(EMBEDDED_MODEL, { dtype: "f32", kvType: "q8_0" });
  try {
    assert.equal(b.info().kvType, "q8_0");
    assert.equal(b.info().cacheBytes * 64, a.info().cacheBytes * 17);
    let worst = 0, scale = 0;
    for (const p of REF7.prompts) {
      const la = await a.logitsAll(p.input_ids), lb = await b.logitsAll(p.input_ids);
      for (let i = 0; i < la.length; i++) {
        worst = Math.max(worst, Math.abs(la[i]! - lb[i]!));
        scale = Math.max(scale, Math.abs(la[i]!));
      }
    }
    // int8 keys and values with a scale per 32: the logits move by up to ~0.25 of ~20 (measured)
    assert.ok(worst > 0 && worst < 0.5, `max |logit q8_0 - f32| ${worst} (logits up to ${scale})`);
    // greedy decoding keeps the reference tokens until a near-tie: where it first differs, the f32
    // model's two best logits are closer than the cache's error (measured: 3 prompts all 48 tokens,
    // two diverge at f32 margins of 0.0045 and 0.032)
    let whole = 0;
    for (const p of REF7.prompts) {
      const r = await b.generate(p.input_ids, { maxNewTokens: 48, temperature: 0, stopAtEos: false });
      let first = 0;
      while (first < r.ids.length && r.ids[first] === p.greedy_ids[first]) first++;
      if (first === r.ids.length) {
        whole++;
        continue;
      }
      const l = await a.logits([...p.input_ids, ...p.greedy_ids.slice(0, first)]);
      const top = [...l].sort((x, y) => y - x);
      assert.ok(top[0]! - top[1]! < 2 * worst, `diverged at token ${first} with an f32 margin of ${top[0]! - top[1]!} (cache error ${worst})`);
    }
    assert.ok(whole >= 3, `${whole} of ${REF7.prompts.length} prompts keep all 48 reference tokens`);
    // perplexity of the reference prompts' continuations: within 1% of the f32 cache's
    const ids = [...REF7.prompts[0]!.input_ids, ...REF7.prompts[0]!.greedy_ids];
    const nll = async (m: LLM) => (await m.nll(ids)).reduce((s, x) => s + x, 0) / (ids.length - 1);
    const pa = Math.exp(await nll(a)), pb = Math.exp(await nll(b));
    assert.ok(Math.abs(pb - pa) / pa < 0.01, `perplexity f32 ${pa}, q8_0 ${pb}`);
  } finally {
    await a.dispose();
    await b.dispose();
  }
});

test("kvType q8_0: prefix reuse, a context shift and batched slots", async () => {
  const a = await LLM.load(EMBEDDED_MODEL, { dtype: "f32", contextLength: 64, kvType: "q8_0" });
  const f = await LLM.load(EMBEDDED_MODEL, { dtype: "f32", contextLength: 64 });
  const par = await LLM.load(EMBEDDED_MODEL, { dtype: "f32", contextLength: 64, kvType: "q8_0", parallel: 2 });
  try {
    const p = REF7.prompts[1]!.input_ids;
    const first = await a.generate(p, { maxNewTokens: 12, temperature: 0, stopAtEos: false });
    // the same prompt extended by what it generated: the cached prefix is reused and the rest is the same
    const again = await a.generate([...p, ...first.ids.slice(0, 6)], { maxNewTokens: 6, temperature: 0, stopAtEos: false });
    assert.ok(again.timings.prefillTokens < again.timings.promptTokens);
    assert.deepEqual(again.ids, first.ids.slice(6, 12));
    // keys dequantized, turned and quantized again at each shift; greedy tracks the f32 cache's
    const opts = { maxNewTokens: 100, temperature: 0, stopAtEos: false, contextShift: { nKeep: 4, nDiscard: 16 } };
    a.resetCache();
    const rq = await a.generate(p, opts), rf = await f.generate(p, opts);
    assert.ok(rq.contextShifts! >= 3 && rq.contextShifts === rf.contextShifts);
    let same = 0;
    while (same < rf.ids.length && rf.ids[same] === rq.ids[same]) same++;
    assert.ok(same >= 20, `q8_0 and f32 caches agree on the first ${same} of ${rf.ids.length} tokens`);
    // two concurrent streams in q8_0 slots: each one's tokens as alone
    const prompts = [REF7.prompts[0]!.input_ids, REF7.prompts[2]!.input_ids];
    const alone = [];
    for (const q of prompts) {
      a.resetCache();
      alone.push((await a.generate(q, { maxNewTokens: 16, temperature: 0, stopAtEos: false })).ids);
    }
    const together = await Promise.all(prompts.map((q) => par.generate(q, { maxNewTokens: 16, temperature: 0, stopAtEos: false })));
    assert.deepEqual(together.map((r) => r.ids), alone);
  } finally {
    await a.dispose();
    await f.dispose();
    await par.dispose();
  }
});

test("kvType q8_0 needs a head size divisible by 32: a Gemma 2 fixture with head size 16 is refused clearly", async () => {
  const dir = join(REPO, "test", "fixtures", "families", "gemma2");
  const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { head_dim?: number; hidden_size: number; num_attention_heads: number };
  const hd = cfg.head_dim ?? cfg.hidden_size / cfg.num_attention_heads;
  assert.equal(hd, 16);
  await assert.rejects(LLM.load(dir, { kvType: "q8_0" }), /q8_0 needs a head size divisible by 32 \(this model's is \d+\)/);
});
