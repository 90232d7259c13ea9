/**
 * An independent TS model of ggml's block types, for tests of the native
 * dequantizer (native/src/ggml_dequant.cc). A block is described by its
 * logical content (f16 scale bits, sub-block scales/mins, one integer code per
 * element); `pack` lays it out in bytes the way ggml's quantize_row_*_ref
 * packs it (the quantizer's code path), `unpack` reads it back one element at
 * a time from bit positions, and `values` applies ggml's dequantization
 * formula with f32 rounding after every operation (Math.fround), so results
 * can be compared bit for bit.
 */

/** Logical content of one block. Unused fields are empty. */
export interface Block {
  d: number;      // f16 bits of the scale (super-block scale for K types)
  m: number;      // f16 bits of the min (Q4_1, Q5_1) or dmin (Q2_K, Q4_K, Q5_K); 0 otherwise
  sc: number[];   // sub-block scales (K types): Q2_K 0..15, Q3_K -32..31, Q4_K/Q5_K 0..63, Q6_K -128..127
  mn: number[];   // sub-block mins: Q2_K 0..15, Q4_K/Q5_K 0..63
  q: number[];    // one code per element, in the range of its type (see CODE_RANGE)
}

export interface RefType {
  name: string;
  id: number;
  elems: number;
  bytes: number;
  nsub: number;                    // sub-blocks with their own scale (0 for the 32-value types)
  code: [number, number];          // range of q
  scale: [number, number];         // range of sc
  hasMin: boolean;                 // m/mn present
  pack(b: Block): Uint8Array;
  unpack(bytes: Uint8Array): Block;
  values(b: Block): Float32Array;
}

const f = Math.fround;

/** IEEE half bits -> number, from the definition (not a bit trick). */
export function f16(bits: number): number {
  const s = bits & 0x8000 ? -1 : 1, e = (bits >> 10) & 31, mant = bits & 1023;
  if (e === 0) return s * mant * 2 ** -24;
  if (e === 31) return mant ? NaN : s * Infinity;
  return s * (1 + mant / 1024) * 2 ** (e - 15);
}

const rd16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
function wr16(b: Uint8Array, o: number, v: number): void { b[o] = v & 255; b[o + 1] = (v >> 8) & 255; }

// ---- 32-value types -------------------------------------------------------

function simple(name: string, id: number, bytes: number, lo: number, hi: number, hasMin: boolean, bits5: boolean,
  formula: (q: number, d: number, m: number) => number): RefType {
  const qsOff = 2 + (hasMin ? 2 : 0) + (bits5 ? 4 : 0);
  return {
    name, id, elems: 32, bytes, nsub: 0, code: [lo, hi], scale: [0, 0], hasMin,
    pack(blk) {
      const b = new Uint8Array(bytes);
      wr16(b, 0, blk.d);
      if (hasMin) wr16(b, 2, blk.m);
      if (name === "Q8_0") {
        for (let j = 0; j < 32; j++) b[2 + j] = blk.q[j]! & 255;
        return b;
      }
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const x0 = blk.q[j]!, x1 = blk.q[j + 16]!;   // as quantize_row_q4_0/q5_0_ref: element j and j + 16 share byte j
        b[qsOff + j] = (x0 & 15) | ((x1 & 15) << 4);
        qh |= ((x0 >> 4) & 1) << j;
        qh |= ((x1 >> 4) & 1) << (j + 16);
      }
      if (bits5) for (let k = 0; k < 4; k++) b[qsOff - 4 + k] = (qh >>> (8 * k)) & 255;
      return b;
    },
    unpack(b) {
      const q: number[] = [];
      for (let e = 0; e < 32; e++) {
        if (name === "Q8_0") { q.push((b[2 + e]! << 24) >> 24); continue; }
        const nib = (b[qsOff + (e % 16)]! >> (e < 16 ? 0 : 4)) & 15;
        const hb = bits5 ? (b[qsOff - 4 + (e >> 3)]! >> (e & 7)) & 1 : 0;  // bit e of the u32 qh
        q.push(nib | (hb << 4));
      }
      return { d: rd16(b, 0), m: hasMin ? rd16(b, 2) : 0, sc: [], mn: [], q };
    },
    values(blk) {
      const d = f16(blk.d), m = f16(blk.m);
      return Float32Array.from(blk.q, (q) => formula(q, d, m));
    },
  };
}

// ---- K types (256 values) -------------------------------------------------

/** Q4_K / Q5_K 6-bit scales and mins into 12 bytes, as quantize_row_q4_K_ref. */
function packScaleMin(sc: number[], mn: number[]): Uint8Array {
  const s = new Uint8Array(12);
  for (let j = 0; j < 8; j++) {
    const ls = sc[j]!, lm = mn[j]!;
    if (j < 4) { s[j] = ls; s[j + 4] = lm; } else {
      s[j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      s[j - 4]! |= (ls >> 4) << 6;
      s[j]! |= (lm >> 4) << 6;
    }
  }
  return s;
}

/** The 96 bits of 12 bytes regrouped: 8 six-bit scales then 8 six-bit mins. */
function unpackScaleMin(s: Uint8Array): { sc: number[]; mn: number[] } {
  const sc: number[] = [], mn: number[] = [];
  for (let j = 0; j < 8; j++) {
    if (j < 4) { sc.push(s[j]! & 63); mn.push(s[j + 4]! & 63); } else {
      sc.push((s[j + 4]! & 15) + 16 * (s[j - 4]! >> 6));
      mn.push((s[j + 4]! >> 4) + 16 * (s[j]! >> 6));
    }
  }
  return { sc, mn };
}

/** 2-bit codes of 256 values into 64 bytes, as quantize_row_q2_K_ref (four 32-apart values per byte). */
function pack2(L: number[], out: Uint8Array, off: number): void {
  for (let j = 0; j < 256; j += 128)
    for (let l = 0; l < 32; l++)
      out[off + j / 4 + l] = (L[j + l]! & 3) | ((L[j + l + 32]! & 3) << 2) | ((L[j + l + 64]! & 3) << 4) | ((L[j + l + 96]! & 3) << 6);
}
const get2 = (b: Uint8Array, off: number, e: number): number => (b[off + 32 * (e >> 7) + (e & 31)]! >> (2 * ((e >> 5) & 3))) & 3;
/** Bit e / 32 of byte e % 32 (Q3_K hmask, Q5_K qh). */
const getHigh = (b: Uint8Array, off: number, e: number): number => (b[off + (e & 31)]! >> (e >> 5)) & 1;

const Q2_K: RefType = {
  name: "Q2_K", id: 10, elems: 256, bytes: 84, nsub: 16, code: [0, 3], scale: [0, 15], hasMin: true,
  pack(blk) {
    const b = new Uint8Array(84);
    for (let j = 0; j < 16; j++) b[j] = blk.sc[j]! | (blk.mn[j]! << 4);
    pack2(blk.q, b, 16);
    wr16(b, 80, blk.d); wr16(b, 82, blk.m);
    return b;
  },
  unpack(b) {
    return {
      d: rd16(b, 80), m: rd16(b, 82),
      sc: Array.from(b.subarray(0, 16), (v) => v & 15), mn: Array.from(b.subarray(0, 16), (v) => v >> 4),
      q: Array.from({ length: 256 }, (_, e) => get2(b, 16, e)),
    };
  },
  values(blk) {
    const d = f16(blk.d), dmin = f16(blk.m);
    return Float32Array.from(blk.q, (q, e) => f(f(f(d * blk.sc[e >> 4]!) * q) - f(dmin * blk.mn[e >> 4]!)));
  },
};

const Q3_K: RefType = {
  name: "Q3_K", id: 11, elems: 256, bytes: 110, nsub: 16, code: [-4, 3], scale: [-32, 31], hasMin: false,
  pack(blk) {
    const b = new Uint8Array(110);
    for (let j = 0; j < 16; j++) {   // as quantize_row_q3_K_ref: l = scale + 32 in 6 bits
      let l = blk.sc[j]! + 32;
      if (j < 8) b[96 + j] = l & 0xf; else b[96 + j - 8]! |= (l & 0xf) << 4;
      l >>= 4;
      b[96 + (j % 4) + 8]! |= l << (2 * Math.floor(j / 4));
    }
    const L = blk.q.map((q) => q + 4);
    let m = 0, hm = 1;
    for (let j = 0; j < 256; j++) {
      if (L[j]! > 3) { b[m]! |= hm; L[j]! -= 4; }
      if (++m === 32) { m = 0; hm <<= 1; }
    }
    pack2(L, b, 32);
    wr16(b, 108, blk.d);
    return b;
  },
  unpack(b) {
    const sc: number[] = [];
    for (let s = 0; s < 16; s++) {
      const lo = (b[96 + (s % 8)]! >> (s < 8 ? 0 : 4)) & 15, hi = (b[104 + (s % 4)]! >> (2 * (s >> 2))) & 3;
      sc.push(lo + 16 * hi - 32);
    }
    return { d: rd16(b, 108), m: 0, sc, mn: [], q: Array.from({ length: 256 }, (_, e) => get2(b, 32, e) - (getHigh(b, 0, e) ? 0 : 4)) };
  },
  values(blk) {
    const d = f16(blk.d);
    return Float32Array.from(blk.q, (q, e) => f(f(d * blk.sc[e >> 4]!) * q));
  },
};

function kq45(name: string, id: number, five: boolean): RefType {
  const bytes = five ? 176 : 144, qsOff = five ? 48 : 16;
  return {
    name, id, elems: 256, bytes, nsub: 8, code: [0, five ? 31 : 15], scale: [0, 63], hasMin: true,
    pack(blk) {
      const b = new Uint8Array(bytes);
      wr16(b, 0, blk.d); wr16(b, 2, blk.m);
      b.set(packScaleMin(blk.sc, blk.mn), 4);
      let m1 = 1, m2 = 2;   // as quantize_row_q5_K_ref
      for (let n = 0; n < 256; n += 64) {
        for (let j = 0; j < 32; j++) {
          const l1 = blk.q[n + j]!, l2 = blk.q[n + j + 32]!;
          if (five && l1 > 15) b[16 + j]! |= m1;
          if (five && l2 > 15) b[16 + j]! |= m2;
          b[qsOff + n / 2 + j] = (l1 & 15) | ((l2 & 15) << 4);
        }
        m1 <<= 2; m2 <<= 2;
      }
      return b;
    },
    unpack(b) {
      const { sc, mn } = unpackScaleMin(b.subarray(4, 16));
      const q = Array.from({ length: 256 }, (_, e) =>
        ((b[qsOff + 32 * (e >> 6) + (e & 31)]! >> ((e & 32) ? 4 : 0)) & 15) + (five ? 16 * getHigh(b, 16, e) : 0));
      return { d: rd16(b, 0), m: rd16(b, 2), sc, mn, q };
    },
    values(blk) {
      const d = f16(blk.d), dmin = f16(blk.m);
      return Float32Array.from(blk.q, (q, e) => f(f(f(d * blk.sc[e >> 5]!) * q) - f(dmin * blk.mn[e >> 5]!)));
    },
  };
}

const Q6_K: RefType = {
  name: "Q6_K", id: 14, elems: 256, bytes: 210, nsub: 16, code: [-32, 31], scale: [-128, 127], hasMin: false,
  pack(blk) {
    const b = new Uint8Array(210);
    const L = blk.q.map((q) => q + 32);
    for (let j = 0; j < 256; j += 128) {   // as quantize_row_q6_K_ref
      const ql = j / 2, qh = 128 + j / 4;
      for (let l = 0; l < 32; l++) {
        const q1 = L[j + l]!, q2 = L[j + l + 32]!, q3 = L[j + l + 64]!, q4 = L[j + l + 96]!;
        b[ql + l] = (q1 & 15) | ((q3 & 15) << 4);
        b[ql + l + 32] = (q2 & 15) | ((q4 & 15) << 4);
        b[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
    for (let s = 0; s < 16; s++) b[192 + s] = blk.sc[s]! & 255;
    wr16(b, 208, blk.d);
    return b;
  },
  unpack(b) {
    const q = Array.from({ length: 256 }, (_, e) => {
      const c = e >> 7, g = (e >> 5) & 3, l = e & 31;
      const lo = (b[64 * c + 32 * (g & 1) + l]! >> (g < 2 ? 0 : 4)) & 15;
      const hi = (b[128 + 32 * c + l]! >> (2 * g)) & 3;
      return lo + 16 * hi - 32;
    });
    return { d: rd16(b, 208), m: 0, sc: Array.from(b.subarray(192, 208), (v) => (v << 24) >> 24), mn: [], q };
  },
  values(blk) {
    const d = f16(blk.d);
    return Float32Array.from(blk.q, (q, e) => f(f(d * blk.sc[e >> 4]!) * q));
  },
};

// ---- IQ4 types: 4-bit indices into ggml's non-linear table kvalues_iq4nl --

const IQ4NL = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
/** IQ4_NL (18 B): d | qs[16]; element j < 16 the low nibble of qs[j], j + 16 its high nibble; d * v[q]. */
const IQ4_NL: RefType = {
  name: "IQ4_NL", id: 20, elems: 32, bytes: 18, nsub: 0, code: [0, 15], scale: [0, 0], hasMin: false,
  pack(blk) {
    const b = new Uint8Array(18);
    wr16(b, 0, blk.d);
    for (let j = 0; j < 16; j++) b[2 + j] = blk.q[j]! | (blk.q[j + 16]! << 4);
    return b;
  },
  unpack(b) {
    return { d: rd16(b, 0), m: 0, sc: [], mn: [], q: Array.from({ length: 32 }, (_, e) => (e < 16 ? b[2 + e]! & 15 : b[2 + e - 16]! >> 4)) };
  },
  values(blk) {
    const d = f16(blk.d);
    return Float32Array.from(blk.q, (q) => f(d * IQ4NL[q]!));
  },
};
/**
 * IQ4_XS (136 B): d | scales_h u16 | scales_l[4] | qs[128]; sub-block s (32 elements) has the
 * 6-bit ls = (nibble s % 2 of scales_l[s / 2]) | (bits 2s of scales_h) << 4, sc = ls - 32, and
 * its indices as IQ4_NL's in qs[16s, 16s + 16); (d * sc) * v[q].
 */
const IQ4_XS: RefType = {
  name: "IQ4_XS", id: 23, elems: 256, bytes: 136, nsub: 8, code: [0, 15], scale: [-32, 31], hasMin: false,
  pack(blk) {
    const b = new Uint8Array(136);
    wr16(b, 0, blk.d);
    let sh = 0;
    for (let s = 0; s < 8; s++) {
      const ls = blk.sc[s]! + 32;
      b[4 + (s >> 1)] |= (ls & 15) << (4 * (s & 1));
      sh |= (ls >> 4) << (2 * s);
      for (let j = 0; j < 16; j++) b[8 + 16 * s + j] = blk.q[32 * s + j]! | (blk.q[32 * s + j + 16]! << 4);
    }
    wr16(b, 2, sh);
    return b;
  },
  unpack(b) {
    const sh = rd16(b, 2);
    const sc = Array.from({ length: 8 }, (_, s) => (((b[4 + (s >> 1)]! >> (4 * (s & 1))) & 15) | (((sh >> (2 * s)) & 3) << 4)) - 32);
    const q = Array.from({ length: 256 }, (_, e) => {
      const s = e >> 5, j = e & 31;
      return j < 16 ? b[8 + 16 * s + j]! & 15 : b[8 + 16 * s + j - 16]! >> 4;
    });
    return { d: rd16(b, 0), m: 0, sc, mn: [], q };
  },
  values(blk) {
    const d = f16(blk.d);
    return Float32Array.from(blk.q, (q, e) => f(f(d * blk.sc[e >> 5]!) * IQ4NL[q]!));
  },
};

/** Every quantized type the native dequantizer decodes, by name. */
export const REF_TYPES: ReadonlyMap<string, RefType> = new Map([
  simple("Q4_0", 2, 18, 0, 15, false, false, (q, d) => f((q - 8) * d)),
  simple("Q4_1", 3, 20, 0, 15, true, false, (q, d, m) => f(f(q * d) + m)),
  simple("Q5_0", 6, 22, 0, 31, false, true, (q, d) => f((q - 16) * d)),
  simple("Q5_1", 7, 24, 0, 31, true, true, (q, d, m) => f(f(q * d) + m)),
  simple("Q8_0", 8, 34, -128, 127, false, false, (q, d) => f(q * d)),
  Q2_K, Q3_K, kq45("Q4_K", 12, false), kq45("Q5_K", 13, true), Q6_K, IQ4_NL, IQ4_XS,
].map((t) => [t.name, t]));

/** Dequantizes whole blocks of `t` from bytes, block by block through unpack + values. */
export function refDequant(t: RefType, bytes: Uint8Array): Float32Array {
  const nb = bytes.length / t.bytes, out = new Float32Array(nb * t.elems);
  for (let i = 0; i < nb; i++) out.set(t.values(t.unpack(bytes.subarray(i * t.bytes, (i + 1) * t.bytes))), i * t.elems);
  return out;
}

/** Seeded xorshift32: uniform integers in [lo, hi]. */
export function rng(seed: number): (lo: number, hi: number) => number {
  let s = seed >>> 0 || 1;
  return (lo, hi) => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return lo + (s % (hi - lo + 1));
  };
}

/** f16 bits of a finite, normal value of magnitude about 2^-8 .. 2^4, random sign. */
export function saneF16(r: (lo: number, hi: number) => number): number {
  return (r(0, 1) << 15) | (r(7, 19) << 10) | r(0, 1023);
}

/** A random logical block of `t` with sane f16 scales and codes over the whole range. */
export function randomBlock(t: RefType, r: (lo: number, hi: number) => number): Block {
  return {
    d: saneF16(r), m: t.hasMin ? saneF16(r) : 0,
    sc: Array.from({ length: t.nsub }, () => r(t.scale[0], t.scale[1])),
    mn: t.hasMin && t.nsub ? Array.from({ length: t.nsub }, () => r(t.scale[0], t.scale[1])) : [],
    q: Array.from({ length: t.elems }, () => r(t.code[0], t.code[1])),
  };
}
