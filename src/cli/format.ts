/**
 * How the command line shows numbers and weight formats.
 *
 * f32Decimal: a value stored as f32 (a GGUF's rms epsilon, 1e-5 rounded to f32 is
 * 0.000009999999747378752 as a double) shown as the shortest decimal that rounds to the same
 * f32 (`1e-5`): Math.fround of the shorter text equals Math.fround of the value. Small and huge
 * magnitudes in exponent form.
 *
 * weightFormat: what the block matrices are stored as: the quant format when the model was
 * quantized (w8a8-sq, ...), else the native formats of the blk.* matrices (q4_0 for a q4_0
 * GGUF; q4_k+q6_k for a mixed one), else the compute dtype.
 */
import type { WeightStat } from "../native.js";

/** The shortest decimal text whose f32 rounding is that of x (exponent form below 1e-3 or from 1e21). */
export function f32Decimal(x: number): string {
  if (!Number.isFinite(x) || x === 0 || (Number.isInteger(x) && Math.abs(x) <= 2 ** 24)) return String(x);
  const want = Math.fround(x);
  let best = x;
  for (let p = 1; p <= 17; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === want) {
      best = y;
      break;
    }
  }
  const a = Math.abs(best);
  return a < 1e-3 || a >= 1e21 ? best.toExponential() : String(best);
}

/** The value of f32Decimal as a number (for JSON output). */
export const f32Number = (x: number): number => Number(f32Decimal(x));

/** The storage format of the block matrices: quant, else their native format(s), else dtype. */
export function weightFormat(m: { quant?: string | undefined; dtype: string; weightStats(): Record<string, WeightStat> }): string {
  if (m.quant) return m.quant;
  const count = new Map<string, number>();
  for (const [name, s] of Object.entries(m.weightStats())) if (name.startsWith("blk.")) count.set(s.format, (count.get(s.format) ?? 0) + 1);
  if (count.size === 0) return m.dtype;
  // the most common first: q4_k+q6_k
  return [...count.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([f]) => f).join("+");
}

/** "q4_0 (bf16 compute)" when the weights are not stored in the compute dtype; else the dtype. */
export function formatLabel(weights: string, dtype: string): string {
  return weights === dtype ? dtype : `${weights} (${dtype} compute)`;
}
