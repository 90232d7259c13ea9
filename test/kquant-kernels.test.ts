/**
 * llama.cpp's K-quant formats run natively (native/src/formats/):
 *  - Q8_K activation quantization bit for bit against the TS statement of
 *    quantize_row_q8_K_ref (test/helpers/kquant-spec.ts), zero blocks, ties of
 *    +-max (both tie rules: the reference's and llama.cpp's 4-row quantizer's)
 *    and exact halves included;
 *  - Q2_K, Q3_K, Q4_K, Q5_K and Q6_K matmuls: the scalar reference bit for bit against the exact
 *    TS emulation, every SIMD variant (avx2, avx512) bit for bit against the
 *    reference, on random blocks (extreme codes and scales included), odd n
 *    and m (decode m = 1 and prefill tiles of 2..4 tokens plus leftovers),
 *    k = 256..1280, column subranges;
 *  - llama.cpp's own results: test/fixtures/kquant-llamacpp.json holds MUL_MAT
 *    outputs of node-llama-cpp's prebuilt haswell library (Q4_K repacked, as
 *    llama.cpp loads it; recorded by native/bench/kquant_oracle.cc --record) on
 *    random weights and inputs, decode and prefill shapes, with and without
 *    +-max ties; every variant reproduces them bit for bit from the f32 inputs;
 *  - a loaded weight keeps the GGUF bytes unchanged (bytes() = the file's
 *    bytes), its rows dequantize as dequantizeGgml (checked against llama.cpp
 *    in gguf-dequant.test.ts), and bad shapes / mismatched types are refused.
 * Seeded (printed; LOWBIT_TEST_SEED).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SEED, SIMD, randF32, rngFor, run, skipReason } from "./helpers/kernels.js";
import { KBLOCK_BYTES, kmatmul, quantizeQ8K, randomKBlocks, type KType } from "./helpers/kquant-spec.js";
import { dequantizeGgml } from "../src/formats/gguf-dequant.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/paths.js";
import { UNPACK, packedBytes } from "./helpers/packed-layouts.js";

const ctx = (msg: string) => `${msg} (seed ${SEED})`;
const TYPES: KType[] = ["q2_k", "q3_k", "q4_k", "q5_k", "q6_k"];

function assertBits(got: ArrayLike<number>, want: ArrayLike<number>, msg: string): void {
  assert.equal(got.length, want.length, ctx(`${msg}: length`));
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) assert.fail(ctx(`${msg}: [${i}] is ${got[i]}, want ${want[i]}`));
}

/** Activation rows with varied magnitudes, zero blocks, +-max ties and exact halves. */
function actInput(rng: () => number, k: number): Float32Array {
  const x = randF32(rng, k, -1, 1);
  for (let b = 0; b < k / 256; b++) {
    const o = b * 256, kind = b % 5, scale = 2 ** Math.floor(-10 + rng() * 20);
    for (let t = 0; t < 256; t++) x[o + t] = x[o + t]! * scale;
    if (kind === 1) x.fill(0, o, o + 256);
    if (kind === 2) { const i = Math.floor(rng() * 128); x[o + i] = -2 * scale; x[o + 128 + i] = 2 * scale; } // -max first
    if (kind === 3) { // max = 127: iscale = -1, halves are exact ties
      for (let t = 0; t < 256; t++) x[o + t] = Math.floor(rng() * 254 - 127) + 0.5;
      x[o + Math.floor(rng() * 256)] = 127;
    }
  }
  return x;
}

test("quantize_q8_K_act: quantize_row_q8_K_ref bit for bit", () => {
  const rng = rngFor("q8k");
  for (const k of [256, 512, 1280]) {
    const x = actInput(rng, k);
    for (const tiesPositive of [false, true]) {
      const got = run("ref", "quantize_q8_K_act", { x, k, tiesPositive }) as { q: Int8Array; d: Float32Array; bsums: Int16Array };
      const want = quantizeQ8K(x, tiesPositive);
      assertBits(got.q, want.q, `k=${k} ties ${tiesPositive} codes`);
      assertBits(got.d, want.d, `k=${k} ties ${tiesPositive} d`);
      assertBits(got.bsums, want.bsums, `k=${k} ties ${tiesPositive} bsums`);
    }
    // the tie blocks (kind 2: -max first) really differ between the two rules
    const a = run("ref", "quantize_q8_K_act", { x, k, tiesPositive: false }) as { d: Float32Array };
    const b = run("ref", "quantize_q8_K_act", { x, k, tiesPositive: true }) as { d: Float32Array };
    if (k >= 768) assert.ok(a.d[2]! > 0 && b.d[2]! < 0, ctx(`k=${k}: a +-max tie picks -max first, +max with tiesPositive`));
  }
});

function randomAct(rng: () => number, m: number, k: number): { a: Int8Array; ad: Float32Array } {
  const a = new Int8Array(m * k), ad = new Float32Array((m * k) / 256);
  for (let i = 0; i < a.length; i++) a[i] = Math.floor(rng() * 255) - 127;
  for (let b = 0; b < ad.length; b++) ad[b] = Math.fround(rng() * 2 ** Math.floor(-12 + rng() * 10));
  for (let i = 0; i < m; i++) if (k > 256 && i % 3 === 1) a.fill(127, i * k, i * k + 256); // extreme codes
  return { a, ad };
}

for (const type of TYPES) {
  test(`matmul ${type}: ref = the exact TS emulation`, () => {
    const rng = rngFor(`ref-${type}`);
    for (const [m, n, k] of [[1, 9, 256], [3, 5, 512], [5, 7, 768], [8, 3, 512]] as const) {
      const w = randomKBlocks(type, rng, (n * k) / 256);
      const { a, ad } = randomAct(rng, m, k);
      const got = run("ref", "matmul_kquant", { type, a, ad, w, m, n, k, j0: 0, j1: n }) as Float32Array;
      assertBits(got, kmatmul(type, a, ad, w, m, n, k), `${type} m=${m} n=${n} k=${k}`);
    }
  });
  for (const v of SIMD) {
    test(`matmul ${type}: ${v} = ref bit for bit`, { skip: skipReason(v) ?? false }, () => {
      const rng = rngFor(`${v}-${type}`);
      for (const [m, n, k] of [[1, 37, 256], [1, 16, 1280], [2, 19, 512], [4, 21, 768], [7, 23, 1024], [9, 3, 256]] as const) {
        const w = randomKBlocks(type, rng, (n * k) / 256);
        const { a, ad } = randomAct(rng, m, k);
        for (const [j0, j1] of [[0, n], [1, n - 1], [Math.floor(n / 2), n]]) {
          const args = { type, a, ad, w, m, n, k, j0, j1 };
          assertBits(run(v, "matmul_kquant", args) as Float32Array, run("ref", "matmul_kquant", args) as Float32Array,
            `${v} ${type} m=${m} n=${n} k=${k} j=[${j0}, ${j1})`);
        }
      }
    });
  }

  test(`${type} weight: GGUF bytes kept, rows = dequantizeGgml, bad input refused`, () => {
    const rng = rngFor(`weight-${type}`);
    const rows = 5, cols = 512, bb = KBLOCK_BYTES[type], T = type.toUpperCase();
    const bytes = randomKBlocks(type, rng, (rows * cols) / 256);
    const w = run("ref", "ggml_weight", { format: type, dtype: T, bytes, rows, cols }) as { rows: Float32Array; blocks: Uint8Array; bytes: number };
    if (UNPACK[type]) {
      // packed (q4_k.h, q3_k.h): the same bytes moved into groups of 16 rows, the last group padded with zero rows
      assert.equal(w.bytes, packedBytes(rows, (cols / 256) * bb), "bytes(): the file's tensor bytes plus the padding rows of the last group");
      assert.deepEqual(UNPACK[type]!(w.blocks, rows, (cols / 256) * bb), bytes, "the GGUF blocks, moved not changed");
      assert.ok(w.blocks.subarray(0, 32).some((x, i) => x !== bytes[i]), "the storage is not the GGUF order");
    } else {
      assert.equal(w.bytes, rows * (cols / 256) * bb, "bytes(): exactly the file's tensor bytes");
      assert.deepEqual(w.blocks, bytes, "the GGUF blocks unchanged");
    }
    assertBits(w.rows, dequantizeGgml(T, bytes, rows * cols), "row_f32 = dequantizeGgml");
    assert.throws(() => run("ref", "ggml_weight", { format: type, dtype: T, bytes: bytes.subarray(1), rows, cols }), /byte size does not match/);
    assert.throws(() => run("ref", "ggml_weight", { format: type, dtype: T, bytes: new Uint8Array(bb), rows: 1, cols: 128 }), /multiple of 256/);
    assert.throws(() => run("ref", "ggml_weight", { format: type, dtype: "F32", bytes: new Uint8Array(4 * 256), rows: 1, cols: 256 }), /K-quant blocks load only/);
    const other = type === "q4_k" ? "q6_k" : "q4_k";
    assert.throws(() => run("ref", "ggml_weight", { format: other, dtype: T, bytes, rows, cols }), /blocks load only into format/);
  });
}

interface FixtureCase { type: KType; ties: boolean; m: number; n: number; k: number; w: string; x: string; y: string }
const b64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));
const f32s = (s: string) => { const b = b64(s); return new Float32Array(b.buffer, b.byteOffset, b.length / 4); };

for (const v of ["ref", ...SIMD]) {
  test(`${v}: llama.cpp's recorded Q2_K .. Q6_K MUL_MAT outputs, bit for bit`, { skip: v === "ref" ? false : skipReason(v) ?? false }, () => {
    const fx = JSON.parse(readFileSync(join(REPO, "test", "fixtures", "kquant-llamacpp.json"), "utf8")) as { cases: FixtureCase[] };
    assert.ok(fx.cases.length >= 12, "fixture cases");
    for (const type of TYPES) assert.ok(fx.cases.some((c) => c.type === type), `fixture cases of ${type}`);
    for (const c of fx.cases) {
      const x = f32s(c.x), nb = c.k / 256;
      const a = new Int8Array(c.m * c.k), ad = new Float32Array(c.m * nb);
      for (let i = 0; i < c.m; i++) {
        // llama.cpp's 4-row quantizer (its tie rule) for the repacked type's whole groups of 4 tokens
        const tiesPositive = c.type === "q4_k" && i < c.m - (c.m % 4);
        const r = run(v, "quantize_q8_K_act", { x: x.subarray(i * c.k, (i + 1) * c.k), k: c.k, tiesPositive }) as { q: Int8Array; d: Float32Array };
        a.set(r.q, i * c.k);
        ad.set(r.d, i * nb);
      }
      const got = run(v, "matmul_kquant", { type: c.type, a, ad, w: b64(c.w), m: c.m, n: c.n, k: c.k, j0: 0, j1: c.n }) as Float32Array;
      assertBits(got, f32s(c.y), `${v} ${c.type} m=${c.m} k=${c.k}${c.ties ? " (+-max ties)" : ""}`);
    }
  });
}
