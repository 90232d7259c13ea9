/**
 * SmoothQuant (Xiao et al.): per input channel j of the linear layers that
 * read an RMSNorm output, s_j = max|X_j|^alpha / max|W_j|^(1 - alpha), with
 * max|X_j| from calibration and max|W_j| over every matrix reading that input
 * (q/k/v share one s, gate/up share one s). The norm weight is divided by s
 * and the matrices' columns multiplied by s: the float model is unchanged,
 * but activation outliers move into the weights, where int8 per-channel
 * quantization absorbs them.
 *
 * o_proj and down_proj have no preceding norm to fold into; they stay
 * unsmoothed (dynamic per-token int8 activations still apply to them).
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DataError, InvalidOptionError } from "../errors.js";
import { readJsonlTexts } from "../data/jsonl.js";
import { llamaTensors } from "../models/llama.js";
import { FAMILIES, type FamilyTraits } from "../models/family.js";
import type { ModelSource } from "../models/source.js";
import type { ActivationDetail, ActivationHessian, ActivationStatsOptions } from "../native.js";
import { columnAbsMax, toF32 } from "./tensors.js";

export interface CalibrationOptions {
  /** jsonl of texts (default: ../shared/data/python-heldout-calib.jsonl when present) */
  file?: string;
  /** number of texts (default 32) */
  samples?: number;
  /** tokens per text, longer ones cut (default 512) */
  tokens?: number;
  /** migration strength alpha in [0, 1] (default 0.5) */
  alpha?: number;
  /** called after each calibration text with (texts done, texts total) */
  onProgress?: (done: number, total: number) => void;
}

/** What calibration needs of a float model (LLM implements it). */
export interface Calibratable {
  readonly contextLength: number;
  encode(text: string): number[];
  /** every row's logits of one forward step from an empty cache */
  logitsAll(ids: number[]): Promise<Float32Array>;
  /** runs fn while recording each matrix input's per-column max |x|; returns them by weight name */
  withActivationStats(fn: () => Promise<void>): Promise<Record<string, Float32Array>>;
  /** runs fn while recording histograms (and sampled rows) of each matrix input; returns them by weight name */
  withActivationDetail?(fn: () => Promise<void>, opts: ActivationStatsOptions): Promise<Record<string, ActivationDetail>>;
  /** runs fn while accumulating each matrix input's X^T X (GPTQ, AWQ); returns them by weight name */
  withActivationHessians?(fn: () => Promise<void>): Promise<Record<string, ActivationHessian>>;
  /**
   * Sequential GPTQ: runs fn on the graph cut after layer `stage` (hidden-state output; "head":
   * the whole graph) while accumulating X^T X of that stage's inputs only (blk.<stage>.*, output.*)
   */
  withStageHessians?(stage: number | "head", fn: () => Promise<void>): Promise<Record<string, ActivationHessian>>;
  /** Sequential GPTQ: a matrix's values [rows, cols] (f32) replace the loaded ones */
  replaceMatrix?(name: string, x: Float32Array, rows: number, cols: number): void;
}

/**
 * Norm -> the matrices reading its output, per layer: q/k/v after attn_norm,
 * the MLP's gate and up (or up) after ffn_norm, or after attn_norm too where
 * the family's MLP reads the attention's norm (GPT-J, Falcon). A LayerNorm's
 * bias is divided like its weight (`bias`: its name).
 */
export function smoothGroups(nLayers: number, t: Pick<FamilyTraits, "gated" | "normBias" | "residual"> = FAMILIES.llama.traits): { norm: string; bias?: string; matrices: string[] }[] {
  const g: { norm: string; bias?: string; matrices: string[] }[] = [];
  const bias = (n: string) => (t.normBias ? { bias: `${n}.bias` } : {});
  for (let l = 0; l < nLayers; l++) {
    const qkv = ["attn_q", "attn_k", "attn_v"], mlp = t.gated ? ["ffn_gate", "ffn_up"] : ["ffn_up"];
    const shared = t.residual === "parallel_shared_norm";
    g.push({ norm: `blk.${l}.attn_norm.weight`, ...bias(`blk.${l}.attn_norm`), matrices: (shared ? [...qkv, ...mlp] : qkv).map((m) => `blk.${l}.${m}.weight`) });
    if (!shared) g.push({ norm: `blk.${l}.ffn_norm.weight`, ...bias(`blk.${l}.ffn_norm`), matrices: mlp.map((m) => `blk.${l}.${m}.weight`) });
  }
  return g;
}

export function defaultCalibrationFile(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [process.env.LOWBIT_SHARED && join(process.env.LOWBIT_SHARED, "data", "python-heldout-calib.jsonl"),
    join(here, "..", "..", "..", "..", "shared", "data", "python-heldout-calib.jsonl")];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

export function checkCalibration(o: CalibrationOptions): Required<Omit<CalibrationOptions, "onProgress">> {
  const alpha = o.alpha ?? 0.5;
  if (typeof alpha !== "number" || !(alpha >= 0 && alpha <= 1)) throw new InvalidOptionError(`smoothAlpha must be in [0, 1], got ${String(o.alpha)}`);
  const samples = o.samples ?? 32, tokens = o.tokens ?? 512;
  if (!Number.isSafeInteger(samples) || samples < 1) throw new InvalidOptionError(`calibration samples must be an integer >= 1, got ${String(o.samples)}`);
  if (!Number.isSafeInteger(tokens) || tokens < 2) throw new InvalidOptionError(`calibration tokens must be an integer >= 2, got ${String(o.tokens)}`);
  const file = o.file ?? defaultCalibrationFile();
  if (!file) throw new DataError("no calibration data: pass calib (a jsonl of texts); ../shared/data/python-heldout-calib.jsonl was not found");
  return { file, samples, tokens, alpha };
}

/** Runs the calibration texts through `model` (one forward step each, cut to `tokens`). */
export function calibrationPasses(model: Calibratable, o: CalibrationOptions): () => Promise<void> {
  const c = checkCalibration(o);
  const texts = readJsonlTexts(c.file).slice(0, c.samples);
  return async () => {
    o.onProgress?.(0, texts.length);
    let done = 0;
    for (const t of texts) {
      const ids = model.encode(t).slice(0, Math.min(c.tokens, model.contextLength));
      if (ids.length >= 1) await model.logitsAll(ids);
      o.onProgress?.(++done, texts.length);
    }
  };
}

/** Runs calibration texts through `model`; returns weight name -> per-input-column max |x|. */
export function collectActivationMax(model: Calibratable, o: CalibrationOptions): Promise<Record<string, Float32Array>> {
  return model.withActivationStats(calibrationPasses(model, o));
}

/** Runs calibration texts through `model`; returns weight name -> histograms / sampled rows of its input. */
export function collectActivationDetail(model: Calibratable, o: CalibrationOptions, stats: ActivationStatsOptions): Promise<Record<string, ActivationDetail>> {
  if (!model.withActivationDetail) throw new InvalidOptionError("this model records no activation histograms (calibrate a loaded native model: quant/float-model.ts)");
  return model.withActivationDetail(calibrationPasses(model, o), stats);
}

/**
 * Smoothing factors per norm (GGUF names) from activation maxima and the
 * source's weights: s_j = max|X_j|^a / max|W_j|^(1-a), clamped to [1e-5, 1e5].
 */
export function smoothingFactors(source: ModelSource, actMax: Record<string, Float32Array>, alpha: number): Map<string, Float32Array> {
  const specs = new Map(llamaTensors(source.config).map((t) => [t.name, t]));
  const out = new Map<string, Float32Array>();
  for (const g of smoothGroups(source.config.nLayers, FAMILIES[source.config.architecture].traits)) {
    const x = actMax[g.matrices[0]!];
    if (!x) throw new DataError(`calibration recorded no activations for ${g.matrices[0]}`);
    const wmax = new Float32Array(x.length);
    for (const m of g.matrices) {
      const spec = specs.get(m)!;
      const { bytes, dtype } = source.read(spec);
      columnAbsMax(toF32(bytes, dtype), spec.rows, spec.cols, wmax);
    }
    const s = new Float32Array(x.length);
    for (let j = 0; j < x.length; j++) {
      const v = Math.pow(Math.max(x[j]!, 1e-5), alpha) / Math.pow(Math.max(wmax[j]!, 1e-5), 1 - alpha);
      s[j] = Math.min(1e5, Math.max(1e-5, v));
    }
    out.set(g.norm, s);
    if (g.bias) out.set(g.bias, s);
    for (const m of g.matrices) out.set(m, s);
  }
  return out;
}

/**
 * down_proj's input smoothed through ffn_up's rows (gated MLPs: silu(gate) * up
 * is linear in up): s_j = max|X_j|^a / max|W_down[:, j]|^(1-a), clamped like
 * smoothingFactors; `columns` multiplies down_proj's columns (as `smoothing`
 * does), `rows` divides ffn_up's rows (NativeLoadOptions.rowSmoothing).
 */
export function downSmoothing(source: ModelSource, actMax: Record<string, Float32Array>, alpha: number): { columns: Map<string, Float32Array>; rows: Map<string, Float32Array> } {
  const t = FAMILIES[source.config.architecture].traits;
  if (!t.gated) throw new InvalidOptionError(`smoothDown needs a gated MLP (silu(gate) * up); ${source.config.architecture} has none`);
  const specs = new Map(llamaTensors(source.config).map((s) => [s.name, s]));
  const columns = new Map<string, Float32Array>(), rows = new Map<string, Float32Array>();
  for (let l = 0; l < source.config.nLayers; l++) {
    const down = `blk.${l}.ffn_down.weight`, x = actMax[down], spec = specs.get(down)!;
    if (!x) throw new DataError(`calibration recorded no activations for ${down}`);
    const { bytes, dtype } = source.read(spec);
    const w = columnAbsMax(toF32(bytes, dtype), spec.rows, spec.cols);
    const s = Float32Array.from(x, (v, j) => Math.min(1e5, Math.max(1e-5, Math.pow(Math.max(v, 1e-5), alpha) / Math.pow(Math.max(w[j]!, 1e-5), 1 - alpha))));
    columns.set(down, s);
    rows.set(`blk.${l}.ffn_up.weight`, s);
  }
  return { columns, rows };
}

/**
 * Static per-tensor activation scales (w8a8-sq-static) by calibrated max: for
 * each block matrix, the largest calibrated |x| of its input after smoothing
 * (x_j / s_j), / 127. (The other methods need histograms: static-scales.ts.)
 */
export function staticActivationScales(actMax: Record<string, Float32Array>, smoothing: Map<string, Float32Array>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, x] of Object.entries(actMax)) {
    if (!name.startsWith("blk.")) continue; // the LM head stays in float
    out.set(name, smoothedMax(x, smoothing.get(name)) / 127 || 1 / 127);
  }
  return out;
}

/** max_j x_j / s_j (s absent: max_j x_j) */
export function smoothedMax(x: Float32Array, s: Float32Array | undefined): number {
  let m = 0;
  for (let j = 0; j < x.length; j++) m = Math.max(m, x[j]! / (s ? s[j]! : 1));
  return m;
}
