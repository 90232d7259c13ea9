/**
 * The f16 KV cache (kvType "f16", llama.cpp's -ctk/-ctv f16): its kernels (kv/kv_f16.h) on
 * every variant equal to the scalar reference bit for bit, the reference equal to the definition
 * computed here; a model with it within rounding of the f32 cache, at half the cache bytes,
 * through generation, reuse and context shift; bad values refused.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { LLM } from "../src/llm.js";
import { InvalidOptionError } from "../src/errors.js";
import { rngFor, randF32, run, SIMD, AVAILABLE, skipReason } from "./helpers/kernels.js";
import { EMBEDDED_MODEL, REPO } from "./helpers/paths.js";

interface Ref {
  prompts: { input_ids: number[]; greedy_ids: number[] }[];
}
const REF7 = JSON.parse(readFileSync(join(EMBEDDED_MODEL, "reference.json"), "utf8")) as Ref;

/** f16 bits -> value (IEEE binary16), for the definition below. */
function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Random f16 rows: values in [-2, 2) rounded by the reference store. */
function halfRows(rng: () => number, n: number): Uint16Array {
  return run("ref", "kv_f16_store", { n, x: randF32(rng, n, -2, 2) }) as Uint16Array;
}

test("kv f16 store: round to nearest even, specials and subnormals; load is exact", () => {
  const x = Float32Array.from([0, -0, 1, -1, 65504, 65519, 65520, 1e6, -1e6, Infinity, -Infinity, 2 ** -14, 2 ** -24, 2 ** -25, 2 ** -26, 3 * 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 0.1, -0.3333]);
  const h = run("ref", "kv_f16_store", { n: x.length, x }) as Uint16Array;
  // 65519 rounds down to the largest finite half, 65520 (halfway) up to infinity; ties go to even
  const want = [0, 0x8000, 0x3c00, 0xbc00, 0x7bff, 0x7bff, 0x7c00, 0x7c00, 0xfc00, 0x7c00, 0xfc00, 0x0400, 0x0001, 0x0000, 0x0000, 0x0002, 0x3c00, 0x3c02];
  assert.deepEqual(Array.from(h.slice(0, want.length)), want);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!) || Math.abs(x[i]!) >= 65520) continue;
    // the nearest half: no representable value is closer than the stored one
    const dist = (bits: number) => {
      const y = f16(bits & 0xffff);
      return Number.isNaN(y) ? Infinity : Math.abs(y - x[i]!);
    };
    assert.ok(dist(h[i]!) <= dist(h[i]! + 1) && dist(h[i]!) <= dist(h[i]! - 1), `x=${x[i]}`);
  }
  const back = run("ref", "kv_f16_load", { n: h.length, x: h }) as Float32Array;
  for (let i = 0; i < h.length; i++) assert.equal(back[i], Math.fround(f16(h[i]!)));
});

test("kv f16 reference: dot_rows and attn_pv are the definition (eight lanes, then the tail; V summed in order)", () => {
  const rng = rngFor("kv-f16-ref");
  for (const [nk, d, ld] of [[5, 64, 64], [3, 13, 20], [2, 8, 8], [4, 7, 9]] as const) {
    const q = randF32(rng, d), K = halfRows(rng, (nk - 1) * ld + d), w = randF32(rng, nk, 0, 1);
    const dots = run("ref", "kv_f16_dot_rows", { nk, d, ld, q, k: K, scale: 0.125 }) as Float32Array;
    const pv = run("ref", "kv_f16_attn_pv", { nk, d, ld, w, v: K }) as Float32Array;
    for (let t = 0; t < nk; t++) {
      const d8 = d - (d % 8), a = new Array<number>(8).fill(0);
      // Math.fround after each step: the f32 fma rounds once (the product is exact in double here)
      for (let p = 0; p < d8; p++) a[p % 8] = Math.fround(a[p % 8]! + q[p]! * f16(K[t * ld + p]!));
      let s = Math.fround(Math.fround(Math.fround(a[0]! + a[4]!) + Math.fround(a[2]! + a[6]!)) + Math.fround(Math.fround(a[1]! + a[5]!) + Math.fround(a[3]! + a[7]!)));
      for (let p = d8; p < d; p++) s = Math.fround(s + q[p]! * f16(K[t * ld + p]!));
      assert.equal(dots[t], Math.fround(0.125 * s), `nk=${nk} d=${d} row ${t}`);
    }
    for (let p = 0; p < d; p++) {
      let o = 0;
      for (let t = 0; t < nk; t++) o = Math.fround(o + w[t]! * f16(K[t * ld + p]!));
      assert.equal(pv[p], o, `nk=${nk} d=${d} column ${p}`);
    }
  }
});

for (const v of SIMD) {
  test(`kv f16 kernels: ${v} equals the scalar reference bit for bit`, { skip: skipReason(v) ?? false }, () => {
    assert.ok(AVAILABLE.get(v));
    const rng = rngFor(`kv-f16-${v}`);
    const x = randF32(rng, 1003, -70000, 70000);
    x.set([65519, 65520, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -11], 0);
    assert.deepEqual(run(v, "kv_f16_store", { n: x.length, x }), run("ref", "kv_f16_store", { n: x.length, x }));
    const h = halfRows(rng, 517);
    assert.deepEqual(run(v, "kv_f16_load", { n: h.length, x: h }), run("ref", "kv_f16_load", { n: h.length, x: h }));
    for (const [nk, d, ld] of [[0, 64, 64], [1, 64, 64], [4, 64, 64], [7, 128, 128], [9, 80, 96], [5, 13, 13], [6, 3, 5], [33, 40, 48], [3, 256, 256]] as const) {
      const q = randF32(rng, d), K = halfRows(rng, Math.max(0, (nk - 1) * ld + d)), w = randF32(rng, nk, 0, 1);
      for (const scale of [1, 0.088388]) {
        assert.deepEqual(run(v, "kv_f16_dot_rows", { nk, d, ld, q, k: K, scale }), run("ref", "kv_f16_dot_rows", { nk, d, ld, q, k: K, scale }), `dot_rows nk=${nk} d=${d}`);
      }
      assert.deepEqual(run(v, "kv_f16_attn_pv", { nk, d, ld, w, v: K }), run("ref", "kv_f16_attn_pv", { nk, d, ld, w, v: K }), `attn_pv nk=${nk} d=${d}`);
      // accumulating onto earlier sums (the batch path feeds the cells in pieces)
      const out = randF32(rng, d);
      assert.deepEqual(run(v, "kv_f16_attn_pv", { nk, d, ld, w, v: K, out }), run("ref", "kv_f16_attn_pv", { nk, d, ld, w, v: K, out }), `attn_pv onto sums nk=${nk} d=${d}`);
    }
  });
}

test("kvType f16: half the cache bytes, logits within f16 rounding of the f32 cache, the reference greedy tokens", async () => {
  const a = await LLM.load(EMBEDDED_MODEL, { dtype: "f32" });
  const b = await LLM.load(EMBEDDED_MODEL, { dtype: "f32", kvType: "f16" });
  try {
    assert.equal(a.info().kvType, "f32");
    assert.equal(b.info().kvType, "f16");
    assert.equal(b.info().cacheBytes * 2, a.info().cacheBytes);
    let worst = 0;
    for (const p of REF7.prompts) {
      const la = await a.logitsAll(p.input_ids), lb = await b.logitsAll(p.input_ids);
      let scale = 0;
      for (let i = 0; i < la.length; i++) {
        worst = Math.max(worst, Math.abs(la[i]! - lb[i]!));
        scale = Math.max(scale, Math.abs(la[i]!));
      }
      // the keys and values carry 11 significant bits: the logits move by a few 1e-3 (measured 5.5e-3 at most)
      assert.ok(worst < 0.03 && worst > 0, `max |logit f16 - f32| ${worst} (logits up to ${scale})`);
      const r = await b.generate(p.input_ids, { maxNewTokens: 48, temperature: 0, stopAtEos: false });
      assert.deepEqual(r.ids, p.greedy_ids);
    }
    // reuse of a cached prefix, and a context shift (keys turned in f32 and rounded back)
    const p = REF7.prompts[0]!;
    const again = await b.generate([...p.input_ids, ...p.greedy_ids.slice(0, 10)], { maxNewTokens: 20, temperature: 0, stopAtEos: false });
    assert.deepEqual(again.ids, p.greedy_ids.slice(10, 30));
  } finally {
    await a.dispose();
    await b.dispose();
  }
});

test("kvType f16 with a context shift: the shifted f16 cache tracks the shifted f32 cache", async () => {
  const a = await LLM.load(EMBEDDED_MODEL, { dtype: "f32", contextLength: 64 });
  const b = await LLM.load(EMBEDDED_MODEL, { dtype: "f32", contextLength: 64, kvType: "f16" });
  try {
    const p = REF7.prompts[1]!.input_ids;
    const opts = { maxNewTokens: 100, temperature: 0, stopAtEos: false, contextShift: { nKeep: 4, nDiscard: 16 } };
    const ra = await a.generate(p, opts), rb = await b.generate(p, opts);
    assert.ok(rb.contextShifts! >= 3 && rb.contextShifts === ra.contextShifts);
    // greedy decoding of the two caches agrees past the shifts (measured: every token on ref, avx2 and avx512)
    let same = 0;
    while (same < ra.ids.length && ra.ids[same] === rb.ids[same]) same++;
    assert.ok(same >= 80, `f16 and f32 caches agree on the first ${same} of ${ra.ids.length} tokens`);
  } finally {
    await a.dispose();
    await b.dispose();
  }
});

test("kvType: bad values are refused (library and CLI)", async () => {
  await assert.rejects(LLM.load(EMBEDDED_MODEL, { kvType: "q4" as "f16" }), (e: unknown) => e instanceof InvalidOptionError && /kvType must be f32, f16 or q8_0, got "q4"/.test((e as Error).message));
  const r = spawnSync(process.execPath, [join(REPO, "bin", "lowbit.js"), "generate", "--prompt", "x", "--kv-type", "bf16"], { encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--kv-type must be f32, f16 or q8_0/);
  const ok = spawnSync(process.execPath, [join(REPO, "bin", "lowbit.js"), "generate", "--prompt", "def f(x):", "--max-new-tokens", "4", "--kv-type", "f16", "--json"], { encoding: "utf8" });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).ids.length, 4);
});
