/**
 * Accuracy of weight formats against the f32 model, the way quantization
 * papers report it: perplexity (same windows as `lowbit perplexity`), the mean
 * KL divergence KL(P_f32 || P_format) of the next-token distribution over
 * every predicted position, and greedy agreement on reference prompts.
 * All models are loaded side by side and see identical windows.
 */
import { calibratedMethodApplies, type QuantMethod } from "../quant/method.js";
import { InvalidOptionError } from "../errors.js";
import { LLM, type LoadOptions } from "../llm.js";
import { isSmoothQuant } from "../quant/formats.js";
import type { QuantFormat } from "../quant/formats.js";
import { tokenStream } from "./perplexity.js";

export type EvalFormat = "f32" | "bf16" | QuantFormat;

export interface QuantAccuracyRow {
  /** the format, or "saved <quant> (<dtype>)" for a saved model */
  format: string;
  ppl: number;
  /** (ppl - ppl_f32) / ppl_f32 */
  pplDelta: number;
  /** mean KL(P_f32 || P_format) in nats per predicted position */
  meanKL: number;
  /** per prompt: leading greedy tokens equal to the f32 model's (of `greedyTokens`) */
  greedyMatch: number[];
  /** w4a8 formats: mean squared weight error over the quantized matrices, with float and (for -is) integer scales */
  weightMSE?: { float: number; int?: number; amplifierMin?: number; amplifierMax?: number };
}

/** Aggregates the native per-matrix squared errors of the w4a8 matrices. */
export function weightMSE(m: LLM): QuantAccuracyRow["weightMSE"] {
  let n = 0, sf = 0, si = 0, amin = Infinity, amax = 0, isInt = false;
  for (const w of Object.values(m.weightStats())) {
    if (w.sseFloat === undefined) continue;
    n += w.rows * w.cols;
    sf += w.sseFloat;
    si += w.sseInt ?? 0;
    if (w.amplifier) {
      isInt = true;
      amin = Math.min(amin, w.amplifier);
      amax = Math.max(amax, w.amplifier);
    }
  }
  if (!n) return undefined;
  return isInt ? { float: sf / n, int: si / n, amplifierMin: amin, amplifierMax: amax } : { float: sf / n };
}

export interface QuantAccuracyOptions {
  window?: number;
  maxWindows?: number;
  threads?: number;
  /** weight seed of a synthetic: model */
  seed?: number;
  greedyTokens?: number;
  /** saved quantized models (directories) compared too, after the formats */
  saved?: string[];
  /** SmoothQuant calibration of the -sq formats (LoadOptions' calib, calibSamples, calibTokens, smoothAlpha) */
  calibration?: Pick<LoadOptions, "calib" | "calibSamples" | "calibTokens" | "smoothAlpha">;
  /** w8a8-sq-static's scale calibration (LoadOptions' staticScales, staticPercentile, dynamicInputs) */
  statics?: Pick<LoadOptions, "staticScales" | "staticPercentile" | "dynamicInputs" | "smoothDown">;
  /** int4 formats are loaded once per method (rtn, gptq, awq; default rtn only), labelled "<format> <method>" */
  methods?: QuantMethod[];
  /** gptq rows: act order too (an extra row "<format> gptq-act") */
  actOrder?: boolean;
  /** gptq rows: one-shot calibration too (an extra row "<format> gptq-oneshot"; gptq rows are layer by layer) */
  oneShot?: boolean;
  onProgress?: (label: string) => void;
}

/** The (format, method) pairs evaluated: each int4 format once per method, other formats once (rtn). */
type Variant = { format: EvalFormat; method?: QuantMethod; actOrder?: boolean; oneShot?: boolean; label: string };
export function evalVariants(formats: EvalFormat[], methods: QuantMethod[] | undefined, actOrder = false, oneShot = false): Variant[] {
  const out: Variant[] = [];
  for (const f of formats) {
    if (!methods || f === "f32" || f === "bf16" || !calibratedMethodApplies(f)) {
      out.push({ format: f, label: f });
      continue;
    }
    for (const m of methods) {
      out.push({ format: f, method: m, label: `${f} ${m}` });
      if (m === "gptq" && actOrder) out.push({ format: f, method: m, actOrder: true, label: `${f} gptq-act` });
      if (m === "gptq" && oneShot) out.push({ format: f, method: m, oneShot: true, label: `${f} gptq-oneshot` });
    }
  }
  return out;
}

/** log-sum-exp of row r of [rows, V] logits, in float64. */
function lse(x: Float32Array, r: number, V: number): number {
  let m = -Infinity;
  for (let v = r * V; v < (r + 1) * V; v++) if (x[v]! > m) m = x[v]!;
  let s = 0;
  for (let v = r * V; v < (r + 1) * V; v++) s += Math.exp(x[v]! - m);
  return m + Math.log(s);
}

export async function quantAccuracy(
  dir: string,
  formats: EvalFormat[],
  texts: string[],
  prompts: number[][],
  o: QuantAccuracyOptions = {},
): Promise<{ rows: QuantAccuracyRow[]; windows: number; window: number; tokens: number }> {
  if (formats[0] !== "f32") throw new InvalidOptionError("the first format must be f32 (the baseline)");
  const threads = o.threads ?? 2;
  const common = { threads, ...(o.seed !== undefined ? { seed: o.seed } : {}) };
  const load = (f: EvalFormat, method?: QuantMethod, actOrder?: boolean, oneShot?: boolean) =>
    LLM.load(dir, f === "f32" || f === "bf16" ? { dtype: f, ...common } : {
      dtype: "f32", quant: f, ...common, ...(isSmoothQuant(f) || (method && method !== "rtn") ? o.calibration : {}), ...(f === "w8a8-sq-static" ? o.statics : {}),
      ...(method ? { quantMethod: method } : {}), ...(actOrder ? { actOrder } : {}), ...(oneShot ? { gptqOneShot: true } : {}),
    });
  const ref = await load("f32");
  const models: LLM[] = [];
  const variants = evalVariants(formats, o.methods, o.actOrder, o.oneShot);
  const labels: string[] = variants.map((v) => v.label);
  try {
    for (const v of variants) {
      o.onProgress?.(`loading ${v.label}`);
      models.push(v.format === "f32" ? ref : await load(v.format, v.method, v.actOrder, v.oneShot));
    }
    for (const d of o.saved ?? []) {
      const m = await LLM.load(d, { threads });
      models.push(m);
      const method = m.origin.quantization.method;
      labels.push(`saved ${m.quant}${m.quantHead ? "+head" : ""}${typeof method === "string" && method !== "rtn" ? ` ${method}` : ""} (${m.dtype})`);
    }
    const { stream, windows, window } = tokenStream(ref, texts, { window: o.window ?? 1024, ...(o.maxWindows ? { maxWindows: o.maxWindows } : {}) });
    const V = ref.config.vocabSize;
    const nll = new Float64Array(labels.length), kl = new Float64Array(labels.length);
    for (let w = 0; w < windows; w++) {
      o.onProgress?.(`window ${w + 1}/${windows}`);
      const ids = stream.slice(w * window, w * window + window + 1);
      const input = ids.slice(0, -1);
      const pr = await ref.logitsAll(input);
      const lseRef = Array.from({ length: window }, (_, r) => lse(pr, r, V));
      for (let f = 0; f < labels.length; f++) {
        const pq = labels[f] === "f32" ? pr : await models[f]!.logitsAll(input);
        for (let r = 0; r < window; r++) {
          const lq = labels[f] === "f32" ? lseRef[r]! : lse(pq, r, V);
          nll[f] += lq - pq[r * V + ids[r + 1]!]!;
          if (labels[f] === "f32") continue;
          let k = 0;
          for (let v = r * V; v < (r + 1) * V; v++) {
            const lpr = pr[v]! - lseRef[r]!;
            k += Math.exp(lpr) * (lpr - (pq[v]! - lq));
          }
          kl[f] += k;
        }
      }
    }
    const tokens = windows * window;
    const greedy = o.greedyTokens ?? 48;
    const refGreedy: number[][] = [];
    for (const p of prompts) {
      ref.resetCache();
      refGreedy.push((await ref.generate(p, { maxNewTokens: greedy, temperature: 0, stopAtEos: false })).ids);
    }
    const rows: QuantAccuracyRow[] = [];
    for (let f = 0; f < labels.length; f++) {
      const greedyMatch: number[] = [];
      for (let i = 0; i < prompts.length; i++) {
        models[f]!.resetCache();
        const g = (await models[f]!.generate(prompts[i]!, { maxNewTokens: greedy, temperature: 0, stopAtEos: false })).ids;
        let n = 0;
        while (n < greedy && g[n] === refGreedy[i]![n]) n++;
        greedyMatch.push(n);
      }
      const ppl = Math.exp(nll[f]! / tokens);
      const mse = weightMSE(models[f]!);
      rows.push({ format: labels[f]!, ppl, pplDelta: 0, meanKL: kl[f]! / tokens, greedyMatch, ...(mse ? { weightMSE: mse } : {}) });
    }
    const base = rows.find((r) => r.format === "f32")!.ppl;
    for (const r of rows) r.pplDelta = (r.ppl - base) / base;
    return { rows, windows, window, tokens };
  } finally {
    for (const m of new Set([ref, ...models])) await m.dispose();
  }
}
