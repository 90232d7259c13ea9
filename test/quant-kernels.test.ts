/**
 * Quantized kernels vs the scalar reference, on fresh random inputs with sizes
 * that are not multiples of the SIMD widths (seed printed; LOWBIT_TEST_SEED).
 *  - int8 (w8a8): integer dot products are exact, so SIMD must equal ref
 *    bit for bit (both compute sa * sw * float(exact int32 sum)).
 *    Their int32 mode (row-parallel shards' partial sums) gives the exact dots.
 *  - int8 activation quantization: identical codes and scale.
 *  - int4 (w4a16): int16 activations with per-(row, group) scales; exact
 *    integer group dots (decode) or f32 math (prefill) in another order:
 *    |simd - ref| <= 1e-5 * sum of |terms| + 1e-6; sums past int32 (15 x 32767
 *    x k) come out right; the activation quantizer gives the reference's codes,
 *    scales and group sums bit for bit.
 * The reference itself is checked against a float64 JS computation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SEED, SIMD, randF32, rngFor, run, skipReason } from "./helpers/kernels.js";

const ctx = (msg: string) => `${msg} (seed ${SEED})`;

function randI8(rng: () => number, n: number): Int8Array {
  return Int8Array.from({ length: n }, () => Math.floor(rng() * 255) - 127);
}

interface Q8Case { m: number; n: number; k: number; j0: number; j1: number }
function q8Cases(rng: () => number): Q8Case[] {
  const out: Q8Case[] = [];
  for (const m of [1, 2, 3, 5, 9, 70])
    for (const n of [1, 3, 4, 5, 17, 33])
      for (const k of [1, 31, 64, 65, 100, 257]) {
        const j0 = 4 * Math.floor(rng() * (Math.floor(n / 4) + 1));
        out.push({ m, n, k, j0: 0, j1: n }, { m, n, k, j0, j1: j0 + Math.floor(rng() * (n - j0 + 1)) });
      }
  return out;
}

function q8Inputs(rng: () => number, c: Q8Case) {
  return { ...c, a: randI8(rng, c.m * c.k), w: randI8(rng, c.n * c.k), sa: randF32(rng, c.m, 0, 0.1), sw: randF32(rng, c.n, 0, 0.1) };
}

test("ref matmul_q8 equals sa * sw * exact integer dot (float64 JS)", () => {
  const rng = rngFor("ref-q8");
  for (const c of q8Cases(rng).slice(0, 60)) {
    const x = q8Inputs(rng, c);
    const got = run("ref", "matmul_q8", x) as Float32Array;
    for (let i = 0; i < c.m; i++)
      for (let j = 0; j < c.n; j++) {
        if (j < c.j0 || j >= c.j1) {
          assert.equal(got[i * c.n + j], 0, ctx("untouched column"));
          continue;
        }
        let d = 0;
        for (let p = 0; p < c.k; p++) d += x.a[i * c.k + p]! * x.w[j * c.k + p]!;
        const want = Math.fround(Math.fround(x.sa[i]! * x.sw[j]!) * Math.fround(d));
        assert.equal(got[i * c.n + j], want, ctx(`m${c.m} n${c.n} k${c.k} C[${i},${j}]`));
      }
  }
});

test("ref matmul_q8's int32 mode gives the exact integer dot products (row-parallel partial sums)", () => {
  const rng = rngFor("ref-q8-i32");
  for (const c of q8Cases(rng).slice(0, 60)) {
    const x = q8Inputs(rng, c);
    const got = run("ref", "matmul_q8", { ...x, int32: true }) as Int32Array;
    assert.ok(got instanceof Int32Array);
    for (let i = 0; i < c.m; i++)
      for (let j = 0; j < c.n; j++) {
        let d = 0;
        if (j >= c.j0 && j < c.j1) for (let p = 0; p < c.k; p++) d += x.a[i * c.k + p]! * x.w[j * c.k + p]!;
        assert.equal(got[i * c.n + j], d, ctx(`m${c.m} n${c.n} k${c.k} D[${i},${j}]`));
      }
  }
});

for (const v of SIMD) {
  test(`${v}: matmul_q8's int32 mode equals ref's`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-q8-i32`);
    for (const c of q8Cases(rng)) {
      const x = { ...q8Inputs(rng, c), int32: true };
      assert.deepEqual(run(v, "matmul_q8", x), run("ref", "matmul_q8", x), ctx(`${v} m${c.m} n${c.n} k${c.k} j${c.j0}..${c.j1}`));
    }
  });

  test(`${v}: matmul_q8 equals ref bit for bit`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-q8`);
    for (const c of q8Cases(rng)) {
      const x = q8Inputs(rng, c);
      assert.deepEqual(run(v, "matmul_q8", x), run("ref", "matmul_q8", x), ctx(`${v} m${c.m} n${c.n} k${c.k} j${c.j0}..${c.j1}`));
    }
  });

  test(`${v}: quantize_q8 gives the reference codes and scale`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-quantize`);
    for (const n of [0, 1, 7, 8, 9, 63, 64, 65, 300, 2048]) {
      const x = randF32(rng, n, -3, 3);
      if (n > 3) x[2] = 0.5 * (x[0]! + x[1]!); // plus exact ties after scaling are rare; values vary anyway
      const a = run("ref", "quantize_q8", { n, x }) as { q: Int8Array; s: number };
      const b = run(v, "quantize_q8", { n, x }) as { q: Int8Array; s: number };
      assert.equal(b.s, a.s, ctx(`${v} scale n=${n}`));
      assert.deepEqual(b.q, a.q, ctx(`${v} codes n=${n}`));
      // static scale (w8a8-sq-static): values past the range clamp to +-127
      const fs = run(v, "quantize_q8", { n, x, fixed: 0.01 }) as { q: Int8Array; s: number };
      const fr = run("ref", "quantize_q8", { n, x, fixed: 0.01 }) as { q: Int8Array; s: number };
      assert.equal(fs.s, Math.fround(0.01), ctx(`${v} static scale kept`));
      assert.deepEqual(fs.q, fr.q, ctx(`${v} static codes n=${n}`));
    }
  });
}

test("ref quantize_q8: scale = max|x|/127, codes round x/scale to nearest, zero rows, padding", () => {
  const x = new Float32Array([0.5, -1.27, 0.0, 1.27, 0.3]);
  const r = run("ref", "quantize_q8", { n: 5, x }) as { q: Int8Array; s: number };
  assert.equal(r.s, Math.fround(Math.fround(1.27) / 127));
  assert.deepEqual(Array.from(r.q.slice(0, 5)), [50, -127, 0, 127, 30]);
  assert.equal(r.q.length, 64);
  assert.ok(r.q.slice(5).every((v) => v === 0), "padding is zero");
  const z = run("ref", "quantize_q8", { n: 3, x: new Float32Array(3) }) as { q: Int8Array; s: number };
  assert.equal(z.s, 0);
  assert.ok(z.q.every((v) => v === 0));
});

interface Q4Case { m: number; n: number; k: number; group: number; j0: number; j1: number }
function q4Cases(rng: () => number): Q4Case[] {
  const out: Q4Case[] = [];
  for (const m of [1, 2, 3, 4, 5, 7, 9, 15, 16, 70])
    for (const n of [1, 3, 4, 5, 17, 33])
      for (const k of [32, 64, 96, 256, 768])
        for (const group of [32, 128, k]) {
          if (k % group) continue;
          const j0 = 4 * Math.floor(rng() * (Math.floor(n / 4) + 1));
          out.push({ m, n, k, group, j0: 0, j1: n }, { m, n, k, group, j0, j1: j0 + Math.floor(rng() * (n - j0 + 1)) });
        }
  return out;
}

function q4Inputs(rng: () => number, c: Q4Case) {
  const ng = c.k / c.group;
  return {
    ...c,
    // codes in [-32767, 32767] (some at the ends); scales make activations ~[-1, 1], some groups zero
    a: Int16Array.from({ length: c.m * c.k }, () => (rng() < 0.02 ? (rng() < 0.5 ? -32767 : 32767) : Math.round((rng() * 2 - 1) * 32767))),
    sx: Float32Array.from({ length: c.m * ng }, () => (rng() < 0.05 ? 0 : (0.1 + 0.9 * rng()) / 32767)),
    w: Uint8Array.from({ length: c.n * c.k }, () => Math.floor(rng() * 16)),
    s: Float32Array.from({ length: c.n * ng }, () => (rng() < 0.05 ? 0 : rng() * 0.1)),
    o: randF32(rng, c.n * ng, -0.8, 0.8),
  };
}
type Q4Inputs = Pick<ReturnType<typeof q4Inputs>, "k" | "group" | "a" | "sx" | "w" | "s" | "o">;

/** asum[i, g] as the harness and quantize_a16 define it: sx * f32(exact sum of the group's codes). */
function q4Asum(x: Q4Inputs, i: number, g: number): number {
  let isum = 0;
  for (let p = g * x.group; p < (g + 1) * x.group; p++) isum += x.a[i * x.k + p]!;
  return Math.fround(x.sx[i * (x.k / x.group) + g]! * Math.fround(isum));
}

/** float64 value and |terms| bound of one output. */
function q4Exact(x: Q4Inputs, i: number, j: number): { v: number; mag: number } {
  const ng = x.k / x.group;
  let v = 0, mag = 0;
  for (let g = 0; g < ng; g++) {
    let d = 0, dm = 0;
    for (let p = g * x.group; p < (g + 1) * x.group; p++) {
      d += x.w[j * x.k + p]! * x.a[i * x.k + p]!;
      dm += Math.abs(x.w[j * x.k + p]! * x.a[i * x.k + p]!);
    }
    const sc = x.s[j * ng + g]! * x.sx[i * ng + g]!, as = q4Asum(x, i, g);
    v += sc * d + x.o[j * ng + g]! * as;
    mag += Math.abs(sc) * dm + Math.abs(x.o[j * ng + g]! * as);
  }
  return { v, mag };
}

test("ref matmul_q4 matches a float64 JS computation", () => {
  const rng = rngFor("ref-q4");
  for (const c of q4Cases(rng).filter((_, i) => i % 7 === 0)) {
    const x = q4Inputs(rng, c);
    const got = run("ref", "matmul_q4", x) as Float32Array;
    for (let i = 0; i < c.m; i++)
      for (let j = 0; j < c.n; j++) {
        if (j < c.j0 || j >= c.j1) {
          assert.equal(got[i * c.n + j], 0, ctx("untouched column"));
          continue;
        }
        const { v, mag } = q4Exact(x, i, j);
        assert.ok(Math.abs(got[i * c.n + j]! - v) <= 2 * (c.k / c.group + 2) * 2 ** -24 * mag + 1e-6, ctx(`m${c.m} n${c.n} k${c.k} g${c.group} C[${i},${j}]=${got[i * c.n + j]} want ${v}`));
      }
  }
});

for (const v of SIMD) {
  test(`${v}: matmul_q4 matches ref (groups 32/128/per-channel, odd m and n, column subranges)`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-q4`);
    for (const c of q4Cases(rng)) {
      const x = q4Inputs(rng, c);
      const got = run(v, "matmul_q4", x) as Float32Array;
      const want = run("ref", "matmul_q4", x) as Float32Array;
      for (let i = 0; i < c.m; i++)
        for (let j = 0; j < c.n; j++) {
          if (j < c.j0 || j >= c.j1) {
            assert.equal(got[i * c.n + j], 0, ctx(`${v} untouched column ${j}`));
            continue;
          }
          const tol = 1e-5 * q4Exact(x, i, j).mag + 1e-6;
          const d = Math.abs(got[i * c.n + j]! - want[i * c.n + j]!);
          assert.ok(d <= tol, ctx(`${v} m${c.m} n${c.n} k${c.k} g${c.group} C[${i},${j}]: ${got[i * c.n + j]} vs ref ${want[i * c.n + j]}`));
        }
    }
  });
}

const ALL = ["ref", ...SIMD] as const;

test("w4a16 group dots past int32 (15 x 32767 x k > 2^31) are right on every variant, decode and prefill", (t) => {
  // per channel (one group of k) with every code 15 and every activation at +-32767:
  // k = 4096 is the largest int32-safe block (2013216768), k = 8192 and 12288 need several
  for (const k of [4096, 8192, 12288])
    for (const m of [1, 2, 3, 4, 5, 20])
      for (const sign of [1, -1]) {
        const n = 5;
        const x = {
          m, n, k, group: k, j0: 0, j1: n,
          a: new Int16Array(m * k).fill(sign * 32767),
          sx: new Float32Array(m).fill(1 / 32767),
          w: new Uint8Array(n * k).fill(15),
          s: new Float32Array(n).fill(0.5),
          o: new Float32Array(n).fill(0),
        };
        const want = sign * 0.5 * 15 * k; // s * sx * 15 * 32767 * k
        for (const v of ALL) {
          if (v !== "ref" && skipReason(v)) continue;
          const got = run(v, "matmul_q4", x) as Float32Array;
          for (let e = 0; e < m * n; e++)
            assert.ok(Math.abs(got[e]! - want) <= 1e-5 * Math.abs(want), ctx(`${v} k${k} m${m} sign ${sign}: ${got[e]} vs ${want}`));
        }
      }
  if (skipReason("avx512")) t.diagnostic(`avx512 not checked here: ${skipReason("avx512")}`);
});

test("ref quantize_a16: per-group scale max|x|/32767, codes round x/sx, exact group sums, padding, zero and tiny groups", () => {
  const x = new Float32Array(70);
  x[0] = 0.5; x[1] = -1.0; x[2] = 0.25; x[5] = 1e-3;         // group 0: max 1.0
  x[32] = 2.0; x[33] = -0.75;                                  // group 1: max 2.0
  x[64] = 1e-38; x[65] = -1e-38;                               // group 2: 1 / sx overflows -> zeros
  const r = run("ref", "quantize_a16", { n: 70, group: 32, x }) as { q: Int16Array; sx: Float32Array; asum: Float32Array };
  assert.equal(r.q.length, 96);
  const s0 = Math.fround(1 / 32767), s1 = Math.fround(Math.fround(2) / 32767);
  assert.deepEqual(Array.from(r.sx), [s0, s1, 0]);
  const code = (v: number, sx: number) => Math.round(Math.fround(v * Math.fround(1 / sx))); // no exact .5 ties here
  assert.deepEqual(Array.from(r.q.slice(0, 6)), [code(0.5, s0), -32767, code(0.25, s0), 0, 0, code(1e-3, s0)]);
  assert.deepEqual(Array.from(r.q.slice(32, 34)), [32767, code(-0.75, s1)]);
  assert.ok(r.q.slice(64).every((v) => v === 0), "tiny group and padding are zero");
  let isum0 = 0;
  for (let p = 0; p < 32; p++) isum0 += r.q[p]!;
  assert.equal(r.asum[0], Math.fround(s0 * isum0));
  assert.equal(r.asum[2], 0);
  const z = run("ref", "quantize_a16", { n: 40, group: 128, x: new Float32Array(40) }) as { q: Int16Array; sx: Float32Array; asum: Float32Array };
  assert.deepEqual([z.sx[0], z.asum[0], z.q.length, z.q.every((v) => v === 0)], [0, 0, 128, true]);
});

for (const v of SIMD) {
  test(`${v}: quantize_a16 gives the reference codes, scales and group sums bit for bit`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-quantize-a16`);
    for (const group of [32, 128, 4096])
      for (const n of [0, 1, 7, 8, 9, 31, 33, 63, 100, 257, 2048, 5000]) {
        const x = randF32(rng, n, -3, 3);
        for (let p = 0; p < n; p++) if (rng() < 0.01) x[p] = rng() < 0.5 ? 0 : 40 * (rng() - 0.5); // zeros and outliers
        if (n > 40) x.fill(0, 32, 40); // a partly zero group
        const a = run("ref", "quantize_a16", { n, group, x }) as { q: Int16Array; sx: Float32Array; asum: Float32Array };
        const b = run(v, "quantize_a16", { n, group, x }) as { q: Int16Array; sx: Float32Array; asum: Float32Array };
        assert.deepEqual(b.sx, a.sx, ctx(`${v} sx n=${n} g${group}`));
        assert.deepEqual(b.asum, a.asum, ctx(`${v} asum n=${n} g${group}`));
        assert.deepEqual(b.q, a.q, ctx(`${v} codes n=${n} g${group}`));
      }
  });
}

test("runKernel rejects int4 shapes whose group does not divide k, codes > 15, activations of -32768 or of the wrong type", () => {
  const base = { m: 1, n: 4, k: 96, j0: 0, j1: 4, a: new Int16Array(96), sx: new Float32Array(3), w: new Uint8Array(384), s: new Float32Array(16), o: new Float32Array(16) };
  assert.throws(() => run("ref", "matmul_q4", { ...base, group: 64 }), /group dividing k/);
  assert.throws(() => run("ref", "matmul_q4", { ...base, group: 32, w: new Uint8Array(384).fill(16) }), /\[0, 15\]/);
  assert.throws(() => run("ref", "matmul_q4", { ...base, group: 32, a: new Int16Array(96).fill(-32768) }), /\[-32767, 32767\]/);
  assert.throws(() => run("ref", "matmul_q4", { ...base, group: 32, a: new Float32Array(96) }), /wrong type/);
  assert.throws(() => run("ref", "quantize_a16", { n: 4, group: 48, x: new Float32Array(4) }), /multiple of 32/);
});
