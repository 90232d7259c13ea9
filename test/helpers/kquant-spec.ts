/**
 * An independent TypeScript statement of lowbit's K-quant numerics
 * (native/src/formats/q2_k.h .. q6_k.h, kquant.h), written from llama.cpp's
 * definitions (ggml-common.h block layouts; quantize_row_q8_K_ref; the x86
 * repacked Q4_K GEMV (tokens past m - m % 4) and 4-token GEMM (the others);
 * the AVX2 Q2_K, Q3_K, Q5_K and Q6_K dot products), for the tests of the
 * native kernels. f32 arithmetic is emulated exactly (Math.fround after each
 * double operation; ggml-spec.ts's exact fmaf).
 */
import { f16Bits, f16Value, fmaf, rne } from "./ggml-spec.js";

const f32 = Math.fround;
export type KType = "q2_k" | "q3_k" | "q4_k" | "q5_k" | "q6_k";
export const KBLOCK_BYTES: Record<KType, number> = { q2_k: 84, q3_k: 110, q4_k: 144, q5_k: 176, q6_k: 210 };
/** byte offsets of the f16 super-block scale(s) (d, then dmin) in a block */
const F16_AT: Record<KType, number[]> = { q2_k: [80, 82], q3_k: [108], q4_k: [0, 2], q5_k: [0, 2], q6_k: [208] };

/**
 * quantize_row_q8_K_ref: codes, f32 block scales d and 16-sums. tiesPositive:
 * ggml_quantize_mat_q8_K_4x8's rule (+max wins a tie of magnitudes; the
 * reference takes the first).
 */
export function quantizeQ8K(x: Float32Array, tiesPositive = false): { q: Int8Array; d: Float32Array; bsums: Int16Array } {
  const nb = x.length / 256;
  const q = new Int8Array(x.length), d = new Float32Array(nb), bsums = new Int16Array(x.length / 16);
  for (let b = 0; b < nb; b++) {
    let amax = 0, max = 0;
    for (let j = 0; j < 256; j++) {
      const ax = Math.abs(x[b * 256 + j]!);
      if (ax > amax) { amax = ax; max = x[b * 256 + j]!; }
    }
    if (tiesPositive) for (let j = 0; j < 256; j++) if (x[b * 256 + j] === amax) max = amax;
    if (amax === 0) continue; // d = 0, codes 0
    const iscale = f32(-127 / max);
    for (let j = 0; j < 256; j++) q[b * 256 + j] = Math.min(127, rne(f32(iscale * x[b * 256 + j]!)));
    for (let g = 0; g < 16; g++) {
      let s = 0;
      for (let t = 0; t < 16; t++) s += q[b * 256 + 16 * g + t]!;
      bsums[b * 16 + g] = s;
    }
    d[b] = f32(1 / iscale);
  }
  return { q, d, bsums };
}

function q4kScales(blk: Uint8Array, o: number): { sc: number[]; mn: number[] } {
  const q = blk.subarray(o + 4, o + 16);
  const sc: number[] = [], mn: number[] = [];
  for (let j = 0; j < 8; j++) {
    if (j < 4) { sc.push(q[j]! & 63); mn.push(q[j + 4]! & 63); }
    else { sc.push((q[j + 4]! & 0xf) | ((q[j - 4]! >> 6) << 4)); mn.push((q[j + 4]! >> 4) | ((q[j]! >> 6) << 4)); }
  }
  return { sc, mn };
}
function q6kCode(blk: Uint8Array, o: number, e: number): number {
  const h = Math.floor(e / 128), c = Math.floor((e % 128) / 32), t = e % 32;
  const L = o + 64 * h, H = o + 128 + 32 * h;
  const lo = c === 0 ? blk[L + t]! & 15 : c === 1 ? blk[L + t + 32]! & 15 : c === 2 ? blk[L + t]! >> 4 : blk[L + t + 32]! >> 4;
  return lo | (((blk[H + t]! >> (2 * c)) & 3) << 4);
}
const i8 = (v: number) => (v << 24) >> 24;
/** Q3_K scale of sub-block s (stored 6 bits - 32): low nibble from byte s % 8 (high half for s >= 8), 2 high bits from byte 8 + s % 4. */
function q3kScale(blk: Uint8Array, o: number, s: number): number {
  const lo = s < 8 ? blk[o + 96 + s]! & 15 : blk[o + 96 + s - 8]! >> 4;
  return (lo | (((blk[o + 104 + (s % 4)]! >> (2 * Math.floor(s / 4))) & 3) << 4)) - 32;
}
/** The reference's final sum of the eight f32 lanes. */
const lanes8 = (acc: number[]) => f32(f32(f32(acc[0]! + acc[4]!) + f32(acc[2]! + acc[6]!)) + f32(f32(acc[1]! + acc[5]!) + f32(acc[3]! + acc[7]!)));

/** C[m, n] from Q8_K activations (codes a, scales ad) and rows of GGUF blocks w; columns outside [j0, j1) are 0. */
export function kmatmul(type: KType, a: Int8Array, ad: Float32Array, w: Uint8Array, m: number, n: number, k: number, j0 = 0, j1 = n): Float32Array {
  const nb = k / 256, bb = KBLOCK_BYTES[type];
  const C = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = j0; j < j1; j++) {
      if (type === "q2_k" || type === "q3_k") {
        // llama.cpp's AVX2 ggml_vec_dot_q2_K_q8_K / q3_K: 8 lanes (bytes [4l, 4l + 4) of each 32-chunk)
        const acc = [0, 0, 0, 0, 0, 0, 0, 0];
        for (let b = 0; b < nb; b++) {
          const o = (j * nb + b) * bb, x = i * k + b * 256;
          const lane = [0, 0, 0, 0, 0, 0, 0, 0];
          for (let e = 0; e < 256; e++) {
            const h = e >> 7, c = (e % 128) >> 5, t = e % 32;
            const low = (w[o + (type === "q2_k" ? 16 : 32) + 32 * h + t]! >> (2 * c)) & 3;
            const v = type === "q2_k" ? (w[o + (e >> 4)]! & 15) * low : q3kScale(w, o, e >> 4) * (low + 4 * ((w[o + t]! >> (4 * h + c)) & 1) - 4);
            lane[t >> 2] += v * a[x + e]!;
          }
          const da = ad[i * nb + b]!;
          if (type === "q2_k") { // the mins first: lane l holds sub-blocks 2l, 2l + 1
            const dmin = -f32(da * f16Value(w[o + 82]! | (w[o + 83]! << 8)));
            for (let l = 0; l < 8; l++) {
              let M = 0;
              for (let e = 32 * l; e < 32 * l + 32; e++) M += (w[o + (e >> 4)]! >> 4) * a[x + e]!;
              acc[l] = fmaf(f32(M), dmin, acc[l]!);
            }
          }
          const d = f32(da * f16Value(w[o + bb - (type === "q2_k" ? 4 : 2)]! | (w[o + bb - (type === "q2_k" ? 3 : 1)]! << 8)));
          for (let l = 0; l < 8; l++) acc[l] = fmaf(f32(lane[l]!), d, acc[l]!);
        }
        C[i * n + j] = lanes8(acc);
      } else if (type === "q4_k") {
        let acc = 0, accm = 0;
        for (let b = 0; b < nb; b++) {
          const o = (j * nb + b) * bb;
          const { sc, mn } = q4kScales(w, o);
          const P = [0, 0, 0, 0], M = [0, 0, 0, 0];
          for (let s = 0; s < 8; s++) {
            let dot = 0, bsum = 0;
            for (let e = 0; e < 32; e++) {
              const byte = w[o + 16 + 32 * (s >> 1) + e]!;
              const av = a[i * k + b * 256 + 32 * s + e]!;
              dot += (s & 1 ? byte >> 4 : byte & 15) * av;
              bsum += av;
            }
            P[s >> 1] += sc[s]! * dot;
            M[s >> 1] += mn[s]! * bsum;
          }
          const da = ad[i * nb + b]!;
          const dw = f16Value(w[o]! | (w[o + 1]! << 8)), mw = f16Value(w[o + 2]! | (w[o + 3]! << 8));
          const dd = f32(dw * da), dm = f32(mw * da);
          if (i < m - (m % 4)) {
            // llama.cpp's repacked 4-token GEMM: one FMA per pair of sub-blocks
            for (let p = 0; p < 4; p++) { acc = fmaf(f32(P[p]!), dd, acc); accm = fmaf(f32(M[p]!), dm, accm); }
          } else {
            // its GEMV: one FMA per super-block
            acc = fmaf(f32(P[0]! + P[1]! + P[2]! + P[3]!), dd, acc);
            accm = fmaf(f32(M[0]! + M[1]! + M[2]! + M[3]!), dm, accm);
          }
        }
        C[i * n + j] = f32(acc - accm);
      } else if (type === "q5_k") {
        // llama.cpp's AVX2 ggml_vec_dot_q5_K_q8_K: 8 lanes (bytes [4l, 4l + 4) of each 32-chunk), mins by FMA
        const acc = [0, 0, 0, 0, 0, 0, 0, 0];
        let summs = 0;
        for (let b = 0; b < nb; b++) {
          const o = (j * nb + b) * bb;
          const { sc, mn } = q4kScales(w, o);
          const lane = [0, 0, 0, 0, 0, 0, 0, 0];
          let imin = 0;
          for (let e = 0; e < 256; e++) {
            const g = e >> 6, r = e % 64, t = r % 32, hi = r >> 5;
            const byte = w[o + 48 + 32 * g + t]!;
            const u = (hi ? byte >> 4 : byte & 15) + 16 * ((w[o + 16 + t]! >> (2 * g + hi)) & 1);
            lane[(e % 32) >> 2] += sc[e >> 5]! * u * a[i * k + b * 256 + e]!;
          }
          for (let s = 0; s < 8; s++) {
            let bsum = 0;
            for (let e = 0; e < 32; e++) bsum += a[i * k + b * 256 + 32 * s + e]!;
            imin += mn[s]! * bsum;
          }
          const da = ad[i * nb + b]!;
          const d = f32(da * f16Value(w[o]! | (w[o + 1]! << 8))), dmin = -f32(da * f16Value(w[o + 2]! | (w[o + 3]! << 8)));
          summs = fmaf(f32(imin), dmin, summs);
          for (let l = 0; l < 8; l++) acc[l] = fmaf(f32(lane[l]!), d, acc[l]!);
        }
        C[i * n + j] = f32(lanes8(acc) + summs);
      } else {
        const acc = [0, 0, 0, 0, 0, 0, 0, 0];
        for (let b = 0; b < nb; b++) {
          const o = (j * nb + b) * bb;
          const sc = (e: number) => i8(w[o + 192 + (e >> 4)]!);
          const lane = [0, 0, 0, 0, 0, 0, 0, 0];
          const bs = new Array<number>(16).fill(0);
          for (let e = 0; e < 256; e++) {
            const av = a[i * k + b * 256 + e]!;
            lane[(e % 32) >> 2] += sc(e) * q6kCode(w, o, e) * av;
            bs[e >> 4] += av;
          }
          for (let l = 0; l < 8; l++) lane[l] -= 32 * (bs[2 * l]! * sc(32 * l) + bs[2 * l + 1]! * sc(32 * l + 16));
          const d = f32(ad[i * nb + b]! * f16Value(w[o + 208]! | (w[o + 209]! << 8)));
          for (let l = 0; l < 8; l++) acc[l] = fmaf(f32(lane[l]!), d, acc[l]!);
        }
        C[i * n + j] = lanes8(acc);
      }
    }
  }
  return C;
}

/** Random GGUF K-quant blocks: finite f16 super-block scales of varied magnitude, every other byte random. */
export function randomKBlocks(type: KType, rng: () => number, nblocks: number): Uint8Array {
  const bb = KBLOCK_BYTES[type];
  const out = new Uint8Array(nblocks * bb);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rng() * 256);
  const f16 = () => f16Bits((rng() < 0.5 ? -1 : 1) * rng() * 2 ** Math.floor(-14 + rng() * 12));
  for (let b = 0; b < nblocks; b++) {
    const o = b * bb;
    const put = (at: number, h: number) => { out[at] = h & 255; out[at + 1] = h >> 8; };
    if (b % 7 === 3) { // extreme codes: every 2..6-bit code at its maximum, scales (and mins) at their maxima
      if (type === "q6_k") { out.fill(0xff, o, o + 192); out.fill(127, o + 192, o + 208); }
      else out.fill(0xff, o, o + bb);
    }
    if (b % 7 === 5 && type === "q6_k") { out.fill(0, o, o + 192); out.fill(0x80, o + 192, o + 208); } // codes 0 (-32), scales -128
    if (b % 7 === 5 && type === "q3_k") out.fill(0, o, o + bb); // codes 0 (-4), scales 0 (-32)
    for (const at of F16_AT[type]) put(o + at, f16());
  }
  return out;
}
