/**
 * Why static int8 activation scales lose accuracy (w8a8-sq-static): per matmul
 * input of every layer (q/k/v, o_proj, gate/up, down_proj), on the smoothed
 * f32 model's calibration activations,
 *   - the range a per-tensor scale must cover against what one token needs:
 *     max |x| over all tokens vs the median and 99th percentile of the tokens'
 *     own max |x| (a per-token dynamic scale follows the latter);
 *   - the relative squared input error sum (x - Q(x))^2 / sum x^2 of dynamic
 *     per-token scales (exact, on sampled rows) and of static scales from max,
 *     MSE-optimal and percentile calibration (histograms over all tokens),
 *     with the fraction of values and tokens each static clip cuts;
 * and, end to end on held-out windows, the perplexity with static scales on
 * one kind of input (or one layer) only, every other matmul dynamic: which
 * inputs cost the accuracy.
 */
import { calibrateSmoothQuant } from "../quant/calibrate.js";
import { calibratable } from "../quant/float-model.js";
import { collectActivationDetail, smoothedMax, type CalibrationOptions } from "../quant/smoothquant.js";
import { histFractionAbove, histPercentile, histSquaredError, histSumSquares, mseOptimalScale } from "../quant/histogram.js";
import { INPUT_KINDS, inputKind, staticScale, type InputKind, type StaticScaleMethod } from "../quant/static-scales.js";
import { loadModel, openModelSource } from "../loader.js";
import { defaultKernels, type LoadOptions } from "../load-options.js";
import { LLM } from "../llm.js";
import type { NativeModel } from "../native.js";
import { tokenStream } from "./perplexity.js";

/** the first weight reading each input kind (its statistics stand for the input) */
const FIRST: Record<InputKind, string> = { qkv: "attn_q", o: "attn_output", gate_up: "ffn_gate", down: "ffn_down" };

export interface InputDiagnosis {
  layer: number;
  kind: InputKind;
  cols: number;
  /** max |x| over the calibration tokens (the clip of max calibration) */
  max: number;
  /** median and 99th percentile of each token's max |x| */
  tokMaxP50: number;
  tokMaxP99: number;
  /** clip (scale x 127) of the MSE-optimal and percentile methods */
  clipMse: number;
  clipPercentile: number;
  /** fraction of values / tokens above the MSE-optimal clip */
  clippedValuesMse: number;
  clippedTokensMse: number;
  /** relative squared input error: sum (x - Q(x))^2 / sum x^2 */
  relErr: { dynamic: number; max: number; mse: number; percentile: number };
}

export interface AblationRow {
  /** which matmuls had static scales ("none": all dynamic, "all": the whole static model) */
  static: string;
  ppl: number;
}

export interface StaticDiagnosis {
  inputs: InputDiagnosis[];
  ablation: AblationRow[];
  f32ppl: number;
  windows: number;
  window: number;
  calibTokens: number;
}

export interface StaticDiagnosisOptions {
  /** SmoothQuant calibration (LoadOptions' calib, calibSamples, calibTokens, smoothAlpha) */
  calibration?: Pick<LoadOptions, "calib" | "calibSamples" | "calibTokens" | "smoothAlpha">;
  threads?: number;
  /** held-out texts and windows for the ablation (none: no ablation) */
  texts?: string[];
  window?: number;
  maxWindows?: number;
  /** static scales of the ablation (default max: the calibration being diagnosed) */
  method?: StaticScaleMethod;
  percentile?: number;
  /** ablate per layer too (one load per layer) */
  perLayer?: boolean;
  /** sampled rows per input for the exact dynamic error (default 512) */
  sampleRows?: number;
  onProgress?: (what: string) => void;
}

/** Relative squared error of per-token dynamic int8 quantization over rows [n, cols]. */
export function dynamicRelErr(rows: Float32Array, cols: number): { err: number; sum: number } {
  let err = 0, sum = 0;
  for (let r = 0; r * cols < rows.length; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(rows[r * cols + c]!));
    const s = m / 127;
    for (let c = 0; c < cols; c++) {
      const x = rows[r * cols + c]!, q = s > 0 ? Math.max(-127, Math.min(127, Math.round(x / s))) * s : 0;
      err += (x - q) ** 2;
      sum += x * x;
    }
  }
  return { err, sum };
}

/** Mean NLL per predicted token of a native model over the windows of `stream`. */
async function nativeNll(native: NativeModel, stream: number[], windows: number, window: number): Promise<number> {
  let sum = 0;
  const positions = Int32Array.from({ length: window }, (_, i) => i);
  for (let w = 0; w < windows; w++) {
    const ids = stream.slice(w * window, w * window + window + 1);
    native.clearCache();
    const r = await native.forward(Int32Array.from(ids.slice(0, -1)), positions, true, Int32Array.from(ids.slice(1)));
    for (const v of r.data) sum += v;
  }
  native.clearCache();
  return sum / (windows * window);
}

export async function diagnoseStatic(dir: string, o: StaticDiagnosisOptions = {}): Promise<StaticDiagnosis> {
  const source = openModelSource(dir);
  const base = { threads: o.threads ?? 2, kernels: defaultKernels(), contextLength: 0 };
  const floatModel = (contextLength: number, smoothing?: Map<string, Float32Array>) =>
    Promise.resolve(calibratable(loadModel(source, { ...base, dtype: "f32", contextLength, ...(smoothing ? { smoothing } : {}) })));
  const lc = o.calibration ?? {};
  const calib: CalibrationOptions = { ...(lc.calib !== undefined ? { file: lc.calib } : {}), ...(lc.calibSamples !== undefined ? { samples: lc.calibSamples } : {}), ...(lc.calibTokens !== undefined ? { tokens: lc.calibTokens } : {}) };
  o.onProgress?.("calibrating (max)");
  const maxPlan = await calibrateSmoothQuant(source, "w8a8-sq-static", { ...lc, staticScales: "max", dynamicInputs: [] }, floatModel);
  const smoothing = maxPlan.smoothing;
  o.onProgress?.("recording histograms of the smoothed inputs");
  const cal = await floatModel(Math.max(calib.tokens ?? 512, 2), smoothing);
  const sampleRows = o.sampleRows ?? 512;
  let detail;
  try {
    detail = await collectActivationDetail(cal, calib, { histograms: true, sampleStride: 31, sampleCap: sampleRows });
  } finally {
    await cal.dispose();
  }
  const nLayers = source.config.nLayers;
  const pct = o.percentile ?? 99.99;
  const inputs: InputDiagnosis[] = [];
  let calibTokens = 0;
  for (let l = 0; l < nLayers; l++) {
    for (const kind of Object.keys(INPUT_KINDS) as InputKind[]) {
      const name = `blk.${l}.${FIRST[kind]}.weight`;
      const d = detail[name];
      if (!d) continue;
      calibTokens = d.rowsSeen;
      const total = histSumSquares(d.hist);
      const max = maxPlan.actScales!.get(name)! * 127;
      const mse = mseOptimalScale(d.hist);
      const clipPercentile = staticScale(d, max, "percentile", pct) * 127;
      const dyn = dynamicRelErr(d.sample, d.cols);
      inputs.push({
        layer: l, kind, cols: d.cols, max,
        tokMaxP50: histPercentile(d.tokmax, 0.5), tokMaxP99: histPercentile(d.tokmax, 0.99),
        clipMse: mse.scale * 127, clipPercentile,
        clippedValuesMse: histFractionAbove(d.hist, mse.scale * 127), clippedTokensMse: histFractionAbove(d.tokmax, mse.scale * 127),
        relErr: { dynamic: dyn.err / dyn.sum, max: histSquaredError(d.hist, max / 127) / total, mse: mse.error / total, percentile: histSquaredError(d.hist, clipPercentile / 127) / total },
      });
    }
  }
  const ablation: AblationRow[] = [];
  let f32ppl = NaN, windows = 0, window = o.window ?? 1024;
  if (o.texts) {
    const ref = await LLM.load(dir, { dtype: "f32", threads: base.threads });
    let stream: number[];
    try {
      ({ stream, windows, window } = tokenStream(ref, o.texts, { window, ...(o.maxWindows ? { maxWindows: o.maxWindows } : {}) }));
    } finally {
      await ref.dispose();
    }
    const method = o.method ?? "max";
    const scales = method === "max" ? maxPlan.actScales! : new Map([...maxPlan.actScales!].map(([n, s]) => {
      const d = detail[n]!;
      return [n, staticScale(d, s * 127, method, pct)];
    }));
    const run = async (label: string, pick: (name: string) => boolean, quant: "w8a8-sq-static" | undefined = "w8a8-sq-static") => {
      o.onProgress?.(`perplexity: static ${label}`);
      const actScales = new Map([...scales].filter(([n]) => pick(n)));
      const m = loadModel(source, { ...base, dtype: "f32", ...(quant ? { quant, smoothing, actScales } : {}) });
      try {
        const nll = await nativeNll(m.native, stream, windows, window);
        return Math.exp(nll);
      } finally {
        m.native.dispose();
      }
    };
    f32ppl = await run("f32", () => false, undefined);
    ablation.push({ static: "none", ppl: await run("none", () => false) });
    ablation.push({ static: "all", ppl: await run("all", () => true) });
    for (const kind of Object.keys(INPUT_KINDS) as InputKind[]) ablation.push({ static: kind, ppl: await run(kind, (n) => inputKind(n) === kind) });
    ablation.push({ static: "all but down", ppl: await run("all but down", (n) => inputKind(n) !== "down") });
    if (o.perLayer) for (let l = 0; l < nLayers; l++) ablation.push({ static: `layer ${l}`, ppl: await run(`layer ${l}`, (n) => n.startsWith(`blk.${l}.`)) });
  }
  return { inputs, ablation, f32ppl, windows, window, calibTokens };
}
