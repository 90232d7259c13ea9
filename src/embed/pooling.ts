/**
 * Sentence embeddings from a model's final hidden states (after the final norm, [n, d] per text):
 * pooled over the tokens ("mean"; "last": the last token's, what decoder embedding models such as
 * Qwen3-Embedding use; "cls": the first token's) and, by default, scaled to unit length (L2), as
 * sentence-transformers' Normalize does.
 */
import { InvalidOptionError } from "../errors.js";

export type Pooling = "mean" | "last" | "cls";

export interface EmbedOptions {
  /** how the tokens' hidden states become one vector (default "mean") */
  pooling?: Pooling;
  /** scale to unit L2 norm (default true) */
  normalize?: boolean;
}

export function checkEmbedOptions(o: EmbedOptions): { pooling: Pooling; normalize: boolean } {
  if (typeof o !== "object" || o === null) throw new InvalidOptionError("embed options must be an object");
  const pooling = o.pooling ?? "mean";
  if (!["mean", "last", "cls"].includes(pooling)) throw new InvalidOptionError(`pooling must be "mean", "last" or "cls", got ${JSON.stringify(pooling)?.slice(0, 40)}`);
  if (o.normalize !== undefined && typeof o.normalize !== "boolean") throw new InvalidOptionError("normalize must be a boolean");
  return { pooling, normalize: o.normalize ?? true };
}

/** One vector [d] from hidden states [n, d] (row-major). */
export function pool(hidden: Float32Array, n: number, d: number, pooling: Pooling, normalize: boolean): Float32Array {
  const out = new Float32Array(d);
  if (pooling === "mean") {
    const acc = new Float64Array(d);
    for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) acc[j] += hidden[r * d + j]!;
    for (let j = 0; j < d; j++) out[j] = acc[j]! / n;
  } else {
    out.set(hidden.subarray((pooling === "last" ? n - 1 : 0) * d, (pooling === "last" ? n : 1) * d));
  }
  if (normalize) {
    let s = 0;
    for (let j = 0; j < d; j++) s += out[j]! * out[j]!;
    const norm = Math.sqrt(s);
    if (norm > 0) for (let j = 0; j < d; j++) out[j] = out[j]! / norm;
  }
  return out;
}
