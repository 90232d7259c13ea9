/**
 * Calibrated input Hessians (GPTQ, AWQ): the calibration texts run through
 * the f32 model once while every matmul input X [tokens, cols] adds X^T X to
 * its weight's H [cols, cols] (native/src/act_hessian.h). The weights of a
 * fused matmul (q/k/v, gate/up) share their input's object.
 */
import { InvalidOptionError } from "../errors.js";
import type { ActivationHessian } from "../native.js";
import { calibrationPasses, type Calibratable, type CalibrationOptions } from "./smoothquant.js";

export type Hessians = Record<string, ActivationHessian>;

export function collectHessians(model: Calibratable, o: CalibrationOptions): Promise<Hessians> {
  if (!model.withActivationHessians) throw new InvalidOptionError("this model records no Hessians (calibrate a loaded native model: quant/float-model.ts)");
  return model.withActivationHessians(calibrationPasses(model, o));
}

/** Per-column mean |x| of an input (AWQ's activation magnitude), [cols]. */
export function meanAbs(h: ActivationHessian): Float32Array {
  const n = Math.max(1, h.rowsSeen);
  return Float32Array.from(h.absSum, (v) => v / n);
}
