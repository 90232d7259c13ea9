/**
 * SmoothQuant at load: calibrate the float model, then derive the smoothing
 * factors (and, for w8a8-sq-static, the static activation scales) that the
 * quantized load folds in. A synthetic model calibrates like any other (on
 * the same texts, through the tinycode-7m tokenizer): its random weights
 * make the factors meaningless for accuracy, but the folding is exact and the
 * quantized model runs the same kernels, which is what a speed run needs.
 */
import { resolve } from "node:path";
import type { LoadOptions } from "../load-options.js";
import type { ModelSource } from "../models/source.js";
import { withProgressBar } from "../progress.js";
import type { QuantFormat } from "./formats.js";
import { checkCalibration, collectActivationDetail, collectActivationMax, downSmoothing, smoothedMax, smoothingFactors, staticActivationScales, type Calibratable, type CalibrationOptions } from "./smoothquant.js";
import { checkDynamicInputs, checkStaticScales, inputKind, staticScale } from "./static-scales.js";

export interface SmoothQuantPlan {
  /** norm and matrix name -> per-input-column factor s */
  smoothing: Map<string, Float32Array>;
  /** smoothDown: ffn_up name -> row divisors (down_proj's columns are in `smoothing`) */
  rowSmoothing?: Map<string, Float32Array>;
  /** w8a8-sq-static: matrix name -> static activation scale */
  actScales?: Map<string, number>;
  /** what the saved model records about the calibration */
  quantization: Record<string, string | number>;
}

/** The f32 model calibration runs (smoothing folded in for the static scales' second pass). */
export type FloatModelFactory = (contextLength: number, smoothing?: Map<string, Float32Array>, rowSmoothing?: Map<string, Float32Array>) => Promise<Calibratable & { dispose(): Promise<void> }>;

/**
 * `floatModel` loads the source in f32 for the calibration forward passes
 * (the caller's loader: this module knows no LLM); each is disposed before
 * the factors are computed. w8a8-sq-static with a histogram method (mse,
 * percentile: static-scales.ts) runs the texts a second time through the
 * smoothed model, whose matmul inputs are the ones the scales quantize.
 */
export async function calibrateSmoothQuant(source: ModelSource, quant: QuantFormat, opts: LoadOptions, floatModel: FloatModelFactory): Promise<SmoothQuantPlan> {
  const calib = { ...(opts.calib !== undefined ? { file: opts.calib } : {}), ...(opts.calibSamples !== undefined ? { samples: opts.calibSamples } : {}),
    ...(opts.calibTokens !== undefined ? { tokens: opts.calibTokens } : {}), ...(opts.smoothAlpha !== undefined ? { alpha: opts.smoothAlpha } : {}) };
  const c = checkCalibration(calib);
  const st = checkStaticScales(opts.staticScales, opts.staticPercentile);
  const dynamic = checkDynamicInputs(opts.dynamicInputs);
  const isStatic = quant === "w8a8-sq-static";
  const pass = async <T>(label: string, smoothing: Map<string, Float32Array> | undefined, run: (m: Calibratable, o: CalibrationOptions) => Promise<T>, rows?: Map<string, Float32Array>): Promise<T> => {
    const cal = await floatModel(Math.max(c.tokens, 2), smoothing, rows);
    try {
      return await withProgressBar(!!opts.progress, `${label} |{bar}| {value}/{total} texts`, (onProgress) => run(cal, { ...calib, ...(onProgress ? { onProgress } : {}) }));
    } finally {
      await cal.dispose();
    }
  };
  const actMax = await pass("calibrating", undefined, collectActivationMax);
  const smoothing = smoothingFactors(source, actMax, c.alpha);
  const quantization: Record<string, string | number> = { calib: resolve(c.file), calib_samples: c.samples, calib_tokens: c.tokens, smooth_alpha: c.alpha };
  if (!isStatic) return { smoothing, quantization };
  quantization.static_scales = st.method;
  if (st.method === "percentile") quantization.static_percentile = st.percentile;
  quantization.dynamic_inputs = dynamic.join(",");
  let rowSmoothing: Map<string, Float32Array> | undefined;
  if (opts.smoothDown) {
    const d = downSmoothing(source, actMax, c.alpha);
    for (const [n, f] of d.columns) smoothing.set(n, f);
    rowSmoothing = d.rows;
    quantization.smooth_down = 1;
  }
  const keep = (name: string) => { const k = inputKind(name); return k === undefined || !dynamic.includes(k); };
  const rows = rowSmoothing ? { rowSmoothing } : {};
  if (st.method === "max") return { smoothing, ...rows, actScales: new Map([...staticActivationScales(actMax, smoothing)].filter(([n]) => keep(n))), quantization };
  const detail = await pass("static scales", smoothing, (m, o) => collectActivationDetail(m, o, { histograms: true }), rowSmoothing);
  const actScales = new Map<string, number>();
  for (const [name, d] of Object.entries(detail)) {
    if (name.startsWith("blk.") && keep(name)) actScales.set(name, staticScale(d, smoothedMax(actMax[name]!, smoothing.get(name)), st.method, st.percentile));
  }
  return { smoothing, ...rows, actScales, quantization };
}
