/**
 * An independent TypeScript statement of lowbit's legacy and IQ4 numerics
 * (native/src/formats/legacy.h, iq4_nl.h, iq4_xs.h, kquant.h's Q8_1), written
 * from llama.cpp's definitions (ggml-common.h block layouts; AVX2
 * quantize_row_q8_1; AVX2 ggml_vec_dot_q4_1_q8_1 / _q5_0_q8_0 / _q5_1_q8_1 /
 * _iq4_xs_q8_K; the repacked IQ4_NL GEMV/GEMM; the IQ panel GEMM of IQ4_XS at
 * m >= 8), for the tests of the native kernels. f32 arithmetic emulated
 * exactly (Math.fround after each double operation; ggml-spec.ts's fmaf).
 */
import { f16Bits, f16Value, fmaf, quantizeAct } from "./ggml-spec.js";

const f32 = Math.fround;
export type LType = "q4_1" | "q5_0" | "q5_1" | "iq4_nl" | "iq4_xs";
export const LTYPES: LType[] = ["q4_1", "q5_0", "q5_1", "iq4_nl", "iq4_xs"];
export const LBLOCK: Record<LType, { elems: number; bytes: number; act: "q8_0" | "q8_1" | "q8_k" }> = {
  q4_1: { elems: 32, bytes: 20, act: "q8_1" },
  q5_0: { elems: 32, bytes: 22, act: "q8_0" },
  q5_1: { elems: 32, bytes: 24, act: "q8_1" },
  iq4_nl: { elems: 32, bytes: 18, act: "q8_0" },
  iq4_xs: { elems: 256, bytes: 136, act: "q8_k" },
};
export const IQ4NL = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/** AVX2 quantize_row_q8_1: Q8_0's codes and d, s = fp16(f32(amax / 127) * sum of the codes). */
export function quantizeQ8_1(x: Float32Array): { q: Int8Array; d: Float32Array; s: Float32Array } {
  const { q, d, s: sums } = quantizeAct(x);
  const s = new Float32Array(d.length);
  for (let b = 0; b < d.length; b++) {
    let amax = 0;
    for (let t = 0; t < 32; t++) amax = Math.max(amax, Math.abs(x[b * 32 + t]!));
    s[b] = f16Value(f16Bits(f32(f32(amax / 127) * sums[b]!)));
  }
  return { q, d, s };
}

const h16 = (w: Uint8Array, o: number) => f16Value(w[o]! | (w[o + 1]! << 8));
/** Unsigned codes u of a legacy block (Q4_1, Q5_0, Q5_1), element order. */
function legacyCodes(type: LType, w: Uint8Array, o: number): number[] {
  const qs = o + (type === "q4_1" ? 4 : type === "q5_0" ? 6 : 8);
  const qh = type === "q4_1" ? 0 : (w[o + (type === "q5_0" ? 2 : 4)]! | (w[o + (type === "q5_0" ? 3 : 5)]! << 8) | (w[o + (type === "q5_0" ? 4 : 6)]! << 16) | (w[o + (type === "q5_0" ? 5 : 7)]! << 24)) >>> 0;
  const u: number[] = [];
  for (let t = 0; t < 32; t++) u.push((t < 16 ? w[qs + t]! & 15 : w[qs + t - 16]! >> 4) | (((qh >>> t) & 1) << 4));
  return u;
}
const hsum8 = (acc: number[]) => f32(f32(f32(acc[0]! + acc[4]!) + f32(acc[2]! + acc[6]!)) + f32(f32(acc[1]! + acc[5]!) + f32(acc[3]! + acc[7]!)));

/**
 * C[m, n] of activations (codes a [m, k], scales ad: [m, k / 32], or [m, k / 256] for
 * iq4_xs; as: Q8_1 block sums) and weight rows w of GGUF blocks; columns outside [j0, j1) are 0.
 */
export function lmatmul(type: LType, a: Int8Array, ad: Float32Array, as: Float32Array | undefined, w: Uint8Array, m: number, n: number, k: number, j0 = 0, j1 = n): Float32Array {
  const { elems, bytes } = LBLOCK[type];
  const nb = k / elems;
  const C = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = j0; j < j1; j++) {
      const acc = [0, 0, 0, 0, 0, 0, 0, 0];
      let summs = 0, acc1 = 0;
      for (let b = 0; b < nb; b++) {
        const o = (j * nb + b) * bytes, x = i * k + b * elems, da = ad[i * nb + b]!;
        if (type === "iq4_nl") { // the repacked GEMV/GEMM: one FMA per block
          let sumi = 0;
          for (let t = 0; t < 32; t++) sumi += IQ4NL[t < 16 ? w[o + 2 + t]! & 15 : w[o + 2 + t - 16]! >> 4]! * a[x + t]!;
          acc1 = fmaf(sumi, f32(h16(w, o) * da), acc1);
        } else if (type === "iq4_xs") { // 8 lanes (vec_dot, m < 8) or one FMA per super-block (IQ panel, m >= 8)
          const L = [0, 0, 0, 0, 0, 0, 0, 0];
          const sh = w[o + 2]! | (w[o + 3]! << 8);
          for (let s = 0; s < 8; s++) {
            const ls = (((w[o + 4 + (s >> 1)]! >> (4 * (s & 1))) & 15) | (((sh >> (2 * s)) & 3) << 4)) - 32;
            for (let t = 0; t < 32; t++) {
              const byte = w[o + 8 + 16 * s + (t % 16)]!;
              L[t >> 2] += ls * IQ4NL[t < 16 ? byte & 15 : byte >> 4]! * a[x + 32 * s + t]!;
            }
          }
          const dd = f32(h16(w, o) * da);
          if (m >= 8) acc1 = fmaf(L.reduce((p, v) => p + v, 0), dd, acc1);
          else for (let l = 0; l < 8; l++) acc[l] = fmaf(dd, L[l]!, acc[l]!);
        } else { // Q4_1 / Q5_0 / Q5_1: 8 lanes, the mins by an FMA
          const u = legacyCodes(type, w, o), off = type === "q5_0" ? 16 : 0;
          const dd = f32(h16(w, o) * da);
          for (let l = 0; l < 8; l++) {
            let L = 0;
            for (let t = 4 * l; t < 4 * l + 4; t++) L += (u[t]! - off) * a[x + t]!;
            acc[l] = fmaf(L, dd, acc[l]!);
          }
          if (type !== "q5_0") summs = fmaf(h16(w, o + 2), as![i * nb + b]!, summs);
        }
      }
      C[i * n + j] = type === "iq4_nl" || (type === "iq4_xs" && m >= 8) ? acc1 : type === "q5_0" || type === "iq4_xs" ? hsum8(acc) : f32(hsum8(acc) + summs);
    }
  return C;
}

/** Random blocks: finite f16 scales (and mins) of varied magnitude, every other byte random; some blocks all-max. */
export function randomLBlocks(type: LType, rng: () => number, nblocks: number): Uint8Array {
  const { bytes } = LBLOCK[type];
  const out = new Uint8Array(nblocks * bytes);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rng() * 256);
  const f16 = () => f16Bits((rng() < 0.5 ? -1 : 1) * rng() * 2 ** Math.floor(-14 + rng() * 12));
  const put = (at: number, h: number) => { out[at] = h & 255; out[at + 1] = h >> 8; };
  for (let b = 0; b < nblocks; b++) {
    const o = b * bytes;
    put(o, f16());
    if (type === "q4_1" || type === "q5_1") put(o + 2, f16());
    if (b % 7 === 3) out.fill(0xff, o + (type === "q4_1" || type === "q5_1" ? 4 : 2), o + bytes); // every code (and scale) at its maximum
    if (b % 7 === 5) out.fill(0, o + 2, o + bytes); // codes 0 (Q5_0: -16; IQ4: -127; IQ4_XS scale -32)
  }
  return out;
}
