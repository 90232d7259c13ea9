/**
 * llama.cpp's Q4_0 / Q8_0 formats (native/src/kernels/ggml*.cc, ggml_quants.cc):
 *  - ggmlQuantize byte-exact against an independent TS implementation of
 *    ggml's reference quantizers (test/helpers/ggml-spec.ts), ties and zero blocks
 *    included;
 *  - activation quantization of every kernel variant bit for bit against the
 *    TS implementation of llama.cpp's (id = 127 / amax, half to even);
 *  - the matmuls: ref bit for bit against the exact TS emulation, every SIMD
 *    variant bit for bit against ref (the semantics fix the f32 rounding:
 *    one FMA per block), odd n and m, k multiples of 32 but not of 64/128,
 *    column subranges, extreme codes;
 *  - raw GGUF bytes repacked unchanged (row_f32 = the spec's dequantization,
 *    the blocks read back byte for byte), f32/f16/bf16 sources quantized as
 *    ggmlQuantize does, bad shapes rejected with a clear message.
 * Seeded (printed; LOWBIT_TEST_SEED).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SEED, SIMD, A, randF32, rngFor, run, skipReason } from "./helpers/kernels.js";
import {
  BLOCK_BYTES, dequantize, f16Bits, f16Value, matmul, quantize, quantizeAct, randomBlocks, type GgmlType,
} from "./helpers/ggml-spec.js";

const ctx = (msg: string) => `${msg} (seed ${SEED})`;
const TYPES: GgmlType[] = ["q4_0", "q8_0"];
const VARIANTS = ["ref", ...SIMD];

function assertBytes(got: Uint8Array, want: Uint8Array, msg: string): void {
  assert.equal(got.length, want.length, ctx(`${msg}: length`));
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) assert.fail(ctx(`${msg}: byte ${i} is ${got[i]}, want ${want[i]}`));
}
function assertBits(got: ArrayLike<number>, want: ArrayLike<number>, msg: string): void {
  assert.equal(got.length, want.length, ctx(`${msg}: length`));
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) assert.fail(ctx(`${msg}: [${i}] is ${got[i]}, want ${want[i]}`));
}

/** Rows of 32-blocks with varied magnitudes, exact ties for both quantizers, zero blocks, equal +-max. */
function quantizerInput(rng: () => number, rows: number, cols: number): Float32Array {
  const x = new Float32Array(rows * cols);
  for (let b = 0; b < x.length / 32; b++) {
    const kind = b % 6, o = b * 32;
    const scale = 2 ** Math.floor(-20 + rng() * 36); // 2^-20 .. 2^15: f16 subnormal and overflowing scales too
    for (let t = 0; t < 32; t++) x[o + t] = (rng() * 2 - 1) * scale;
    if (kind === 1) x.fill(0, o, o + 32); // zero block: d = 0, id = 0
    if (kind === 2) for (let t = 0; t < 32; t++) x[o + t] = (Math.floor(rng() * 255) - 127) / 2; // q8_0: amax 63.5.. -> many x*id ties
    if (kind === 3) {
      // q8_0 with amax = 127 (d = 1, id = 1): halves are exact ties, roundf goes away from zero
      for (let t = 0; t < 32; t++) x[o + t] = Math.floor(rng() * 254 - 127) + 0.5;
      x[o + Math.floor(rng() * 32)] = rng() < 0.5 ? 127 : -127;
    }
    if (kind === 4) {
      // q4_0 with max = -8 (d = 1, id = -1): x * id + 8.5 lands on integers and halves
      for (let t = 0; t < 32; t++) x[o + t] = (Math.floor(rng() * 31) - 15) / 2;
      x[o + Math.floor(rng() * 32)] = 8;
    }
    if (kind === 5) {
      // equal magnitudes of both signs: the first element of largest |x| sets q4_0's sign
      const i = Math.floor(rng() * 16), j = 16 + Math.floor(rng() * 16), v = 0.75 * scale;
      for (let t = 0; t < 32; t++) x[o + t] = Math.min(Math.max(x[o + t]!, -v / 2), v / 2);
      x[o + i] = rng() < 0.5 ? v : -v;
      x[o + j] = -x[o + i]!;
    }
  }
  return x;
}

test("ggmlQuantize is byte-exact with ggml's reference quantizers (ties, zero blocks, f16 subnormal / overflowing scales)", () => {
  const rng = rngFor("ggml-quantize");
  for (const type of TYPES)
    for (const [rows, cols] of [[1, 32], [3, 96], [7, 160], [16, 2048]]) {
      const x = quantizerInput(rng, rows, cols);
      assertBytes(A.ggmlQuantize(type, x, rows, cols), quantize(type, x), `${type} [${rows}, ${cols}]`);
    }
  // the tie rules themselves, independent of the TS implementation
  const tie = new Float32Array(32);
  tie[0] = 127; tie[1] = 2.5; tie[2] = -3.5; tie[3] = 0.5;
  const q8 = A.ggmlQuantize("q8_0", tie, 1, 32);
  assert.deepEqual([q8[0], q8[1]], [0x00, 0x3c], "q8_0: d = fp16(1.0)");
  assert.deepEqual(Array.from(new Int8Array(q8.buffer, 2, 4)), [127, 3, -4, 1], "q8_0: roundf (half away from zero)");
  tie.fill(0);
  tie[0] = 8; tie[1] = -0.5; tie[2] = -7; tie[3] = 0.25; tie[16] = -7.5; tie[17] = 4;
  const q4 = A.ggmlQuantize("q4_0", tie, 1, 32); // d = 8 / -8 = -1
  assert.deepEqual([q4[0], q4[1]], [0x00, 0xbc], "q4_0: d = fp16(-1.0)");
  // x * id + 8.5 truncated: 8 -> 0; -0.5 -> 9; -7 -> 15.5 -> 15; 0.25 -> 8.25 -> 8; -7.5 -> 16 -> min 15; 4 -> 4.5 -> 4
  assert.deepEqual([q4[2]! & 15, q4[3]! & 15, q4[4]! & 15, q4[5]! & 15, q4[2]! >> 4, q4[3]! >> 4], [0, 9, 15, 8, 15, 4]);
  // zero block: d = 0.0f / -8 = -0.0f (f16 0x8000, as ggml stores it), id = 0, codes 8
  assert.deepEqual(Array.from(A.ggmlQuantize("q4_0", new Float32Array(32), 1, 32).subarray(0, 4)), [0x00, 0x80, 0x88, 0x88]);
  assert.deepEqual(Array.from(A.ggmlQuantize("q8_0", new Float32Array(32), 1, 32).subarray(0, 4)), [0, 0, 0, 0], "q8_0 zero block: d = +0");
});

test("f16 scales round to nearest even: subnormal, halfway and overflowing values", () => {
  // d = amax / 127 for q8_0: choose amax so d hits the interesting f16 cases
  const cases = [65504 * 127, 65520 * 127 * 1.0000001, 2 ** -24 * 127, 2 ** -25 * 127, 3 * 2 ** -25 * 127, 1e-9, 1 + 2 ** -11, 1 + 3 * 2 ** -11];
  for (const amax of cases) {
    const x = new Float32Array(32);
    x[5] = amax;
    const got = A.ggmlQuantize("q8_0", x, 1, 32);
    const h = got[0]! | (got[1]! << 8);
    assert.equal(h, f16Bits(Math.fround(Math.fround(amax) / 127)), `amax ${amax}: f16 bits ${h.toString(16)}`);
  }
  assert.equal(f16Bits(1 + 2 ** -11), 0x3c00, "spec self-check: 1 + half ulp rounds to even (1.0)");
  assert.equal(f16Bits(1 + 3 * 2 ** -11), 0x3c02, "spec self-check: 1 + 1.5 ulp rounds to even (1 + 2 ulp)");
  assert.equal(f16Bits(65520), 0x7c00, "spec self-check: 65520 overflows to inf");
  assert.equal(f16Value(0x0001), 2 ** -24);
});

for (const v of VARIANTS) {
  test(`${v}: activations quantized to Q8_0 blocks exactly like llama.cpp's CPU backend`, (t) => {
    const why = v === "ref" ? null : skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-ggml-act`);
    for (const k of [32, 96, 160, 2048]) {
      const x = quantizerInput(rng, 1, k);
      // ties of rne (llama.cpp) vs roundf (the weight quantizer): amax 127 -> id 1
      x.fill(0, 0, 32);
      x[0] = 127; x[1] = 2.5; x[2] = -2.5; x[3] = 0.5; x[4] = 1.5;
      const got = run(v, "quantize_q8_0_act", { k, x }) as { q: Int8Array; d: Float32Array; s: Int32Array };
      const want = quantizeAct(x);
      assertBits(got.q, want.q, `${v} codes k=${k}`);
      assertBits(got.d, want.d, `${v} scales k=${k}`);
      assertBits(got.s, want.s, `${v} block sums k=${k}`);
      assert.deepEqual(Array.from(got.q.subarray(0, 5)), [127, 2, -2, 0, 2], "half to even");
    }
  });
}

interface Case { m: number; n: number; k: number; j0: number; j1: number }
function cases(rng: () => number): Case[] {
  const out: Case[] = [];
  for (const m of [1, 2, 3, 4, 5, 9])
    for (const n of [1, 7, 8, 13, 37])
      for (const k of [32, 96, 160, 288]) {
        const j0 = 8 * Math.floor(rng() * (Math.floor(n / 8) + 1));
        out.push({ m, n, k, j0: 0, j1: n }, { m, n, k, j0, j1: j0 + Math.floor(rng() * (n - j0 + 1)) });
      }
  // amx's Q4_0 kernel takes the tiles from 128 rows (kernels/amx.h): 16-row tiles plus a remainder
  out.push({ m: 149, n: 37, k: 288, j0: 0, j1: 37 }, { m: 128, n: 13, k: 96, j0: 8, j1: 12 });
  return out;
}
function matmulInputs(type: GgmlType, rng: () => number, c: Case, extreme = false) {
  const nb = c.k / 32;
  const a = Int8Array.from({ length: c.m * c.k }, () => (extreme ? (rng() < 0.5 ? -127 : 127) : Math.floor(rng() * 255) - 127));
  const ad = Float32Array.from({ length: c.m * nb }, () => f16Value(f16Bits(rng() * 0.05)));
  const w = randomBlocks(type, rng, c.n * nb);
  if (extreme) // codes at the ends of their range (q4_0: u = 0 / 15, q8_0: -128 / 127), activations +-127
    for (let b = 0; b < c.n * nb; b++)
      for (let t = 2; t < BLOCK_BYTES[type]; t++) w[b * BLOCK_BYTES[type] + t] = type === "q4_0" ? (rng() < 0.5 ? 0x00 : 0xff) : rng() < 0.5 ? 0x80 : 0x7f;
  return { ...c, a, ad, w };
}

for (const type of TYPES) {
  test(`ref matmul_${type} equals the exact TS emulation (one f32 FMA per block) bit for bit`, () => {
    const rng = rngFor(`ref-${type}`);
    const all = cases(rng);
    for (const c of all.filter((_, i) => i % 3 === 0)) {
      const x = matmulInputs(type, rng, c);
      assertBits(run("ref", `matmul_${type}`, x) as Float32Array, matmul(type, x.a, x.ad, x.w, c.m, c.n, c.k, c.j0, c.j1), `m${c.m} n${c.n} k${c.k} j[${c.j0},${c.j1})`);
    }
    const x = matmulInputs(type, rng, { m: 3, n: 16, k: 256, j0: 0, j1: 16 }, true);
    assertBits(run("ref", `matmul_${type}`, x) as Float32Array, matmul(type, x.a, x.ad, x.w, 3, 16, 256), "extreme codes");
  });

  for (const v of SIMD) {
    test(`${v}: matmul_${type} equals ref bit for bit (odd shapes, column ranges, extreme codes)`, (t) => {
      const why = skipReason(v);
      if (why) return t.skip(why);
      const rng = rngFor(`${v}-${type}`);
      for (const c of cases(rng)) {
        const x = matmulInputs(type, rng, c);
        assertBits(run(v, `matmul_${type}`, x) as Float32Array, run("ref", `matmul_${type}`, x) as Float32Array, `m${c.m} n${c.n} k${c.k} j[${c.j0},${c.j1})`);
      }
      for (const m of [1, 4, 7]) {
        const x = matmulInputs(type, rng, { m, n: 24, k: 2048, j0: 0, j1: 24 }, true);
        assertBits(run(v, `matmul_${type}`, x) as Float32Array, run("ref", `matmul_${type}`, x) as Float32Array, `extreme codes m${m}`);
      }
    });
  }

  test(`${type}: raw GGUF blocks are repacked bit for bit; row_f32 is the spec's dequantization`, () => {
    const rng = rngFor(`raw-${type}`);
    for (const [rows, cols] of [[1, 32], [5, 96], [13, 160], [8, 64]]) {
      const blocks = randomBlocks(type, rng, rows * (cols / 32));
      const w = run("ref", "ggml_weight", { format: type, dtype: type.toUpperCase(), bytes: blocks, rows, cols }) as { rows: Float32Array; blocks: Uint8Array; bytes: number };
      assertBytes(w.blocks, blocks, `${type} [${rows}, ${cols}] read back`);
      assertBits(w.rows, dequantize(type, blocks, rows * cols), `${type} [${rows}, ${cols}] row_f32`);
      assert.equal(w.bytes, Math.ceil(rows / 8) * 8 * (cols / 32) * BLOCK_BYTES[type], "bytes(): whole 8-row groups of GGUF blocks");
    }
  });

  test(`${type}: f32 / f16 / bf16 sources are quantized like ggmlQuantize; raw blocks of the other type are requantized`, () => {
    const rng = rngFor(`src-${type}`);
    const rows = 9, cols = 96;
    const x = quantizerInput(rng, rows, cols);
    const want = quantize(type, x);
    const f32w = run("ref", "ggml_weight", { format: type, dtype: "F32", bytes: new Uint8Array(x.buffer), rows, cols }) as { blocks: Uint8Array };
    assertBytes(f32w.blocks, want, "F32 source");
    // f16 and bf16 sources: the values they hold, quantized
    const h = Uint16Array.from(x, (v) => f16Bits(Math.max(-65504, Math.min(65504, v))));
    const hx = Float32Array.from(h, f16Value);
    assertBytes((run("ref", "ggml_weight", { format: type, dtype: "F16", bytes: new Uint8Array(h.buffer), rows, cols }) as { blocks: Uint8Array }).blocks, quantize(type, hx), "F16 source");
    const bf = Uint16Array.from(new Uint32Array(x.buffer), (u) => u >>> 16); // truncated: exactly representable
    const bx = new Float32Array(Uint32Array.from(bf, (u) => u << 16).buffer);
    assertBytes((run("ref", "ggml_weight", { format: type, dtype: "BF16", bytes: new Uint8Array(bf.buffer), rows, cols }) as { blocks: Uint8Array }).blocks, quantize(type, bx), "BF16 source");
    const other: GgmlType = type === "q4_0" ? "q8_0" : "q4_0";
    const ob = quantize(other, x);
    assertBytes((run("ref", "ggml_weight", { format: type, dtype: other.toUpperCase(), bytes: ob, rows, cols }) as { blocks: Uint8Array }).blocks, quantize(type, dequantize(other, ob, rows * cols)), `${other} source`);
  });

  test(`${type}: input widths that are not whole blocks of 32 are rejected with a clear message`, () => {
    const x = randF32(rngFor("bad"), 3 * 48);
    assert.throws(() => A.ggmlQuantize(type, x, 3, 48), /cols \(48\) must be a multiple of 32/);
    assert.throws(() => A.ggmlQuantize(type, x, 2, 32), /data has 144 elements, not rows \* cols = 2 \* 32/);
    assert.throws(() => run("ref", "ggml_weight", { format: type, dtype: "F32", bytes: new Uint8Array(x.buffer), rows: 3, cols: 48 }),
      new RegExp(`${type} needs the input dimension \\(cols = 48\\) to be a multiple of 32`));
    assert.throws(() => run("ref", "ggml_weight", { format: type, dtype: type.toUpperCase(), bytes: new Uint8Array(3 * 18), rows: 3, cols: 48 }),
      new RegExp(`${type.toUpperCase()} data needs the row length \\(cols = 48\\) to be a multiple of 32`));
    assert.throws(() => run("ref", "ggml_weight", { format: type, dtype: type.toUpperCase(), bytes: new Uint8Array(10), rows: 1, cols: 32 }), /byte size does not match/);
    assert.throws(() => A.ggmlQuantize("q4_1" as GgmlType, x, 3, 48), /type must be "q4_0", "q8_0", "q5_0", "q5_1", "q4_k", "q5_k" or "q6_k", got "q4_1"/);
  });
}
