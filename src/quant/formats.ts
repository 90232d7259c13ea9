/**
 * Quantization formats (the `quant` option of LLM.load and `--quant` of the CLI)
 * and how they map onto native weight formats.
 *
 *   w8a8              int8 weights, symmetric per output channel; activations
 *                     quantized to int8 per token at run time; int8 x int8 -> int32
 *   w8a8-sq           w8a8 after SmoothQuant (calibrated smoothing folded into the
 *                     RMSNorm weights and the q/k/v, gate/up columns)
 *   w8a8-sq-static    w8a8-sq with static per-tensor activation scales from the
 *                     calibration (no per-token scale computation at run time)
 *   w4a16-g128/-g32   int4 weights, round-to-nearest per group of 128/32 inputs,
 *   w4a16-ch          or per output channel; dequantized in the kernel, f32 math.
 *   ...-asym          asymmetric (min/max) int4 groups instead of symmetric (absmax)
 *   w4a8-g128/-g32    symmetric int4 weights in groups of 128/32 with float group
 *                     scales, activations int8 per token; exact integer dot per
 *                     group, then int-to-float and scale per group
 *   w4a8-g128-is      Integer Scale: group scales become integers round(s * alpha)
 *   (-g32-is)         with alpha = 2^n from the paper's heuristic (smallest power
 *                     of two lifting the smallest group scale to >= 1); partial
 *                     sums stay int32, one conversion to float per output
 *   ...-is1024        the same with the paper's fixed amplifier 1024
 *   ...-ismax         the largest power of two per matrix that keeps every
 *                     output's worst-case int32 sum in range
 *   (every -is amplifier is capped at that int32-safe maximum: native/src/quantize.h)
 *   q4_0, q8_0        llama.cpp's Q4_0 / Q8_0 blocks of 32, f16 scales, activations
 *                     quantized to Q8_0 blocks like llama.cpp's CPU backend; the
 *                     weights are quantized with ggml's reference quantizers, so a
 *                     checkpoint loaded as q4_0 holds the same bytes as the same
 *                     checkpoint converted to a GGUF Q4_0 file (native/src/kernels/ggml.h)
 *
 * The transformer blocks' linear layers are quantized; the embedding table and
 * the LM head keep the compute dtype (as SmoothQuant and most W4 recipes do).
 */
import { InvalidOptionError } from "../errors.js";

/** w4a16: int4 groups of `group` inputs (0: per output channel), symmetric or asymmetric. */
export interface NativeQ4Spec {
  readonly format: "q4";
  readonly group: 0 | 32 | 128;
  readonly asym?: boolean;
}
/** w4a8: symmetric int4 groups; `amplifier` makes the group scales integers (Integer Scale), absent: float scales. */
export interface NativeQ4A8Spec {
  readonly format: "q4a8";
  readonly group: 32 | 128;
  /** "heuristic" (the paper's), "max" (largest int32-safe) or a fixed power of two */
  readonly amplifier?: "heuristic" | "max" | number;
}
/** The int4 formats' native specs (src/native.ts NativeWeightFormat). */
export type NativeInt4Spec = NativeQ4Spec | NativeQ4A8Spec;

/**
 * One row per quant format: the native storage format it loads into (a typed
 * spec of the native format table: src/native.ts NativeWeightFormat), whether
 * SmoothQuant calibration comes first (and with static activation scales), and
 * whether it applies to every matrix (llama.cpp's block formats: embedding and
 * head too, as in a GGUF file) rather than the blocks' linear layers only.
 */
interface QuantRow {
  native: "q8" | "q4_0" | "q8_0" | NativeInt4Spec;
  smooth?: "dynamic" | "static";
  everyMatrix?: boolean;
}

export const QUANT_TABLE = {
  "w8a8": { native: "q8" },
  "w8a8-sq": { native: "q8", smooth: "dynamic" },
  "w8a8-sq-static": { native: "q8", smooth: "static" },
  "w4a16-g128": { native: { format: "q4", group: 128 } },
  "w4a16-g32": { native: { format: "q4", group: 32 } },
  "w4a16-ch": { native: { format: "q4", group: 0 } },
  "w4a16-g128-asym": { native: { format: "q4", group: 128, asym: true } },
  "w4a16-g32-asym": { native: { format: "q4", group: 32, asym: true } },
  "w4a16-ch-asym": { native: { format: "q4", group: 0, asym: true } },
  "w4a8-g128": { native: { format: "q4a8", group: 128 } },
  "w4a8-g32": { native: { format: "q4a8", group: 32 } },
  "w4a8-g128-is": { native: { format: "q4a8", group: 128, amplifier: "heuristic" } },
  "w4a8-g32-is": { native: { format: "q4a8", group: 32, amplifier: "heuristic" } },
  "w4a8-g128-is1024": { native: { format: "q4a8", group: 128, amplifier: 1024 } },
  "w4a8-g128-ismax": { native: { format: "q4a8", group: 128, amplifier: "max" } },
  "w4a8-g32-ismax": { native: { format: "q4a8", group: 32, amplifier: "max" } },
  "q4_0": { native: "q4_0", everyMatrix: true },
  "q8_0": { native: "q8_0", everyMatrix: true },
} as const satisfies Record<string, QuantRow>;

export type QuantFormat = keyof typeof QUANT_TABLE;
export const QUANT_FORMATS = Object.keys(QUANT_TABLE) as readonly QuantFormat[];
/** The native storage format names the quant formats load into. */
export type QuantNativeFormat = (typeof QUANT_TABLE)[QuantFormat]["native"];

/**
 * A native spec's one-word label, for messages: the name of a format without parameters, and for
 * the int4 specs their group and options (`q4-g128`, `q4-ch-asym`, `q4a8-g32-is-max`).
 */
export function nativeFormatLabel(f: string | NativeInt4Spec): string {
  if (typeof f === "string") return f;
  const group = f.group === 0 ? "ch" : `g${f.group}`;
  if (f.format === "q4") return `q4-${group}${f.asym ? "-asym" : ""}`;
  const amp = f.amplifier === undefined ? "" : f.amplifier === "heuristic" ? "-is" : `-is-${f.amplifier}`;
  return `q4a8-${group}${amp}`;
}

/** `loadIn8bit` / `loadIn4bit` shorthands (see docs/QUANTIZATION.md for why these). */
export const LOAD_IN_8BIT: QuantFormat = "w8a8";
export const LOAD_IN_4BIT: QuantFormat = "w4a8-g128-ismax";

export function checkQuant(q: unknown, flag = "quant"): QuantFormat {
  if (typeof q !== "string" || !(QUANT_FORMATS as readonly string[]).includes(q)) {
    throw new InvalidOptionError(`${flag} must be one of ${QUANT_FORMATS.join(", ")}; got ${JSON.stringify(q)}`);
  }
  return q as QuantFormat;
}

export function isSmoothQuant(q: QuantFormat): boolean {
  return "smooth" in QUANT_TABLE[q];
}

/** Native weight format of a matrix quantized to q. */
export function nativeFormat(q: QuantFormat): QuantNativeFormat {
  return QUANT_TABLE[q].native;
}

/** Native formats that only hold a GGUF file's own blocks (no quantizer: `--quant` cannot name them). */
export type GgufBlockFormat = "q2_k" | "q3_k" | "q4_k" | "q5_k" | "q6_k" | "q4_1" | "q5_0" | "q5_1" | "iq4_nl" | "iq4_xs";

/** llama.cpp block formats: every matrix is quantized, embedding and LM head included, as in a GGUF file. */
export function isGgmlQuant(q: string): boolean {
  return Object.hasOwn(QUANT_TABLE, q) && "everyMatrix" in QUANT_TABLE[q as QuantFormat];
}
