/**
 * RoPE frequency scaling: the Hugging Face `rope_scaling` / `rope_parameters`
 * types lowbit runs, the GGUF forms llama.cpp writes for them, and the native
 * parameters they become. Pair i of a head turns by
 *
 *   freqScale * (pos * theta^(-2i/d) / factors[i])
 *
 * (llama.cpp's rope: freq_scale = 1 / linear factor; factors = the file's
 * rope_freqs.weight, which its converter computes for llama3 from the formula
 * below). longrope (Phi-3 128k, Phi-3.5) has two sets of factors, the long
 * one used by a step whose last position reaches original_max_position_embeddings
 * (transformers' choice per forward; llama.cpp picks one set by context size),
 * and multiplies cos / sin by its attention factor. Any other scaling type is an
 * UnsupportedArchitectureError naming it.
 */
import { ConfigError, UnsupportedArchitectureError } from "../errors.js";
import { shownJson } from "../json-text.js";

export type RopeScaling =
  /** positions divided by `factor` (HF "linear"; GGUF rope.scaling.type "linear") */
  | { type: "linear"; factor: number }
  /** Llama 3.1+: low frequencies divided by `factor`, high kept, a smooth ramp between */
  | { type: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }
  /** per-pair divisors as a GGUF file stores them (rope_freqs.weight, head_dim/2 values) */
  | { type: "freq-factors"; factors: readonly number[] }
  /** Phi-3 longrope: per-pair divisors, short below originalMaxPositionEmbeddings, long from it; cos / sin x attentionFactor */
  | { type: "longrope"; shortFactor: readonly number[]; longFactor: readonly number[]; originalMaxPositionEmbeddings: number; attentionFactor: number };

/** The RoPE options of a NativeModel (absent = plain RoPE). */
export interface NativeRopeOptions {
  ropeFreqScale?: number;
  ropeFreqFactors?: Float32Array;
  /** longrope: the long divisors, used by a step whose last position + 1 exceeds ropeLongFrom */
  ropeFreqFactorsLong?: Float32Array;
  ropeLongFrom?: number;
  /** cos / sin multiplied by this (longrope's attention factor) */
  ropeAttnFactor?: number;
  /** rotary dims of a head when not all (partial rotary), 0 without RoPE */
  ropeDims?: number;
  ropeThetaLayers?: Float32Array;
  /** per layer 1 / linear factor (Gemma 3: its global layers scaled, its sliding ones not) */
  ropeFreqScaleLayers?: Float32Array;
}

type Json = Record<string, unknown>;

function num(o: Json, key: string, def: number | undefined, source: string): number {
  const v = o[key];
  if ((v === undefined || v === null) && def !== undefined) return def;
  // positive and finite in f32 both ways (the native side takes 1/factor and the factors as f32)
  if (typeof v !== "number" || !(Math.fround(v) > 0) || !Number.isFinite(Math.fround(v)) || !Number.isFinite(Math.fround(1 / v))) {
    throw new ConfigError(`${source}: rope scaling "${key}" must be a positive number within f32 range, got ${shownJson(v)}`);
  }
  return v;
}

/**
 * The scaling of an HF rope block (`rope_scaling` or transformers v5
 * `rope_parameters`); null for none / "default". Defaults as transformers'.
 */
export function parseRopeScaling(block: Json, source: string, model: { maxPositionEmbeddings?: unknown; originalMaxPositionEmbeddings?: unknown } = {}): RopeScaling | null {
  const t = block.rope_type ?? block.type;
  if (t === undefined || t === null || t === "default") return null;
  if (t === "linear") return { type: "linear", factor: num(block, "factor", undefined, source) };
  if (t === "llama3") {
    const s: RopeScaling = {
      type: "llama3",
      factor: num(block, "factor", undefined, source),
      lowFreqFactor: num(block, "low_freq_factor", undefined, source),
      highFreqFactor: num(block, "high_freq_factor", undefined, source),
      originalMaxPositionEmbeddings: num(block, "original_max_position_embeddings", undefined, source),
    };
    if (!(s.highFreqFactor > s.lowFreqFactor)) {
      throw new ConfigError(`${source}: llama3 rope scaling needs high_freq_factor > low_freq_factor`);
    }
    return s;
  }
  if (t === "longrope") return parseLongrope(block, source, model);
  throw new UnsupportedArchitectureError(`${source}: rope scaling type ${shownJson(t)} is not supported (supported: default, linear, llama3, longrope)`);
}

/** transformers' _compute_longrope_parameters: the factor defaults to max / original positions, the attention factor to sqrt(1 + ln(factor) / ln(original)). */
function parseLongrope(block: Json, source: string, model: { maxPositionEmbeddings?: unknown; originalMaxPositionEmbeddings?: unknown }): RopeScaling {
  const factors = (key: string): number[] => {
    const v = block[key];
    if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== "number" || !(Math.fround(x) > 0) || !Number.isFinite(Math.fround(x)))) {
      throw new ConfigError(`${source}: longrope "${key}" must be a list of positive numbers`);
    }
    return v.map(Math.fround);
  };
  const shortFactor = factors("short_factor"), longFactor = factors("long_factor");
  if (shortFactor.length !== longFactor.length) throw new ConfigError(`${source}: longrope short_factor and long_factor differ in length`);
  const orig = block.original_max_position_embeddings ?? model.originalMaxPositionEmbeddings;
  const originalMaxPositionEmbeddings = num({ orig }, "orig", undefined, source);
  if (!Number.isInteger(originalMaxPositionEmbeddings)) throw new ConfigError(`${source}: longrope original_max_position_embeddings must be an integer`);
  let factor = block.factor === undefined || block.factor === null ? undefined : num(block, "factor", undefined, source);
  if (factor === undefined) {
    const max = model.maxPositionEmbeddings;
    if (typeof max !== "number" || !(max > 0)) throw new ConfigError(`${source}: longrope needs max_position_embeddings (or a factor)`);
    factor = max / originalMaxPositionEmbeddings;
  }
  const attentionFactor = block.attention_factor === undefined || block.attention_factor === null
    ? (factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(originalMaxPositionEmbeddings)))
    : num(block, "attention_factor", undefined, source);
  return { type: "longrope", shortFactor, longFactor, originalMaxPositionEmbeddings, attentionFactor };
}

/**
 * llama3's per-pair divisors, as llama.cpp's converter computes rope_freqs
 * (conversion/llama.py): wavelength 2*pi/f of each frequency f; below
 * original/high_freq_factor kept (1), above original/low_freq_factor divided
 * by factor, between a smooth ramp. HF's inv_freq_llama = inv_freq / these.
 */
export function llama3FreqFactors(s: Extract<RopeScaling, { type: "llama3" }>, theta: number, headDim: number): number[] {
  const low = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const high = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  const out: number[] = [];
  for (let i = 0; i < headDim; i += 2) {
    const freq = Math.fround(1 / Math.fround(Math.pow(theta, Math.fround(i / headDim))));
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < high) out.push(1);
    else if (wavelen > low) out.push(s.factor);
    else {
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out.push(1 / ((1 - smooth) / s.factor + smooth));
    }
  }
  return out.map(Math.fround);
}

/** The native RoPE options of a config's scaling. */
export function nativeRopeOptions(c: { ropeTheta: number; headDim: number; ropeScaling: RopeScaling | null; family?: { rotaryDims: number; layerRopeTheta?: number[]; windows?: number[] } }): NativeRopeOptions {
  const s = c.ropeScaling;
  const dims = c.family?.rotaryDims ?? c.headDim;
  const base: NativeRopeOptions = {
    ...(dims !== c.headDim ? { ropeDims: dims } : {}),
    ...(c.family?.layerRopeTheta ? { ropeThetaLayers: Float32Array.from(c.family.layerRopeTheta) } : {}),
  };
  if (s?.type === "linear" && c.family?.layerRopeTheta && c.family.windows) {
    // Gemma 3: the config's scaling is its global layers' (transformers' full_attention rope; llama.cpp's
    // rope_freq_scale_train_swa = 1 for the sliding ones)
    return { ...base, ropeFreqScaleLayers: Float32Array.from(c.family.windows, (w) => (w > 0 ? 1 : 1 / s.factor)) };
  }
  if (s && c.family?.layerRopeTheta) throw new ConfigError(`rope scaling ${s.type} with per-layer rope thetas is not supported yet`);
  if (!s) return base;
  if (dims === 0) throw new ConfigError(`rope scaling ${s.type} on a model without RoPE`);
  if (s.type === "linear") return { ...base, ropeFreqScale: 1 / s.factor };
  if (s.type === "longrope") {
    if (s.shortFactor.length !== dims / 2) throw new ConfigError(`longrope factors: ${s.shortFactor.length} values for ${dims} rotary dims (expected ${dims / 2})`);
    return {
      ...base, ropeFreqFactors: Float32Array.from(s.shortFactor), ropeFreqFactorsLong: Float32Array.from(s.longFactor),
      ropeLongFrom: s.originalMaxPositionEmbeddings, ropeAttnFactor: s.attentionFactor,
    };
  }
  const factors = s.type === "llama3" ? llama3FreqFactors(s, c.ropeTheta, dims) : s.factors;
  if (factors.length !== dims / 2) {
    throw new ConfigError(`rope frequency factors: ${factors.length} values for ${dims} rotary dims (expected ${dims / 2})`);
  }
  return { ...base, ropeFreqFactors: Float32Array.from(factors) };
}
