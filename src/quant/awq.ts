/**
 * AWQ (Lin et al., "AWQ: Activation-aware Weight Quantization for LLM
 * Compression and Acceleration", 2023): per input channel j of a linear
 * layer, s_j = mean|x_j|^alpha (normalized by sqrt(max s * min s)), with alpha
 * searched on a grid over [0, 1] to minimize the calibrated output error of
 * round-to-nearest on the format's grid:
 *   sum over rows of e H e^T,  e = Q(W diag(s)) diag(s)^-1 - W,  H = X^T X
 * (native q4OutputError; alpha = 0 is plain RTN, so the search never does
 * worse on the calibration data). The scales fold like SmoothQuant's
 * (smoothquant.ts): the norm before q/k/v (and before gate/up) is divided by
 * s, the matrices' columns multiplied; down_proj's input through ffn_up's
 * rows (gated MLPs). o_proj keeps s = 1: its input comes from the attention,
 * with no per-channel op to fold into under grouped-query attention.
 * Matrices reading one input share one s (searched on their stacked rows).
 */
import { addon, type KernelVariant, type NativeWeightFormat } from "../native.js";
import { FAMILIES } from "../models/family.js";
import type { ModelSource } from "../models/source.js";
import { readF32 } from "./gptq.js";
import { meanAbs, type Hessians } from "./hessians.js";
import { smoothGroups } from "./smoothquant.js";
import { DataError } from "../errors.js";

export interface AwqOptions {
  native: NativeWeightFormat;
  threads: number;
  kernels: KernelVariant;
  /** grid points over [0, 1] (default 20: alpha = 0, 1/20, ..., 1) */
  grid?: number;
  /** rows of each stacked group the error is measured on (every k-th; default 1024) */
  maxRows?: number;
  /** the matrices on `native`'s grid (default all): a group's error is measured on these; a group with none keeps s = 1 */
  include?: (matrix: string) => boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface AwqPlan {
  /** norm / matrix name -> factor (as SmoothQuantPlan.smoothing: norms divided, matrix columns multiplied) */
  smoothing: Map<string, Float32Array>;
  /** ffn_up name -> row divisors (down_proj's factors) */
  rowSmoothing: Map<string, Float32Array>;
  /** group's first matrix -> chosen alpha and the error ratio to RTN on the calibration data */
  chosen: Map<string, { alpha: number; ratio: number }>;
}

/** s_j = mean|x_j|^alpha / sqrt(max s * min s) */
export function awqFactors(xmean: Float32Array, alpha: number): Float32Array {
  const s = Float32Array.from(xmean, (v) => Math.pow(Math.max(v, 1e-4), alpha));
  let mx = 0, mn = Infinity;
  for (const v of s) (mx = Math.max(mx, v)), (mn = Math.min(mn, v));
  const norm = Math.sqrt(mx * mn);
  return s.map((v) => v / norm);
}

/** Every k-th row of stacked matrices, at most maxRows rows. */
function stackedRows(parts: { x: Float32Array; rows: number }[], cols: number, maxRows: number): { w: Float32Array; rows: number } {
  const total = parts.reduce((n, p) => n + p.rows, 0), stride = Math.ceil(total / maxRows);
  const rows = Math.ceil(total / stride), w = new Float32Array(rows * cols);
  let r = 0, i = 0;
  for (const p of parts)
    for (let pr = 0; pr < p.rows; pr++, i++) if (i % stride === 0) w.set(p.x.subarray(pr * cols, (pr + 1) * cols), r++ * cols);
  return { w, rows };
}

export async function awqScales(source: ModelSource, hessians: Hessians, o: AwqOptions): Promise<AwqPlan> {
  const cfg = source.config, traits = FAMILIES[cfg.architecture].traits;
  const groups: { matrices: string[]; norm?: string; bias?: string; rowsOf?: string }[] = smoothGroups(cfg.nLayers, traits);
  if (traits.gated) for (let l = 0; l < cfg.nLayers; l++) groups.push({ matrices: [`blk.${l}.ffn_down.weight`], rowsOf: `blk.${l}.ffn_up.weight` });
  const plan: AwqPlan = { smoothing: new Map(), rowSmoothing: new Map(), chosen: new Map() };
  const n = o.grid ?? 20, maxRows = o.maxRows ?? 1024;
  o.onProgress?.(0, groups.length);
  for (const [gi, g] of groups.entries()) {
    const h = hessians[g.matrices[0]!];
    if (!h) throw new DataError(`calibration recorded no Hessian for ${g.matrices[0]}`);
    const measured = o.include ? g.matrices.filter(o.include) : g.matrices;
    if (!measured.length) {
      o.onProgress?.(gi + 1, groups.length);
      continue;
    }
    const parts = measured.map((m) => readF32(source, m));
    const { w, rows } = stackedRows(parts, h.cols, maxRows);
    const xmean = meanAbs(h);
    const err = (s: Float32Array | undefined) => addon().q4OutputError(w, rows, h.cols, h.hessian, o.native, s, { threads: o.threads, kernels: o.kernels });
    const rtn = err(undefined);
    let best: { alpha: number; loss: number; s: Float32Array } = { alpha: 0, loss: rtn, s: new Float32Array(h.cols).fill(1) };
    for (let k = 1; k <= n; k++) {
      const s = awqFactors(xmean, k / n), loss = err(s);
      if (loss < best.loss) best = { alpha: k / n, loss, s };
    }
    if (best.alpha > 0) {
      for (const m of g.matrices) plan.smoothing.set(m, best.s);
      if (g.norm) plan.smoothing.set(g.norm, best.s);
      if (g.bias) plan.smoothing.set(g.bias, best.s);
      if (g.rowsOf) plan.rowSmoothing.set(g.rowsOf, best.s);
    }
    plan.chosen.set(g.matrices[0]!, { alpha: best.alpha, ratio: rtn > 0 ? best.loss / rtn : 1 });
    o.onProgress?.(gi + 1, groups.length);
    await new Promise((res) => setImmediate(res));
  }
  return plan;
}
