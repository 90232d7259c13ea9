/**
 * The weight plan: which format each tensor of a model is stored in, whether
 * the LM head is the embedding table (an alias) or a copy of its own, and
 * which weights a decode step reads. One policy for every source: a Hugging
 * Face directory, a GGUF file, a synthetic model (loader.ts) and a saved
 * quantized model (saved/load.ts, which checks its file against the plan).
 *
 *   - a quant format applies to the blocks' matrices (`blk.*`), and to the LM
 *     head with quantHead; llama.cpp's block formats (q4_0, q8_0) to every
 *     matrix, the embedding and head included, as in a GGUF file;
 *   - other matrices keep the compute dtype, or the source's own block format
 *     when it has one (a GGUF Q4_0 embedding stays q4_0);
 *   - vectors (norms, biases) stay f32 ("vector");
 *   - tied embeddings: the head aliases the embedding table, except when the
 *     head is quantized and the table is not: then the head is a quantized
 *     copy of the table (`from`).
 */
import type { NativeWeightFormat } from "../native.js";
import { isGgmlQuant, nativeFormat, type QuantFormat } from "../quant/formats.js";

export type ComputeDtype = "f32" | "bf16";

/** A tensor of the model as its description lists it (GGUF name, [rows, cols] = PyTorch [out, in]). */
export interface PlanInput {
  name: string;
  rows: number;
  cols: number;
  /** "matrix": takes a storage format; anything else (norms, biases) stays an f32 vector */
  kind: string;
}

export interface PlannedWeight {
  name: string;
  rows: number;
  cols: number;
  /** the native format it is loaded in: "vector", "f32", "bf16", "q8", { format: "q4a8", group: 128, amplifier: "max" }, "q4_0", ... */
  native: NativeWeightFormat;
  /** the quant format it was quantized to (undefined: float or the source's own format) */
  quant?: QuantFormat;
  /** w8a8-sq-static: a static activation scale comes with it */
  staticScale: boolean;
  /** read by every decode step (every matrix but the embedding and position lookups) */
  decode: boolean;
  /** made from another tensor of the source (the quantized copy of a tied embedding) */
  from?: string;
}

export interface WeightPlan {
  weights: PlannedWeight[];
  /** output.weight is token_embd.weight (tied, same storage) */
  alias: boolean;
}

export interface PlanOptions {
  dtype: ComputeDtype;
  quant?: QuantFormat;
  quantHead: boolean;
  tieWordEmbeddings: boolean;
  /** the source's own block format of a matrix (a GGUF Q4_0 tensor stays "q4_0"); undefined: the compute dtype */
  preferred?: (t: PlanInput) => NativeWeightFormat | undefined;
}

const EMBD = "token_embd.weight", HEAD = "output.weight";
/** lookup tables: a step reads one row of each, not the matrix */
const LOOKUPS = new Set([EMBD, "position_embd.weight"]);

export function planWeights(tensors: readonly PlanInput[], o: PlanOptions): WeightPlan {
  const every = !!o.quant && isGgmlQuant(o.quant);
  const quantized = (t: PlanInput): boolean =>
    !!o.quant && t.kind === "matrix" && (every || t.name.startsWith("blk.") || (o.quantHead && t.name === HEAD));
  const weights: PlannedWeight[] = tensors.map((t) => {
    if (t.kind !== "matrix") return { name: t.name, rows: t.rows, cols: t.cols, native: "vector", staticScale: false, decode: false };
    const q = quantized(t);
    return {
      name: t.name, rows: t.rows, cols: t.cols,
      native: q ? nativeFormat(o.quant!) : o.preferred?.(t) ?? o.dtype,
      ...(q ? { quant: o.quant! } : {}),
      staticScale: q && o.quant === "w8a8-sq-static" && t.name.startsWith("blk."),
      decode: !LOOKUPS.has(t.name),
    };
  });
  const embd = tensors.find((t) => t.name === EMBD);
  const ownHead = o.tieWordEmbeddings && o.quantHead && !!o.quant && !every;
  if (ownHead && embd) {
    weights.push({ name: HEAD, rows: embd.rows, cols: embd.cols, native: nativeFormat(o.quant!), quant: o.quant!, staticScale: false, decode: true, from: EMBD });
  }
  return { weights, alias: o.tieWordEmbeddings && !ownHead };
}

/**
 * Bytes of weights one decode step reads, from the native model's own sizes
 * (weightStats: every buffer of each weight's layout): every planned decode
 * weight, plus the embedding table again when the head aliases it.
 */
export function decodeWeightBytes(plan: WeightPlan, stats: Record<string, { bytes: number }>): number {
  let n = 0;
  for (const w of plan.weights) if (w.decode) n += stats[w.name]!.bytes;
  if (plan.alias) n += stats[EMBD]!.bytes;
  return n;
}
