/**
 * How the int4 formats choose their values (LoadOptions.quantMethod, `lowbit
 * quantize --method`):
 *   rtn   round to nearest on each group's grid (the default; no calibration)
 *   gptq  GPTQ: calibrated Hessians, each column's rounding error spread over
 *         the columns not yet quantized (quant/gptq.ts, native/src/gptq.h);
 *         actOrder quantizes columns by decreasing Hessian diagonal; layer by
 *         layer (each layer's Hessians with the layers before it quantized)
 *         unless gptqOneShot
 *   awq   AWQ: per-input-channel scales searched on calibration activations,
 *         folded into the preceding norm / ffn_up's rows (quant/awq.ts), then RTN
 * GPTQ and AWQ need an int4 format (w4a16-*, w4a8-*, q4_0): the grids they choose
 * are the formats' own, so the result runs on the existing kernels.
 */
import { InvalidOptionError } from "../errors.js";
import { nativeFormat, type QuantFormat } from "./formats.js";

export const QUANT_METHODS = ["rtn", "gptq", "awq"] as const;
export type QuantMethod = (typeof QUANT_METHODS)[number];

/** Whether GPTQ / AWQ can target this format (an int4 grid the native solver knows). */
export function calibratedMethodApplies(q: QuantFormat): boolean {
  const n = nativeFormat(q);
  return typeof n === "object" ? n.format === "q4" || n.format === "q4a8" : n === "q4_0";
}

/** Checks quantMethod / actOrder / gptqDamp against the format; returns the method (default "rtn"). */
export function checkQuantMethod(method: unknown, quant: QuantFormat | undefined, actOrder?: unknown, damp?: unknown, oneShot?: unknown): QuantMethod {
  if (method !== undefined && !(QUANT_METHODS as readonly unknown[]).includes(method)) {
    throw new InvalidOptionError(`quantMethod must be one of ${QUANT_METHODS.join(", ")}; got ${JSON.stringify(method)}`);
  }
  const m = (method as QuantMethod | undefined) ?? "rtn";
  if (actOrder !== undefined && typeof actOrder !== "boolean") throw new InvalidOptionError(`actOrder must be a boolean, got ${String(actOrder)}`);
  if (actOrder && m !== "gptq") throw new InvalidOptionError("actOrder applies to quantMethod gptq only");
  if (oneShot !== undefined && typeof oneShot !== "boolean") throw new InvalidOptionError(`gptqOneShot must be a boolean, got ${String(oneShot)}`);
  if (oneShot && m !== "gptq") throw new InvalidOptionError("gptqOneShot applies to quantMethod gptq only");
  if (damp !== undefined && (m !== "gptq" || typeof damp !== "number" || !(damp > 0 && damp <= 1))) {
    throw new InvalidOptionError(`gptqDamp must be a number in (0, 1] and needs quantMethod gptq; got ${String(damp)}`);
  }
  if (m === "rtn") return m;
  if (quant === undefined) throw new InvalidOptionError(`quantMethod ${m} needs a quant format (an int4 one: w4a16-*, w4a8-*, q4_0)`);
  if (!calibratedMethodApplies(quant)) {
    throw new InvalidOptionError(`quantMethod ${m} applies to the int4 formats (w4a16-*, w4a8-*, q4_0), not ${quant}`);
  }
  return m;
}
