/**
 * An independent TypeScript implementation of llama.cpp's Q4_0 / Q8_0 formats,
 * written from the spec (ggml-common.h, ggml-quants.c, the CPU backend's AVX2
 * quantize_row_q8_0 and repacked Q4_0 kernels), for the tests of
 * native/src/kernels/ggml*.cc and native/src/ggml_quants.cc. Every f32
 * operation is emulated exactly: Math.fround after each double operation
 * (innocuous double rounding for f32 +, -, *, / of f32 operands) and an exact
 * fused multiply-add.
 */
const f32 = Math.fround;

export type GgmlType = "q4_0" | "q8_0";
export const BLOCK_BYTES: Record<GgmlType, number> = { q4_0: 18, q8_0: 34 };

/** round half to even of a double */
export function rne(v: number): number {
  const f = Math.floor(v);
  const r = v - f;
  if (r > 0.5) return f + 1;
  if (r < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
/** C's roundf: half away from zero (v an f32 value, so |v| + 0.5 is exact) */
export function roundAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** f32 value -> f16 bits, round to nearest even (finite inputs; >= 65520 -> inf). */
export function f16Bits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | rne(a * 2 ** 24); // subnormal (1024 = the smallest normal)
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  const m = rne((a / 2 ** e) * 1024); // in [1024, 2048]; 2048 carries into the exponent
  return sign | ((e + 15) * 1024 + (m - 1024));
}
export function f16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const cvt = new DataView(new ArrayBuffer(4));
function nextF32(x: number, up: boolean): number {
  if (x === 0) return up ? 2 ** -149 : -(2 ** -149);
  cvt.setFloat32(0, x);
  const b = cvt.getUint32(0);
  cvt.setUint32(0, (x > 0) === up ? b + 1 : b - 1);
  return cvt.getFloat32(0);
}
/** fmaf(a, b, c) for an integer |a| < 2^24 and f32 b, c: one rounding of a * b + c. */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b; // exact: <= 24 + 24 significant bits
  const s = p + c;
  const bv = s - p;
  const err = p - (s - bv) + (c - bv); // s + err == p + c exactly (TwoSum)
  const r = f32(s);
  if (err === 0 || r === s) return r;
  const lo = r > s ? nextF32(r, false) : r, hi = r > s ? r : nextF32(r, true);
  if (s !== (lo + hi) / 2) return r; // not a tie of f32 neighbours: rounding s equals rounding p + c
  return err > 0 ? hi : lo;
}

/** quantize_row_q8_0_ref: x.length % 32 == 0 -> GGUF blocks */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 34);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let t = 0; t < 32; t++) amax = Math.max(amax, Math.abs(x[b * 32 + t]!));
    const d = f32(amax / 127), id = d !== 0 ? f32(1 / d) : 0;
    const h = f16Bits(d);
    out[b * 34] = h & 255;
    out[b * 34 + 1] = h >> 8;
    for (let t = 0; t < 32; t++) out[b * 34 + 2 + t] = roundAway(f32(x[b * 32 + t]! * id)) & 255;
  }
  return out;
}

/** quantize_row_q4_0_ref */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 18);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0, max = 0;
    for (let t = 0; t < 32; t++) {
      const v = x[b * 32 + t]!;
      if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
    }
    const d = f32(max / -8), id = d !== 0 ? f32(1 / d) : 0;
    const h = f16Bits(d);
    out[b * 18] = h & 255;
    out[b * 18 + 1] = h >> 8;
    const code = (v: number) => Math.min(15, Math.trunc(f32(f32(v * id) + 8.5)));
    for (let t = 0; t < 16; t++) out[b * 18 + 2 + t] = code(x[b * 32 + t]!) | (code(x[b * 32 + 16 + t]!) << 4);
  }
  return out;
}

export function quantize(type: GgmlType, x: Float32Array): Uint8Array {
  return type === "q4_0" ? quantizeQ4_0(x) : quantizeQ8_0(x);
}

/** Integer codes of block b of a row of GGUF blocks (Q4_0: u - 8) and its scale bits. */
export function blockCodes(type: GgmlType, row: Uint8Array, b: number): { d: number; q: number[] } {
  const o = b * BLOCK_BYTES[type];
  const d = row[o]! | (row[o + 1]! << 8);
  const q: number[] = [];
  if (type === "q8_0") for (let t = 0; t < 32; t++) q.push((row[o + 2 + t]! << 24) >> 24);
  else {
    for (let t = 0; t < 16; t++) q.push((row[o + 2 + t]! & 15) - 8);
    for (let t = 0; t < 16; t++) q.push((row[o + 2 + t]! >> 4) - 8);
  }
  return { d, q };
}

/** dequantize_row_*: w = fp32(d) * code */
export function dequantize(type: GgmlType, blocks: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let b = 0; b < n / 32; b++) {
    const { d, q } = blockCodes(type, blocks, b);
    for (let t = 0; t < 32; t++) out[b * 32 + t] = f32(q[t]! * f16Value(d));
  }
  return out;
}

/**
 * llama.cpp's activation quantization (AVX2 quantize_row_q8_0): per block of
 * 32, d = fp16(amax / 127), id = amax ? 127 / amax : 0, q = rne(x * id).
 */
export function quantizeAct(x: Float32Array): { q: Int8Array; d: Float32Array; s: Int32Array } {
  const nb = x.length / 32;
  const q = new Int8Array(x.length), d = new Float32Array(nb), s = new Int32Array(nb);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let t = 0; t < 32; t++) amax = Math.max(amax, Math.abs(x[b * 32 + t]!));
    d[b] = f16Value(f16Bits(f32(amax / 127)));
    const id = amax !== 0 ? f32(127 / amax) : 0;
    for (let t = 0; t < 32; t++) {
      const v = rne(f32(x[b * 32 + t]! * id));
      q[b * 32 + t] = v;
      s[b] += v;
    }
  }
  return { q, d, s };
}

/**
 * C[i, j] (only j in [j0, j1), zeros elsewhere) of activations a [m, k] (codes)
 * with block scales ad [m, k / 32] and weights w [n] rows of GGUF blocks, with
 * d = fp32(d_w) * d_a per block:
 *   q4_0 (llama.cpp's repacked AVX2 / AVX-512 kernels): acc = fmaf(sumi, d, acc) per block;
 *   q8_0 (llamafile's tinyBLAS): eight partial sums s[l] over bytes [4l, 4l + 4)
 *   of each block, s[l] = fmaf(p_l, d, s[l]); C = ((s0+s4) + (s2+s6)) + ((s1+s5) + (s3+s7)).
 */
export function matmul(type: GgmlType, a: Int8Array, ad: Float32Array, w: Uint8Array, m: number, n: number, k: number, j0 = 0, j1 = n): Float32Array {
  const nb = k / 32, rb = nb * BLOCK_BYTES[type];
  const c = new Float32Array(m * n);
  for (let j = j0; j < j1; j++) {
    const row = w.subarray(j * rb, (j + 1) * rb);
    const blocks = Array.from({ length: nb }, (_, b) => blockCodes(type, row, b));
    for (let i = 0; i < m; i++) {
      const parts = type === "q4_0" ? 1 : 8, len = 32 / parts;
      const s = new Array<number>(parts).fill(0);
      for (let b = 0; b < nb; b++) {
        const d = f32(f16Value(blocks[b]!.d) * ad[i * nb + b]!);
        for (let l = 0; l < parts; l++) {
          let p = 0;
          for (let t = l * len; t < (l + 1) * len; t++) p += blocks[b]!.q[t]! * a[i * k + b * 32 + t]!;
          s[l] = fmaf(p, d, s[l]!);
        }
      }
      c[i * n + j] = parts === 1 ? s[0]! : f32(f32(f32(s[0]! + s[4]!) + f32(s[2]! + s[6]!)) + f32(f32(s[1]! + s[5]!) + f32(s[3]! + s[7]!)));
    }
  }
  return c;
}

/** Random GGUF blocks: finite f16 scales of varied magnitude, every code byte random. */
export function randomBlocks(type: GgmlType, rng: () => number, nblocks: number): Uint8Array {
  const bb = BLOCK_BYTES[type];
  const out = new Uint8Array(nblocks * bb);
  for (let b = 0; b < nblocks; b++) {
    const h = f16Bits((rng() < 0.5 ? -1 : 1) * rng() * 2 ** Math.floor(-12 + rng() * 14));
    out[b * bb] = h & 255;
    out[b * bb + 1] = h >> 8;
    for (let t = 2; t < bb; t++) out[b * bb + t] = Math.floor(rng() * 256);
  }
  return out;
}
