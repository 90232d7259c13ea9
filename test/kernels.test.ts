/**
 * Kernel variants vs the scalar reference, through the addon's runKernel entry
 * point (native/src/addon_kernels.cc), plus the reference itself vs an
 * independent float64 computation in JS.
 *
 * Inputs are fresh random numbers each run. The seed is printed in every
 * assertion message; rerun a failure with LOWBIT_TEST_SEED=<seed>.
 *
 * The attention and SwiGLU kernels (dot_rows, attn_pv, exp_sum, silu_mul)
 * follow llama.cpp's numerics (kernels/ggml.h) on every variant: SIMD = ref
 * bit for bit, including the leftover elements, partial chunks, -inf inputs
 * and the exp's out-of-range paths.
 *
 * Tolerances elsewhere (u = 2^-24, the f32 unit roundoff):
 *  - dot products / sums (matmul, sumsq): |simd - ref| <= 1e-5 * sum_k
 *    |a_k w_k| + 1e-6. Both sides add the
 *    same products and differ only in summation order (blocked SIMD lanes +
 *    FMA vs one sequential f32 sum). Each side's error against the exact sum is
 *    at most about k*u*sum|a w| in the worst case and ~sqrt(k)*u*sum|a w| for
 *    random signs (~1e-6 for k = 257), so 1e-5 never trips on correct
 *    kernels, while an indexing bug (a dropped, doubled or misplaced term)
 *    gives an error of the order of one whole term.
 *  - bf16 conversions, max and scale_mul: exact (same IEEE operations in the
 *    same order, or pure bit manipulation).
 *  - ref vs float64: the rigorous recursive-summation bound
 *    |fl(sum) - sum| <= gamma_k * sum|a w|, gamma_k = k*u / (1 - k*u).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { A, cpu, features, SEED, U, rngFor, randF32, run, SIMD, AVAILABLE, skipReason, variantAvailable, REQUIRED } from "./helpers/kernels.js";


/** Independent JS model of f32 -> bf16 round-to-nearest-even (NaN -> quiet NaN keeping sign/high payload). */
function bf16FromBits(u: number): number {
  u >>>= 0;
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  const lower = u & 0xffff;
  let hi = u >>> 16;
  if (lower > 0x8000 || (lower === 0x8000 && (hi & 1) === 1)) hi += 1; // may carry into the exponent: max finite -> Inf
  return hi & 0xffff;
}
function bf16ToF32(h: number): number {
  const b = new Uint32Array([h << 16]);
  return new Float32Array(b.buffer)[0];
}
function randBf16(rng: () => number, n: number, lo = -1, hi = 1): Uint16Array {
  const f = randF32(rng, n, lo, hi);
  const bits = new Uint32Array(f.buffer);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = bf16FromBits(bits[i]);
  return out;
}

const KS = [1, 7, 15, 16, 17, 31, 33, 100, 257];
const MS = [1, 2, 3, 4, 5, 9];
const NS = [1, 3, 4, 5, 17, 33];
const LENS = [0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 257];

const ctx = (v: string, what: string) => `[${v}] ${what} (seed ${SEED}; rerun with LOWBIT_TEST_SEED=${SEED})`;

/** Asserts C[:, j] == 0 outside [j0, j1) and |simd - ref| within the dot-product bound inside. */
function checkMatmul(
  v: string,
  kernel: "matmul_f32" | "matmul_bf16",
  m: number,
  n: number,
  k: number,
  j0: number,
  j1: number,
  a: Float32Array | Uint16Array,
  w: Float32Array | Uint16Array,
): void {
  const args = { m, n, k, j0, j1, a, w };
  const ref = run("ref", kernel, args) as Float32Array;
  const got = run(v, kernel, args) as Float32Array;
  const val = (arr: Float32Array | Uint16Array, i: number) => (arr instanceof Uint16Array ? bf16ToF32(arr[i]) : arr[i]);
  assert.equal(got.length, m * n, ctx(v, `${kernel} output length`));
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      const where = `${kernel} m=${m} n=${n} k=${k} j0=${j0} j1=${j1} C[${i},${j}]`;
      if (j < j0 || j >= j1) {
        assert.ok(Object.is(got[i * n + j], 0) && Object.is(ref[i * n + j], 0), ctx(v, `${where} outside [j0, j1) was written: simd=${got[i * n + j]} ref=${ref[i * n + j]}`));
        continue;
      }
      let mag = 0;
      for (let p = 0; p < k; p++) mag += Math.abs(val(a, i * k + p) * val(w, j * k + p));
      const tol = 1e-5 * mag + 1e-6;
      const d = Math.abs(got[i * n + j] - ref[i * n + j]);
      assert.ok(d <= tol, ctx(v, `${where}: simd=${got[i * n + j]} ref=${ref[i * n + j]} |diff|=${d} > tol=${tol}`));
    }
}

function matmulCases(rng: () => number): Array<[number, number, number, number, number]> {
  const cases: Array<[number, number, number, number, number]> = [];
  for (const m of MS)
    for (const n of NS)
      for (const k of KS) {
        cases.push([m, n, k, 0, n]); // full range
        // j0 is a multiple of 4 (threads own whole packed row groups); j1 anywhere
        const j0 = 4 * Math.floor(rng() * (Math.floor(n / 4) + 1));
        const j1 = j0 + Math.floor(rng() * (n - j0 + 1));
        cases.push([m, n, k, j0, j1]); // random subrange (possibly empty)
      }
  // Larger shapes crossing the drivers' 64-row and 16-column blocks with an
  // column subrange whose end is not a multiple of 4.
  cases.push([70, 40, 300, 4, 37], [65, 48, 129, 16, 48], [1, 100, 1000, 8, 97], [130, 20, 64, 0, 19]);
  return cases;
}

for (const v of SIMD) {
  test(`${v}: matmul_f32 matches ref (all size combos, column subranges, untouched columns stay 0)`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-matmul_f32`);
    for (const [m, n, k, j0, j1] of matmulCases(rng)) {
      checkMatmul(v, "matmul_f32", m, n, k, j0, j1, randF32(rng, m * k), randF32(rng, n * k));
    }
  });

  test(`${v}: matmul_bf16 (bf16 activations and weights) matches ref`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-matmul_bf16`);
    for (const [m, n, k, j0, j1] of matmulCases(rng)) {
      checkMatmul(v, "matmul_bf16", m, n, k, j0, j1, randBf16(rng, m * k), randBf16(rng, n * k));
    }
  });

  test(`${v}: dot_rows equals ref bit for bit (strided K, every leftover length)`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-dot_rows`);
    for (const nk of [0, 1, 3, 4, 5, 17, 33])
      for (const d of [...KS, 32, 44, 64, 76, 80, 128])
        for (const pad of [0, 3, 16]) {
          const ldk = d + pad;
          const q = randF32(rng, d);
          const K = randF32(rng, nk ? (nk - 1) * ldk + d : 0);
          const scale = Math.fround(0.1 + rng());
          const args = { nk, d, ldk, q, k: K, scale };
          const ref = run("ref", "dot_rows", args) as Float32Array;
          const got = run(v, "dot_rows", args) as Float32Array;
          assert.equal(got.length, nk);
          for (let r = 0; r < nk; r++)
            assert.ok(Object.is(got[r], ref[r]), ctx(v, `dot_rows nk=${nk} d=${d} ldk=${ldk} row ${r}: simd=${got[r]} ref=${ref[r]}`));
        }
  });

  test(`${v}: attn_pv equals ref bit for bit (8 and 32 lanes, strided V, partial lanes and dims)`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-attn_pv`);
    for (const lanes of [8, 32])
      for (const nk of [0, 1, 2, 3, 5, 8, 17, 33, 64, 100])
        for (const d of [1, 7, 8, 15, 17, 64, 100])
          for (const pad of [0, 5]) {
            const ldv = d + pad;
            const w = randF32(rng, nk, 0, 1);
            const V = randF32(rng, nk ? (nk - 1) * ldv + d : 0);
            const args = { nk, d, ldv, lanes, w, v: V };
            const ref = run("ref", "attn_pv", args) as Float32Array;
            const got = run(v, "attn_pv", args) as Float32Array;
            assert.equal(got.length, d);
            for (let p = 0; p < d; p++)
              assert.ok(Object.is(got[p], ref[p]), ctx(v, `attn_pv lanes=${lanes} nk=${nk} d=${d} ldv=${ldv} out[${p}]: simd=${got[p]} ref=${ref[p]}`));
          }
  });

  test(`${v}: attn_pv in pieces (acc over row ranges, then reduce) equals the reference attn_pv bit for bit`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-attn_pv_pieces`);
    for (const lanes of [8, 32])
      for (const nk of [1, 3, 9, 40, 100])
        for (const d of [5, 8, 17, 64]) {
          const ldv = d + 3;
          const w = randF32(rng, nk, 0, 1);
          const V = randF32(rng, (nk - 1) * ldv + d);
          const ref = run("ref", "attn_pv", { nk, d, ldv, lanes, w, v: V }) as Float32Array;
          // one piece; pieces of odd sizes (lanes wrap inside a piece); an empty piece
          const inner = Array.from({ length: Math.min(4, nk - 1) }, () => 1 + Math.floor(rng() * (nk - 1))).sort((a, b) => a - b);
          for (const cuts of [[0, nk], [0, ...inner, nk], [0, 0, Math.floor(nk / 2), Math.floor(nk / 2), nk]])
            for (const variant of ["ref", v]) {
              const got = run(variant, "attn_pv_pieces", { nk, d, ldv, lanes, w, v: V, cuts: Int32Array.from(cuts) }) as Float32Array;
              for (let p = 0; p < d; p++)
                assert.ok(Object.is(got[p], ref[p]), ctx(v, `${variant} attn_pv pieces ${cuts.join(",")} lanes=${lanes} nk=${nk} d=${d} out[${p}]: ${got[p]} vs ${ref[p]}`));
            }
        }
  });

  test(`${v}: exp_sum equals ref bit for bit (x - max down to -110, -inf entries, partial chunks)`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-exp_sum`);
    for (const n of LENS)
      for (let rep = 0; rep < 4; rep++) {
        const max = Math.fround(rep === 0 ? 0 : -5 + 10 * rng());
        const x = new Float32Array(n);
        // x - max in [-110, 0] (below about -87.3 the exp takes its two-factor path) and some -inf (masked cells)
        for (let i = 0; i < n; i++) x[i] = rng() < 0.1 ? -Infinity : Math.max(max - 110, max - 110 * rng());
        const args = { n, x, max };
        const ref = run("ref", "exp_sum", args) as Float32Array;
        const got = run(v, "exp_sum", args) as Float32Array;
        assert.equal(got.length, n + 1);
        for (let i = 0; i <= n; i++)
          assert.ok(Object.is(got[i], ref[i]), ctx(v, `exp_sum n=${n} max=${max} ${i < n ? `x[${i}]=${x[i]}` : "sum"}: simd=${got[i]} ref=${ref[i]}`));
      }
  });

  test(`${v}: max is exact (all-negative inputs, max at every lane position)`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-max`);
    for (const n of LENS) {
      for (let rep = 0; rep < 3; rep++) {
        const x = randF32(rng, n, -100, rep === 0 ? -50 : 100);
        const ref = run("ref", "max", { n, x }) as number;
        assert.equal(run(v, "max", { n, x }), ref, ctx(v, `max n=${n}`));
        assert.equal(ref, n ? Math.max(...x) : -Infinity, ctx("ref", `max n=${n} vs Math.max`));
      }
      for (let pos = 0; pos < n; pos++) {
        const x = randF32(rng, n, -10, 0);
        x[pos] = 1;
        assert.equal(run(v, "max", { n, x }), 1, ctx(v, `max n=${n} with the maximum at index ${pos}`));
      }
    }
  });

  test(`${v}: sumsq matches ref within the summation bound`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-sumsq`);
    for (const n of LENS)
      for (let rep = 0; rep < 3; rep++) {
        const x = randF32(rng, n, -3, 3);
        const ref = run("ref", "sumsq", { n, x }) as number;
        const got = run(v, "sumsq", { n, x }) as number;
        let mag = 0;
        for (const e of x) mag += e * e;
        const tol = 1e-5 * mag + 1e-6;
        assert.ok(Math.abs(got - ref) <= tol, ctx(v, `sumsq n=${n}: simd=${got} ref=${ref} tol=${tol}`));
      }
  });

  test(`${v}: scale_mul is exact (same two roundings in the same order)`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-scale_mul`);
    for (const n of LENS) {
      const x = randF32(rng, n, -10, 10), w = randF32(rng, n, -2, 2);
      const s = Math.fround(0.01 + rng());
      const args = { n, x, y: w, s };
      const ref = run("ref", "scale_mul", args) as Float32Array;
      const got = run(v, "scale_mul", args) as Float32Array;
      assert.deepEqual(got, ref, ctx(v, `scale_mul n=${n} s=${s}`));
    }
  });

  test(`${v}: silu_mul equals ref bit for bit (g in [-100, 100], every tail length)`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-silu_mul`);
    for (const n of [...LENS, 1000])
      for (let rep = 0; rep < 3; rep++) {
        const g = randF32(rng, n, rep === 2 ? -100 : -20, rep === 2 ? 100 : 20), u = randF32(rng, n, -2, 2);
        const ref = run("ref", "silu_mul", { n, x: g, y: u }) as Float32Array;
        const got = run(v, "silu_mul", { n, x: g, y: u }) as Float32Array;
        assert.equal(got.length, n);
        for (let i = 0; i < n; i++)
          assert.ok(Object.is(got[i], ref[i]), ctx(v, `silu_mul n=${n} g=${g[i]} u=${u[i]}: simd=${got[i]} ref=${ref[i]}`));
      }
  });

  test(`${v}: f32_to_bf16 is bit-exact vs ref (ties to even, NaN, +-Inf, +-0, subnormals, overflow to Inf)`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const rng = rngFor(`${v}-f32_to_bf16`);
    const specials = SPECIAL_F32_BITS;
    // Specials at every lane position of a 16-wide vector, plus random bit patterns (incl. NaN payloads).
    for (const n of [...LENS, 64, 1000]) {
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = (rng() * 4294967296) >>> 0;
      for (let i = 0; i < n; i++) if (rng() < 0.5) bits[i] = specials[Math.floor(rng() * specials.length)];
      const x = new Float32Array(bits.buffer); // bits pass through untouched (no JS reads of NaNs)
      const ref = run("ref", "f32_to_bf16", { n, x }) as Uint16Array;
      const got = run(v, "f32_to_bf16", { n, x }) as Uint16Array;
      assert.ok(got instanceof Uint16Array && got.length === n);
      for (let i = 0; i < n; i++) {
        assert.equal(got[i], ref[i], ctx(v, `f32_to_bf16 n=${n} i=${i} in=0x${bits[i].toString(16).padStart(8, "0")}: simd=0x${got[i].toString(16)} ref=0x${ref[i].toString(16)}`));
      }
    }
    // Each special in a full 32-element vector (the SIMD body, not the scalar tail).
    for (const b of specials) {
      const bits = new Uint32Array(32).fill(b);
      const got = run(v, "f32_to_bf16", { n: 32, x: new Float32Array(bits.buffer) }) as Uint16Array;
      for (let i = 0; i < 32; i++) {
        assert.equal(got[i], bf16FromBits(b), ctx(v, `f32_to_bf16 of 0x${b.toString(16).padStart(8, "0")} (vector body, lane ${i}): got 0x${got[i].toString(16)} want 0x${bf16FromBits(b).toString(16)}`));
      }
    }
  });

  test(`${v}: bf16_to_f32 is bit-exact vs ref for all 65536 bf16 values (NaN payloads kept)`, (t) => {
    const why = skipReason(v);
    if (why) return t.skip(why);
    const x = new Uint16Array(65536 + 7); // +7: odd length exercises the scalar tail
    for (let i = 0; i < x.length; i++) x[i] = i & 0xffff;
    const ref = run("ref", "bf16_to_f32", { n: x.length, x }) as Float32Array;
    const got = run(v, "bf16_to_f32", { n: x.length, x }) as Float32Array;
    const rb = new Uint32Array(ref.buffer, ref.byteOffset, ref.length);
    const gb = new Uint32Array(got.buffer, got.byteOffset, got.length);
    for (let i = 0; i < x.length; i++) {
      assert.equal(gb[i], rb[i], ctx(v, `bf16_to_f32 0x${x[i].toString(16)}: simd=0x${gb[i].toString(16)} ref=0x${rb[i].toString(16)}`));
    }
  });
}

/** f32 bit patterns with special rounding behaviour in f32 -> bf16. */
const SPECIAL_F32_BITS: number[] = [
  0x00000000, 0x80000000, // +-0
  0x7f800000, 0xff800000, // +-Inf
  0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fbfffff, 0x7fc00001, 0x7fff0000, 0x7f810000, // NaNs: quiet, signalling, payload only in the low half
  0x00000001, 0x80000001, 0x00008000, 0x00018000, 0x00008001, 0x0000ffff, 0x007fffff, 0x807fffff, 0x00400000, // subnormals (ties, round up into normal)
  0x3f808000, 0x3f818000, 0xbf808000, 0xbf818000, // exact ties: to even (down) / to even (up)
  0x3f807fff, 0x3f808001, // just below / above a tie
  0x7f7fffff, 0xff7fffff, 0x7f7f8000, 0x7f7f7fff, // max finite rounds to Inf; ties near overflow
  0x00800000, 0x3f800000, 0x4049fdb0, // min normal, 1.0, ~pi
];

test("ref kernels agree with an independent float64 computation in JS", () => {
  const rng = rngFor("ref-vs-f64");
  const gamma = (k: number) => (k * U) / (1 - k * U);
  // matmul_f32 and matmul_bf16: each output is a length-k recursive f32 sum of rounded products.
  for (const [m, n, k] of [[3, 5, 257], [2, 17, 1000], [1, 1, 1], [4, 3, 33]] as const) {
    const a = randF32(rng, m * k), w = randF32(rng, n * k);
    const c = run("ref", "matmul_f32", { m, n, k, j0: 0, j1: n, a, w }) as Float32Array;
    const ab = randBf16(rng, m * k), wb = randBf16(rng, n * k);
    const cb = run("ref", "matmul_bf16", { m, n, k, j0: 0, j1: n, a: ab, w: wb }) as Float32Array;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0, mag = 0, sb = 0, magb = 0;
        for (let p = 0; p < k; p++) {
          s += a[i * k + p] * w[j * k + p];
          mag += Math.abs(a[i * k + p] * w[j * k + p]);
          const pb = bf16ToF32(ab[i * k + p]) * bf16ToF32(wb[j * k + p]);
          sb += pb;
          magb += Math.abs(pb);
        }
        assert.ok(Math.abs(c[i * n + j] - s) <= gamma(k) * mag + 1e-30, ctx("ref", `matmul_f32 m=${m} n=${n} k=${k} C[${i},${j}]=${c[i * n + j]} f64=${s}`));
        // bf16 x bf16 products are exact in f32, so only the k-1 additions round.
        assert.ok(Math.abs(cb[i * n + j] - sb) <= gamma(k) * magb + 1e-30, ctx("ref", `matmul_bf16 m=${m} n=${n} k=${k} C[${i},${j}]=${cb[i * n + j]} f64=${sb}`));
      }
  }
  // Hand-checked tiny case: [1 2; 3 4] . [5 6; 7 8]^T = [17 23; 39 53].
  assert.deepEqual(
    Array.from(run("ref", "matmul_f32", { m: 2, n: 2, k: 2, j0: 0, j1: 2, a: new Float32Array([1, 2, 3, 4]), w: new Float32Array([5, 6, 7, 8]) }) as Float32Array),
    [17, 23, 39, 53],
  );
  // dot_rows, attn_pv
  {
    const d = 100, nk = 9, ldk = 103;
    const q = randF32(rng, d), K = randF32(rng, (nk - 1) * ldk + d), scale = 0.125;
    const out = run("ref", "dot_rows", { nk, d, ldk, q, k: K, scale }) as Float32Array;
    for (let r = 0; r < nk; r++) {
      let s = 0, mag = 0;
      for (let p = 0; p < d; p++) (s += q[p] * K[r * ldk + p]), (mag += Math.abs(q[p] * K[r * ldk + p]));
      // scale is a power of two, so the final multiply is exact
      assert.ok(Math.abs(out[r] - s * scale) <= scale * gamma(d) * mag, ctx("ref", `dot_rows row ${r}`));
    }
    const w = randF32(rng, nk, 0, 1);
    for (const lanes of [8, 32]) {
      const ws = run("ref", "attn_pv", { nk, d, ldv: ldk, lanes, w, v: K }) as Float32Array;
      for (let p = 0; p < d; p++) {
        let s = 0, mag = 0;
        for (let r = 0; r < nk; r++) (s += w[r] * K[r * ldk + p]), (mag += Math.abs(w[r] * K[r * ldk + p]));
        assert.ok(Math.abs(ws[p] - s) <= gamma(nk) * mag, ctx("ref", `attn_pv lanes=${lanes} out[${p}]`));
      }
    }
  }
  // exp_sum: elements within 2 ulp (4u relative) of exp (ggml's vector expf is
  // within about 1.5 + 0.5 ulp), sum within the summation bound.
  {
    const n = 257, max = Math.fround(1.5);
    const x = randF32(rng, n, -78, 1.5);
    const out = run("ref", "exp_sum", { n, x, max }) as Float32Array;
    let s = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp(Math.fround(x[i] - max)); // x - max rounded to f32 exactly as the kernel does
      assert.ok(Math.abs(out[i] - e) <= 4 * U * e, ctx("ref", `exp_sum x=${x[i]}: ${out[i]} vs ${e}`));
      s += e;
    }
    assert.ok(Math.abs(out[n] - s) <= (gamma(n) + 4 * U) * s, ctx("ref", `exp_sum sum ${out[n]} vs ${s}`));
  }
  // sumsq, scale_mul (exactly emulable with Math.fround), silu_mul, max
  {
    const n = 100;
    const x = randF32(rng, n, -3, 3), w = randF32(rng, n, -2, 2), s = Math.fround(0.37);
    let ss = 0;
    for (const e of x) ss += e * e;
    assert.ok(Math.abs((run("ref", "sumsq", { n, x }) as number) - ss) <= gamma(n) * ss, ctx("ref", "sumsq"));
    const y = run("ref", "scale_mul", { n, x, y: w, s }) as Float32Array;
    for (let i = 0; i < n; i++) assert.equal(y[i], Math.fround(Math.fround(x[i] * s) * w[i]), ctx("ref", `scale_mul[${i}]`));
    const g = randF32(rng, n, -20, 20);
    const o = run("ref", "silu_mul", { n, x: g, y: w }) as Float32Array;
    for (let i = 0; i < n; i++) {
      const e = (g[i] / (1 + Math.exp(-g[i]))) * w[i];
      // exp (<= 2 ulp) then add, divide, multiply: <= ~7u relative
      assert.ok(Math.abs(o[i] - e) <= 8 * U * Math.abs(e), ctx("ref", `silu_mul g=${g[i]}: ${o[i]} vs ${e}`));
    }
    assert.equal(run("ref", "max", { n, x }), Math.max(...x));
    assert.equal(run("ref", "max", { n: 0, x }), -Infinity);
  }
  // bf16 conversions vs the JS bit model (covers every special pattern).
  {
    const bits = Uint32Array.from(SPECIAL_F32_BITS);
    const got = run("ref", "f32_to_bf16", { n: bits.length, x: new Float32Array(bits.buffer) }) as Uint16Array;
    for (let i = 0; i < bits.length; i++) {
      assert.equal(got[i], bf16FromBits(bits[i]), ctx("ref", `f32_to_bf16 0x${bits[i].toString(16)} -> 0x${got[i].toString(16)}`));
    }
    // a few hand-checked values
    const hand: Array<[number, number]> = [
      [0x3f808000, 0x3f80], [0x3f818000, 0x3f82], [0x7f7fffff, 0x7f80], [0x00008000, 0x0000], [0x00018000, 0x0002],
      [0x7f800001, 0x7fc0], [0xff800000, 0xff80], [0x80000000, 0x8000],
    ];
    const hb = Uint32Array.from(hand.map((h) => h[0]));
    const hg = run("ref", "f32_to_bf16", { n: hb.length, x: new Float32Array(hb.buffer) }) as Uint16Array;
    assert.deepEqual(Array.from(hg), hand.map((h) => h[1]));
    const all = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i;
    const f = run("ref", "bf16_to_f32", { n: 65536, x: all }) as Float32Array;
    const fb = new Uint32Array(f.buffer, f.byteOffset, f.length);
    for (let i = 0; i < 65536; i++) assert.equal(fb[i], (i << 16) >>> 0, ctx("ref", `bf16_to_f32 0x${i.toString(16)}`));
  }
});

test("variant registry: avx2 and auto exist here, cpuInfo().kernels names the best variant", (t) => {
  assert.ok(variantAvailable("ref"), "ref must always exist");
  assert.ok(variantAvailable("auto"), "auto must always exist");
  for (const v of SIMD) {
    // A variant whose CPUID requirements are visibly missing must be refused.
    if (REQUIRED[v].some((f) => !features.has(f))) assert.equal(AVAILABLE.get(v), false, `${v} available although features="${cpu.features}"`);
  }
  if (process.arch === "x64") {
    // Every x86-64 machine this project targets has AVX2+FMA+F16C; the avx2 variant must be usable.
    assert.ok(REQUIRED.avx2.every((f) => features.has(f)), `x64 CPU without AVX2/FMA/F16C? features="${cpu.features}"`);
    assert.equal(AVAILABLE.get("avx2"), true, "avx2 kernels must be available on this x64 machine");
  } else {
    t.diagnostic(`non-x64 (${process.arch}): only ref and auto are expected`);
  }
  const best = AVAILABLE.get("amx") ? "amx" : AVAILABLE.get("avx512") ? "avx512" : AVAILABLE.get("avx2") ? "avx2" : "ref";
  assert.equal(cpu.kernels, best, `cpuInfo().kernels should be the best available variant (features="${cpu.features}")`);
  // "auto" is the same table as the best variant: bit-identical results.
  const rng = rngFor("auto");
  const args = { m: 5, n: 33, k: 257, j0: 4, j1: 31, a: randF32(rng, 5 * 257), w: randF32(rng, 33 * 257) };
  assert.deepEqual(run("auto", "matmul_f32", args), run(best, "matmul_f32", args), `auto vs ${best} (seed ${SEED})`);
  const x = randF32(rng, 100, -80, 0);
  assert.deepEqual(run("auto", "exp_sum", { n: 100, x, max: 0 }), run(best, "exp_sum", { n: 100, x, max: 0 }));
  // Unknown names are refused, not mapped to a default.
  for (const bad of ["", "AVX2", "avx", "sse", "auto "]) {
    assert.throws(() => run(bad, "max", { n: 0, x: new Float32Array(0) }), /kernel variant not available on this CPU/, `variant ${JSON.stringify(bad)}`);
  }
  // A model built with kernels "auto" reports the same variant.
  const model = new A.NativeModel({ threads: 1, kernels: "auto", nLayers: 1, nKvHeads: 1, headDim: 2, nCtx: 1, ropeTheta: 10000 });
  try {
    assert.equal(model.info().kernels, best);
  } finally {
    model.dispose();
  }
});
