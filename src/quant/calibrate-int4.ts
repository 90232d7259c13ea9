/**
 * GPTQ / AWQ at load (method.ts): the calibration texts run once through the
 * f32 model to collect every matmul input's Hessian (hessians.ts), then
 *   gptq: each planned int4 matrix is solved natively (gptq.ts) and handed to
 *         loadModel as prequantized weights; by default layer by layer (the
 *         Hessians of layer l with layers < l quantized), gptqOneShot: all
 *         Hessians from one pass of the float model;
 *   awq:  per-channel scales are searched (awq.ts) and folded in by loadModel
 *         like SmoothQuant's, which then rounds to nearest.
 * Both end in the format's own storage, so the saved model (`lowbit quantize
 * --method`) loads and runs without recalibration.
 */
import { resolve } from "node:path";
import type { LoadOptions } from "../load-options.js";
import type { KernelVariant } from "../native.js";
import type { ModelSource } from "../models/source.js";
import { withProgressBar } from "../progress.js";
import { awqScales } from "./awq.js";
import type { FloatModelFactory } from "./calibrate.js";
import { nativeFormat, type QuantFormat } from "./formats.js";
import { gptqWeights, sequentialGptqWeights, type PrequantizedWeight } from "./gptq.js";
import { collectHessians } from "./hessians.js";
import { checkQuantMethod } from "./method.js";
import { llamaTensors } from "../models/llama.js";
import { planWeights } from "../weights/plan.js";
import { checkCalibration } from "./smoothquant.js";

export interface Int4Plan {
  prequantized?: Map<string, PrequantizedWeight>;
  smoothing?: Map<string, Float32Array>;
  rowSmoothing?: Map<string, Float32Array>;
  /** what the saved model records about the calibration */
  quantization: Record<string, string | number>;
}

export const DEFAULT_GPTQ_DAMP = 0.01;

/** The plan of a load with quantMethod gptq / awq; undefined for rtn (nothing to calibrate). */
export async function calibrateInt4(source: ModelSource, quant: QuantFormat | undefined, opts: LoadOptions, floatModel: FloatModelFactory,
  run: { threads: number; kernels: KernelVariant }): Promise<Int4Plan | undefined> {
  const method = checkQuantMethod(opts.quantMethod, quant, opts.actOrder, opts.gptqDamp, opts.gptqOneShot);
  if (method === "rtn" || !quant) return undefined;
  const cfg = source.config;
  const plan = planWeights(llamaTensors(cfg), { dtype: "f32", quant, quantHead: !!opts.quantHead, tieWordEmbeddings: cfg.tieWordEmbeddings }).weights;
  const calib = { ...(opts.calib !== undefined ? { file: opts.calib } : {}), ...(opts.calibSamples !== undefined ? { samples: opts.calibSamples } : {}),
    ...(opts.calibTokens !== undefined ? { tokens: opts.calibTokens } : {}) };
  const c = checkCalibration(calib);
  const bar = <T>(label: string, unit: string, fn: (onProgress?: (d: number, t: number) => void) => Promise<T>) =>
    withProgressBar(!!opts.progress, `${label} |{bar}| {value}/{total} ${unit}`, fn);
  const quantization: Record<string, string | number> = { method, calib: resolve(c.file), calib_samples: c.samples, calib_tokens: c.tokens };
  const damp = opts.gptqDamp ?? DEFAULT_GPTQ_DAMP, actOrder = !!opts.actOrder;
  const cal = await floatModel(Math.max(c.tokens, 2));
  let hessians;
  try {
    if (method === "gptq" && !opts.gptqOneShot) {
      // layer by layer: the calibration model stays loaded, its layers replaced as they are quantized
      const prequantized = await bar("GPTQ, layer by layer", "stages", (onProgress) =>
        sequentialGptqWeights(source, plan.filter((w) => w.quant), cal, calib, { actOrder, damp, threads: run.threads, ...(onProgress ? { onProgress } : {}) }));
      return { prequantized, quantization: { ...quantization, act_order: actOrder ? 1 : 0, damp, sequential: 1 } };
    }
    hessians = await bar("calibrating", "texts", (onProgress) => collectHessians(cal, { ...calib, ...(onProgress ? { onProgress } : {}) }));
  } finally {
    await cal.dispose();
  }
  if (method === "gptq") {
    const prequantized = await bar("GPTQ", "matrices", (onProgress) => gptqWeights(source, plan, hessians, { actOrder, damp, threads: run.threads, ...(onProgress ? { onProgress } : {}) }));
    return { prequantized, quantization: { ...quantization, act_order: actOrder ? 1 : 0, damp, sequential: 0 } };
  }
  const p = await bar("AWQ", "inputs", (onProgress) => awqScales(source, hessians, { native: nativeFormat(quant), ...run, ...(onProgress ? { onProgress } : {}) }));
  const alphas = [...p.chosen.values()].map((x) => x.alpha);
  return { smoothing: p.smoothing, rowSmoothing: p.rowSmoothing, quantization: { ...quantization, awq_mean_alpha: alphas.reduce((a, b) => a + b, 0) / Math.max(1, alphas.length) } };
}
