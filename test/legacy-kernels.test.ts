/**
 * llama.cpp's legacy block-32 and IQ4 formats run natively (native/src/formats/:
 * q4_1, q5_0, q5_1, iq4_nl, iq4_xs; their numerics in legacy.h, iq4_nl.h, iq4_xs.h):
 *  - Q8_1 activation quantization (kquant.h) bit for bit against the TS
 *    statement of llama.cpp's AVX2 quantize_row_q8_1 (test/helpers/legacy-spec.ts);
 *  - each type's reference matmul bit for bit against the exact TS emulation,
 *    every SIMD variant (avx2, avx512) bit for bit against the reference, on
 *    random blocks (all-max and all-zero blocks included), odd n and m (decode
 *    m = 1, prefill tiles, m >= 8 for IQ4_XS's panel GEMM), column subranges;
 *  - llama.cpp's own results: test/fixtures/legacy-llamacpp.json holds MUL_MAT
 *    outputs of node-llama-cpp's prebuilt haswell library (IQ4_NL repacked, as
 *    llama.cpp loads it; recorded by native/bench/kquant_oracle.cc --types
 *    q4_1,q5_0,q5_1,iq4_nl,iq4_xs --record) on random weights and inputs, decode
 *    and prefill shapes; every variant reproduces them bit for bit from the f32 inputs;
 *  - a loaded weight keeps the GGUF bytes unchanged (IQ4_NL: moved into its 16-row groups), its rows dequantize as
 *    dequantizeGgml, and bad shapes / mismatched types are refused.
 * Seeded (printed; LOWBIT_TEST_SEED).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SEED, SIMD, randF32, rngFor, run, skipReason } from "./helpers/kernels.js";
import { LBLOCK, LTYPES, lmatmul, quantizeQ8_1, randomLBlocks, type LType } from "./helpers/legacy-spec.js";
import { dequantizeGgml } from "../src/formats/gguf-dequant.js";
import { REPO } from "./helpers/paths.js";
import { UNPACK, packedBytes } from "./helpers/packed-layouts.js";

const ctx = (msg: string) => `${msg} (seed ${SEED})`;

function assertBits(got: ArrayLike<number>, want: ArrayLike<number>, msg: string): void {
  assert.equal(got.length, want.length, ctx(`${msg}: length`));
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) assert.fail(ctx(`${msg}: [${i}] is ${got[i]}, want ${want[i]}`));
}

test("quantize_q8_1_act: llama.cpp's AVX2 quantize_row_q8_1 bit for bit", () => {
  const rng = rngFor("q8_1");
  for (const k of [32, 96, 1024]) {
    const x = randF32(rng, k, -1, 1);
    for (let b = 0; b < k / 32; b++) {
      const scale = 2 ** Math.floor(-10 + rng() * 20);
      for (let t = 0; t < 32; t++) x[b * 32 + t] = x[b * 32 + t]! * scale;
      if (b % 4 === 1) x.fill(0, b * 32, b * 32 + 32); // d = s = 0
      if (b % 4 === 2) for (let t = 0; t < 32; t++) x[b * 32 + t] = Math.floor(rng() * 254 - 127) + 0.5; // halves
    }
    const got = run("ref", "quantize_q8_1_act", { x, k }) as { q: Int8Array; d: Float32Array; s: Float32Array };
    const want = quantizeQ8_1(x);
    assertBits(got.q, want.q, `k=${k} codes`);
    assertBits(got.d, want.d, `k=${k} d`);
    assertBits(got.s, want.s, `k=${k} s`);
    if (k >= 96) assert.ok(want.s.some((v) => v !== 0) && want.s.some((v) => v === 0), "nonzero and zero block sums both occur");
  }
});

/** Random activation codes and scales of a type's activation type (s: Q8_1's sums). */
function randomAct(type: LType, rng: () => number, m: number, k: number): { a: Int8Array; ad: Float32Array; as?: Float32Array } {
  const per = LBLOCK[type].act === "q8_k" ? 256 : 32;
  const a = new Int8Array(m * k), ad = new Float32Array((m * k) / per), as = new Float32Array((m * k) / 32);
  for (let i = 0; i < a.length; i++) a[i] = Math.floor(rng() * 255) - 127;
  for (let b = 0; b < ad.length; b++) ad[b] = Math.fround(rng() * 2 ** Math.floor(-12 + rng() * 10));
  for (let b = 0; b < as.length; b++) as[b] = Math.fround((rng() - 0.5) * 2 ** Math.floor(-8 + rng() * 10));
  for (let i = 0; i < m; i++) if (k > 64 && i % 3 === 1) a.fill(127, i * k, i * k + 64); // extreme codes
  return LBLOCK[type].act === "q8_1" ? { a, ad, as } : { a, ad };
}

for (const type of LTYPES) {
  const K = LBLOCK[type].elems === 32 ? [32, 96, 160, 512] : [256, 512, 768, 1024];
  test(`matmul ${type}: ref = the exact TS emulation`, () => {
    const rng = rngFor(`ref-${type}`);
    for (const [m, n, k] of [[1, 9, K[0]!], [3, 5, K[1]!], [5, 7, K[2]!], [9, 3, K[1]!]] as const) {
      const w = randomLBlocks(type, rng, (n * k) / LBLOCK[type].elems);
      const { a, ad, as } = randomAct(type, rng, m, k);
      const got = run("ref", "matmul_kquant", { type, a, ad, as, w, m, n, k, j0: 0, j1: n }) as Float32Array;
      assertBits(got, lmatmul(type, a, ad, as, w, m, n, k), `${type} m=${m} n=${n} k=${k}`);
    }
  });
  for (const v of SIMD) {
    test(`matmul ${type}: ${v} = ref bit for bit`, { skip: skipReason(v) ?? false }, () => {
      const rng = rngFor(`${v}-${type}`);
      for (const [m, n, k] of [[1, 37, K[0]!], [1, 16, K[3]!], [2, 19, K[1]!], [4, 21, K[2]!], [7, 23, K[3]!], [9, 3, K[0]!], [12, 17, K[1]!]] as const) {
        const w = randomLBlocks(type, rng, (n * k) / LBLOCK[type].elems);
        const { a, ad, as } = randomAct(type, rng, m, k);
        for (const [j0, j1] of [[0, n], [1, n - 1], [Math.floor(n / 2), n]]) {
          const args = { type, a, ad, as, w, m, n, k, j0, j1 };
          assertBits(run(v, "matmul_kquant", args) as Float32Array, run("ref", "matmul_kquant", args) as Float32Array,
            `${v} ${type} m=${m} n=${n} k=${k} j=[${j0}, ${j1})`);
        }
      }
    });
  }

  test(`${type} weight: GGUF bytes kept, rows = dequantizeGgml, bad input refused`, () => {
    const rng = rngFor(`weight-${type}`);
    const { elems, bytes: bb } = LBLOCK[type];
    const rows = 5, cols = 512, T = type.toUpperCase();
    const bytes = randomLBlocks(type, rng, (rows * cols) / elems);
    const w = run("ref", "ggml_weight", { format: type, dtype: T, bytes, rows, cols }) as { rows: Float32Array; blocks: Uint8Array; bytes: number };
    if (UNPACK[type]) {
      // packed (iq4_nl.h): the same bytes moved into groups of 16 rows, the last group padded with zero rows
      assert.equal(w.bytes, packedBytes(rows, (cols / elems) * bb), "bytes(): the file's tensor bytes plus the padding rows of the last group");
      assert.deepEqual(UNPACK[type]!(w.blocks, rows, (cols / elems) * bb), bytes, "the GGUF blocks, moved not changed");
      assert.ok(w.blocks.subarray(0, 32).some((x, i) => x !== bytes[i]), "the storage is not the GGUF order");
    } else {
      assert.equal(w.bytes, rows * (cols / elems) * bb, "bytes(): exactly the file's tensor bytes");
      assert.deepEqual(w.blocks, bytes, "the GGUF blocks unchanged");
    }
    assertBits(w.rows, dequantizeGgml(T, bytes, rows * cols), "row_f32 = dequantizeGgml");
    assert.throws(() => run("ref", "ggml_weight", { format: type, dtype: T, bytes: bytes.subarray(1), rows, cols }), /byte size does not match/);
    assert.throws(() => run("ref", "ggml_weight", { format: type, dtype: T, bytes: new Uint8Array(bb), rows: 1, cols: elems / 2 }), new RegExp(`multiple of ${elems}`));
    assert.throws(() => run("ref", "ggml_weight", { format: type, dtype: "F32", bytes: new Uint8Array(4 * 256), rows: 1, cols: 256 }), /K-quant blocks load only/);
    const other = type === "q4_1" ? "q5_1" : "q4_1";
    assert.throws(() => run("ref", "ggml_weight", { format: other, dtype: T, bytes, rows, cols }), /blocks load only into format/);
  });
}

interface FixtureCase { type: LType; ties: boolean; m: number; n: number; k: number; w: string; x: string; y: string }
const b64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));
const f32s = (s: string) => { const b = b64(s); return new Float32Array(b.buffer, b.byteOffset, b.length / 4); };

/** The activations of one row as llama.cpp quantizes them for `type` (its vec_dot_type). */
function quantizeRow(v: string, type: LType, x: Float32Array): { q: Int8Array; d: Float32Array; s?: Float32Array } {
  const k = x.length;
  const act = LBLOCK[type].act;
  if (act === "q8_k") return run(v, "quantize_q8_K_act", { x, k, tiesPositive: false }) as { q: Int8Array; d: Float32Array };
  if (act === "q8_1") return run(v, "quantize_q8_1_act", { x, k }) as { q: Int8Array; d: Float32Array; s: Float32Array };
  return run(v, "quantize_q8_0_act", { x, k }) as { q: Int8Array; d: Float32Array };
}

for (const v of ["ref", ...SIMD]) {
  test(`${v}: llama.cpp's recorded Q4_1 / Q5_0 / Q5_1 / IQ4_NL / IQ4_XS MUL_MAT outputs, bit for bit`, { skip: v === "ref" ? false : skipReason(v) ?? false }, () => {
    const fx = JSON.parse(readFileSync(join(REPO, "test", "fixtures", "legacy-llamacpp.json"), "utf8")) as { cases: FixtureCase[] };
    assert.deepEqual([...new Set(fx.cases.map((c) => c.type))].sort(), [...LTYPES].sort(), "every type recorded");
    assert.ok(fx.cases.some((c) => c.type === "iq4_xs" && c.m >= 8), "IQ4_XS's panel GEMM (m >= 8) recorded");
    for (const c of fx.cases) {
      const x = f32s(c.x), per = LBLOCK[c.type].act === "q8_k" ? 256 : 32, nd = c.k / per;
      const a = new Int8Array(c.m * c.k), ad = new Float32Array(c.m * nd), as = new Float32Array((c.m * c.k) / 32);
      for (let i = 0; i < c.m; i++) {
        const r = quantizeRow(v, c.type, x.subarray(i * c.k, (i + 1) * c.k));
        a.set(r.q, i * c.k);
        ad.set(r.d, i * nd);
        if (r.s) as.set(r.s, (i * c.k) / 32);
      }
      const got = run(v, "matmul_kquant", { type: c.type, a, ad, as, w: b64(c.w), m: c.m, n: c.n, k: c.k, j0: 0, j1: c.n }) as Float32Array;
      assertBits(got, f32s(c.y), `${v} ${c.type} m=${c.m} k=${c.k}${c.ties ? " (+-max ties)" : ""}`);
    }
  });
}
