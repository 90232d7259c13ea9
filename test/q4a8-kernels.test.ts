/**
 * int4-weight x int8-activation kernels (w4a8) against the scalar reference
 * and against float64 JS arithmetic, on fresh random inputs (seed printed;
 * LOWBIT_TEST_SEED), plus the Integer Scale amplifier and its int32 bound.
 *  - integer scales: the int32 sum is exact, so SIMD must equal ref bit for bit
 *    and ref must equal (float)(exact sum) * (sa / alpha).
 *  - float scales: the SIMD kernels convert per-lane partial sums of the
 *    unsigned codes u = q + 8 (each lane corrected by a quarter of 8 * isum) to
 *    f32, so their rounding is relative to those lanes' size:
 *    |simd - ref| <= 1e-5 * sum_g s_g * (sum_p u_p |a_p| + 8 |isum_g|) + 1e-6.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SEED, SIMD, randF32, rngFor, run, skipReason } from "./helpers/kernels.js";

const ctx = (msg: string) => `${msg} (seed ${SEED})`;
const INT32_MAX = 2 ** 31 - 1;
// native q4a8 specs (src/native.ts NativeQ4A8Spec): groups of 128 with integer scales
const IS128 = { format: "q4a8", group: 128, amplifier: "heuristic" } as const;
const IS128_1024 = { format: "q4a8", group: 128, amplifier: 1024 } as const;
const IS128_MAX = { format: "q4a8", group: 128, amplifier: "max" } as const;

interface Case { m: number; n: number; k: number; group: number; j0: number; j1: number }
function cases(rng: () => number): Case[] {
  const out: Case[] = [];
  for (const m of [1, 2, 3, 5, 8])
    for (const n of [1, 4, 5, 13, 37])
      for (const [k, group] of [[32, 32], [96, 32], [128, 128], [384, 128], [640, 32]] as const) {
        const j0 = 4 * Math.floor(rng() * (Math.floor(n / 4) + 1));
        out.push({ m, n, k, group, j0: 0, j1: n }, { m, n, k, group, j0, j1: j0 + Math.floor(rng() * (n - j0 + 1)) });
      }
  return out;
}

function inputs(rng: () => number, c: Case, intScales: boolean) {
  const ng = c.k / c.group;
  const a = Int8Array.from({ length: c.m * c.k }, () => Math.floor(rng() * 255) - 127);
  const w = Uint8Array.from({ length: c.n * c.k }, () => Math.floor(rng() * 16));
  const sa = randF32(rng, c.m, 0, 0.05);
  if (intScales) {
    const si = Int32Array.from({ length: c.n * ng }, () => Math.floor(rng() * 2000));
    return { ...c, a, w, sa, si, invAlpha: 1 / 1024 };
  }
  return { ...c, a, w, sa, s: randF32(rng, c.n * ng, 0, 0.05) };
}

/** exact per-group dots d[g] = sum (q - 8) * a, for (row i, weight row j) */
function groupDots(x: { a: Int8Array; w: Uint8Array; k: number; group: number }, i: number, j: number): number[] {
  const d: number[] = [];
  for (let g = 0; g < x.k / x.group; g++) {
    let t = 0;
    for (let p = g * x.group; p < (g + 1) * x.group; p++) t += (x.w[j * x.k + p]! - 8) * x.a[i * x.k + p]!;
    d.push(t);
  }
  return d;
}

test("ref matmul_q4a8 matches float64 JS (float scales) and is exact (integer scales)", () => {
  const rng = rngFor("ref-q4a8");
  for (const c of cases(rng).slice(0, 80)) {
    for (const intScales of [false, true]) {
      const x = inputs(rng, c, intScales);
      const got = run("ref", "matmul_q4a8", x) as Float32Array;
      for (let i = 0; i < c.m; i++)
        for (let j = 0; j < c.n; j++) {
          const at = `m${c.m} n${c.n} k${c.k} g${c.group} ${intScales ? "is" : "fs"} C[${i},${j}]`;
          if (j < c.j0 || j >= c.j1) {
            assert.equal(got[i * c.n + j], 0, ctx(`untouched column ${at}`));
            continue;
          }
          const d = groupDots(x, i, j);
          if ("si" in x) {
            const sum = d.reduce((t, dg, g) => t + x.si[j * d.length + g]! * dg, 0);
            const want = Math.fround(Math.fround(sum) * Math.fround(x.sa[i]! * x.invAlpha));
            assert.equal(got[i * c.n + j], want, ctx(at));
          } else {
            let want = 0, mag = 0;
            d.forEach((dg, g) => { want += x.s[j * d.length + g]! * dg; mag += Math.abs(x.s[j * d.length + g]! * dg); });
            assert.ok(Math.abs(got[i * c.n + j]! - want * x.sa[i]!) <= (1e-5 * mag + 1e-6) * x.sa[i]!, ctx(`${at}: ${got[i * c.n + j]} vs ${want * x.sa[i]!}`));
          }
        }
    }
  }
});

for (const v of SIMD) {
  test(`${v}: matmul_q4a8 (float scales) within the f32 bound, integer scales bit for bit`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-q4a8`);
    for (const c of cases(rng)) {
      for (const intScales of [false, true]) {
        const x = inputs(rng, c, intScales);
        const ref = run("ref", "matmul_q4a8", x) as Float32Array;
        const got = run(v, "matmul_q4a8", x) as Float32Array;
        const at = `m${c.m} n${c.n} k${c.k} g${c.group} j[${c.j0},${c.j1})`;
        if (intScales) {
          assert.deepEqual(got, ref, ctx(at));
          continue;
        }
        for (let i = 0; i < c.m; i++)
          for (let j = 0; j < c.n; j++) {
            const e = i * c.n + j;
            if (j < c.j0 || j >= c.j1) { assert.equal(got[e], 0, ctx(`untouched ${at}`)); continue; }
            let mag = 0;
            for (let g = 0; g < c.k / c.group; g++) {
              let ua = 0, isum = 0;
              for (let p = g * c.group; p < (g + 1) * c.group; p++) {
                ua += x.w[j * c.k + p]! * Math.abs(x.a[i * c.k + p]!);
                isum += x.a[i * c.k + p]!;
              }
              mag += (x as { s: Float32Array }).s[j * (c.k / c.group) + g]! * (ua + 8 * Math.abs(isum));
            }
            assert.ok(Math.abs(got[e]! - ref[e]!) <= (1e-5 * mag + 1e-6) * x.sa[i]!, ctx(`${at} C[${i},${j}]: ${got[e]} vs ${ref[e]}`));
          }
      }
    }
  });

  test(`${v}: integer-scale sums at the int32 limit are exact (worst-case activations)`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    // Every code at -8 or +7 (|q - 8| maximal), activations +-127 aligned with
    // the sign, so every product adds to the sum; integer scales chosen so the
    // sum is exactly INT32_MAX - r (r < 1016), just below the limit.
    const k = 2048, group = 128, ng = k / group, n = 4;
    const rng = rngFor(`${v}-q4a8-limit`);
    const w = Uint8Array.from({ length: n * k }, () => (rng() < 0.5 ? 0 : 15));
    const a = new Int8Array(k);
    for (let p = 0; p < k; p++) a[p] = w[p]! === 0 ? -127 : 127; // row 0's signs
    const si = new Int32Array(n * ng);
    for (let j = 0; j < n; j++) {
      // worst case of row j: sum_g si * 127 * sum_p |q - 8|
      let l1 = 0;
      for (let p = 0; p < k; p++) l1 += Math.abs(w[j * k + p]! - 8);
      const per = Math.floor(INT32_MAX / (127 * l1));
      si.fill(per, j * ng, (j + 1) * ng);
    }
    const x = { m: 1, n, k, group, j0: 0, j1: n, a, w, sa: Float32Array.of(1), si, invAlpha: 1 };
    const got = run(v, "matmul_q4a8", x) as Float32Array;
    let sum = 0;
    for (let p = 0; p < k; p++) sum += si[0]! * (w[p]! - 8) * a[p]!;
    assert.ok(sum > INT32_MAX - 127 * 8 * k && sum <= INT32_MAX, `the case reaches the limit (${sum})`);
    assert.equal(got[0], Math.fround(sum), ctx("row 0 at the limit"));
    assert.deepEqual(got, run("ref", "matmul_q4a8", x), ctx("SIMD equals ref"));
  });
}

test("Integer Scale amplifiers: heuristic, fixed 1024 and max all keep the worst-case sum within int32", () => {
  const rng = rngFor("q4a8-amp");
  const n = 24, k = 5632;
  // Realistic magnitudes (std ~0.02) plus groups of tiny and of huge weights,
  // so the heuristic asks for a large alpha that must be capped.
  const w = randF32(rng, n * k, -0.05, 0.05);
  for (let p = 0; p < 128; p++) w[p] = 1e-6 * (rng() - 0.5);
  for (let p = 128; p < 256; p++) w[k + p] = 40 * (rng() - 0.5);
  const specs = { "q4a8-g128-is": IS128, "q4a8-g128-is-1024": IS128_1024, "q4a8-g128-is-max": IS128_MAX, "q4a8-g32-is-max": { format: "q4a8", group: 32, amplifier: "max" } };
  for (const [format, spec] of Object.entries(specs)) {
    const r = run("ref", "quantize_q4a8", { n, k, w, format: spec }) as { alpha: number; bound: number; si: Int32Array; s: Float32Array; codes: Uint8Array; kp: number; sseFloat: number; sseInt: number };
    assert.ok(r.bound <= INT32_MAX, `${format}: bound ${r.bound}`);
    assert.ok(Number.isInteger(Math.log2(r.alpha)), `${format}: alpha ${r.alpha} is a power of two`);
    // the bound is the real worst case: recompute it from the returned codes and integer scales
    const group = format.includes("g32") ? 32 : 128, ng = r.kp / group;
    let worst = 0;
    for (let j = 0; j < n; j++) {
      let t = 0;
      for (let p = 0; p < r.kp; p++) t += r.si[j * ng + Math.floor(p / group)]! * Math.abs(r.codes[j * r.kp + p]! - 8) * 127;
      worst = Math.max(worst, t);
    }
    assert.equal(worst, r.bound, `${format}: reported bound`);
    // doubling alpha would break the bound (max), or alpha is what was asked for
    if (format.endsWith("-max")) {
      const twice = run("ref", "quantize_q4a8", { n, k, w, format: { ...spec, amplifier: r.alpha * 2 } }) as { alpha: number };
      assert.equal(twice.alpha, r.alpha, `${format}: 2 * alpha is capped back`);
    }
    if (format.endsWith("-1024")) assert.ok(r.alpha <= 1024);
    assert.ok(r.sseInt >= 0 && r.sseFloat > 0);
  }
  const heur = run("ref", "quantize_q4a8", { n, k, w, format: IS128 }) as { alpha: number; s: Float32Array };
  const minS = Math.min(...Array.from(heur.s).filter((x) => x > 0));
  const wanted = 2 ** Math.ceil(Math.log2(1 / minS));
  assert.ok(heur.alpha <= wanted, "the heuristic asks for the smallest 2^n lifting the min scale to >= 1");
  assert.ok(heur.alpha < wanted, "...and the int32 cap lowers it for these huge weights");
});

test("integer scales with a large amplifier approximate float scales closely (weight MSE)", () => {
  const rng = rngFor("q4a8-mse");
  const n = 64, k = 1024;
  const w = randF32(rng, n * k, -0.04, 0.04);
  type Q = { alpha: number; sseFloat: number; sseInt: number; codes: Uint8Array; s: Float32Array; si: Int32Array; kp: number };
  const get = (format: object) => run("ref", "quantize_q4a8", { n, k, w, format }) as Q;
  const max = get(IS128_MAX), fixed = get(IS128_1024), heur = get(IS128);
  // the native squared-error sums equal a float64 dequantization of the returned codes and scales
  for (const r of [max, fixed, heur]) {
    let sf = 0, si = 0;
    for (let j = 0; j < n; j++)
      for (let p = 0; p < k; p++) {
        const g = j * (r.kp / 128) + Math.floor(p / 128), q = r.codes[j * r.kp + p]! - 8, x = w[j * k + p]!;
        sf += (r.s[g]! * q - x) ** 2;
        si += ((r.si[g]! / r.alpha) * q - x) ** 2;
      }
    assert.ok(Math.abs(sf - r.sseFloat) <= 1e-6 * sf, `float-scale SSE ${r.sseFloat} vs ${sf}`);
    assert.ok(Math.abs(si - r.sseInt) <= 1e-6 * si, `integer-scale SSE ${r.sseInt} vs ${si}`);
  }
  // the integer-scale error is the float-scale error plus the scale rounding
  assert.ok(max.sseInt >= max.sseFloat * 0.999 && max.sseInt <= max.sseFloat * 1.001, `max: ${max.sseInt} vs ${max.sseFloat}`);
  assert.ok(fixed.sseInt > max.sseInt, "1024 rounds the scales more coarsely than the max amplifier");
  assert.ok(heur.alpha <= fixed.alpha || heur.sseInt <= fixed.sseInt);
});

test("bad q4a8 formats and shapes are rejected", () => {
  const w = new Float32Array(64 * 4);
  // (formerly the strings q4a8-g64, q4a8-g128-is-1000, q4a8-g128-is-, q4a8-g128-asym, q4a8-g128-isx, and a non-q4a8 format)
  const bad = [{ format: "q4a8", group: 64 }, { ...IS128, amplifier: 1000 }, { ...IS128, amplifier: "" }, { format: "q4a8", group: 128, asym: true },
    { ...IS128, amplifier: "x" }, { ...IS128, amplifier: 0.5 }, { format: "q4a8" }, { format: "q4", group: 128 }, "q4a8-g128"];
  for (const format of bad)
    assert.throws(() => run("ref", "quantize_q4a8", { n: 4, k: 64, w, format }), /q4a8 format/, JSON.stringify(format));
  assert.throws(() => run("ref", "matmul_q4a8", { m: 1, n: 4, k: 256, group: 256, j0: 0, j1: 4, a: new Int8Array(256), sa: new Float32Array(1), w: new Uint8Array(1024), s: new Float32Array(4) }), /group/);
});
