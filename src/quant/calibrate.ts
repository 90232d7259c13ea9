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
import { checkCalibration, collectActivationMax, smoothingFactors, staticActivationScales, type Calibratable } from "./smoothquant.js";

export interface SmoothQuantPlan {
  /** norm and matrix name -> per-input-column factor s */
  smoothing: Map<string, Float32Array>;
  /** w8a8-sq-static: matrix name -> static activation scale */
  actScales?: Map<string, number>;
  /** what the saved model records about the calibration */
  quantization: Record<string, string | number>;
}

/**
 * `floatModel(contextLength)` loads the source in f32 for the calibration
 * forward passes (the caller's loader: this module knows no LLM); it is
 * disposed before the factors are computed.
 */
export async function calibrateSmoothQuant(
  source: ModelSource,
  quant: QuantFormat,
  opts: LoadOptions,
  floatModel: (contextLength: number) => Promise<Calibratable & { dispose(): Promise<void> }>,
): Promise<SmoothQuantPlan> {
  const calib = { ...(opts.calib !== undefined ? { file: opts.calib } : {}), ...(opts.calibSamples !== undefined ? { samples: opts.calibSamples } : {}),
    ...(opts.calibTokens !== undefined ? { tokens: opts.calibTokens } : {}), ...(opts.smoothAlpha !== undefined ? { alpha: opts.smoothAlpha } : {}) };
  const c = checkCalibration(calib);
  const cal = await floatModel(Math.max(c.tokens, 2));
  let actMax: Record<string, Float32Array>;
  try {
    actMax = await withProgressBar(!!opts.progress, "calibrating |{bar}| {value}/{total} texts", (onProgress) => collectActivationMax(cal, { ...calib, ...(onProgress ? { onProgress } : {}) }));
  } finally {
    await cal.dispose();
  }
  const smoothing = smoothingFactors(source, actMax, c.alpha);
  const quantization = { calib: resolve(c.file), calib_samples: c.samples, calib_tokens: c.tokens, smooth_alpha: c.alpha };
  return quant === "w8a8-sq-static" ? { smoothing, actScales: staticActivationScales(actMax, smoothing), quantization } : { smoothing, quantization };
}
