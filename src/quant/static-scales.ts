/**
 * Static per-tensor int8 activation scales (w8a8-sq-static) from calibration:
 *   max         the largest calibrated |x| / 127 (nothing clips on the calibration data)
 *   mse         the clip minimizing the expected squared quantization error of
 *               the calibrated values (histogram.ts: rounding inside, clipping above)
 *   percentile  the p-th percentile of |x| over all calibrated values / 127
 * All from the smoothed inputs (after SmoothQuant's factors are folded in).
 *
 * Inputs of the kinds in `dynamicInputs` (default: down_proj's) get no static
 * scale and keep per-token scales: down_proj reads silu(gate) * up, which no
 * norm bounds, and on the first token of a sequence (the attention sink) some
 * layers' values there are 30-40x any other token's (docs/ACCURACY.md).
 */
import { InvalidOptionError } from "../errors.js";
import type { ActivationDetail } from "../native.js";
import { histPercentile, mseOptimalScale } from "./histogram.js";

export const STATIC_SCALE_METHODS = ["max", "mse", "percentile"] as const;
export type StaticScaleMethod = (typeof STATIC_SCALE_METHODS)[number];

/** default percentile of the "percentile" method */
export const DEFAULT_PERCENTILE = 99.99;

/** The matmul inputs of a block, by the weights reading each. */
export const INPUT_KINDS = { qkv: ["attn_q", "attn_k", "attn_v"], o: ["attn_output"], gate_up: ["ffn_gate", "ffn_up"], down: ["ffn_down"] } as const;
export type InputKind = keyof typeof INPUT_KINDS;
export const DEFAULT_DYNAMIC_INPUTS: readonly InputKind[] = ["down"];

/** The input kind of a block weight ("blk.3.ffn_down.weight" -> "down"), undefined for others. */
export function inputKind(name: string): InputKind | undefined {
  const m = /^blk\.\d+\.([a-z_]+)\.weight$/.exec(name);
  if (!m) return undefined;
  return (Object.keys(INPUT_KINDS) as InputKind[]).find((k) => (INPUT_KINDS[k] as readonly string[]).includes(m[1]!));
}

export function checkDynamicInputs(v: unknown): InputKind[] {
  if (v === undefined) return [...DEFAULT_DYNAMIC_INPUTS];
  const kinds = Object.keys(INPUT_KINDS);
  if (!Array.isArray(v) || v.some((k) => !kinds.includes(k as string))) {
    throw new InvalidOptionError(`dynamicInputs must be a list of ${kinds.join(", ")}; got ${JSON.stringify(v)}`);
  }
  return [...new Set(v as InputKind[])];
}

export function checkStaticScales(method: unknown, percentile: unknown): { method: StaticScaleMethod; percentile: number } {
  if (method !== undefined && !(STATIC_SCALE_METHODS as readonly unknown[]).includes(method)) {
    throw new InvalidOptionError(`staticScales must be one of ${STATIC_SCALE_METHODS.join(", ")}; got ${JSON.stringify(method)}`);
  }
  const p = percentile ?? DEFAULT_PERCENTILE;
  if (typeof p !== "number" || !(p > 0 && p <= 100)) throw new InvalidOptionError(`staticPercentile must be in (0, 100], got ${String(percentile)}`);
  return { method: (method as StaticScaleMethod | undefined) ?? "mse", percentile: p };
}

/** The scale of one input from its histogram of |x| (max: the calibrated maximum, `max`). */
export function staticScale(d: Pick<ActivationDetail, "hist">, max: number, method: StaticScaleMethod, percentile = DEFAULT_PERCENTILE): number {
  const m = method === "max" ? max : method === "mse" ? mseOptimalScale(d.hist).scale * 127 : histPercentile(d.hist, percentile / 100);
  return m > 0 ? m / 127 : 1 / 127;
}
