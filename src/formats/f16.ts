/** f32 -> IEEE half and bfloat16 bit patterns, round to nearest even (what numpy and ggml do). */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The f16 bits of x (round to nearest even; overflow to inf; NaN stays NaN). */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal half (or zero): shift the full mantissa into place, rounding to even
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let v = mant >>> shift;
    if (rest > half || (rest === half && (v & 1))) v++;
    return sign | v;
  }
  let v = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (v & 1))) v++; // a carry may round up into inf, as it should
  return sign | v;
}

/** The bf16 bits of x (round to nearest even; NaN stays a quiet NaN). */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** An f32 array as little-endian f16 or bf16 bytes. */
export function f32ToHalfBytes(x: Float32Array, kind: "F16" | "BF16"): Uint8Array {
  const out = new Uint16Array(x.length);
  const conv = kind === "F16" ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < x.length; i++) out[i] = conv(x[i]!);
  return new Uint8Array(out.buffer);
}
