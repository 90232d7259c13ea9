/**
 * GPTQ over a model source (method.ts): every planned int4 matrix whose input
 * was calibrated (hessians.ts) is quantized by the native solver
 * (native/src/gptq.h) before the load, one matrix at a time, and kept compact
 * until loadModel adds it: its codes [rows * cols] and grid (q4 / q4a8,
 * re-rounded on that grid by addWeight, so the stored codes are GPTQ's), or
 * its GGUF blocks (q4_0, added as raw Q4_0 blocks). Matrices without a
 * Hessian (the embedding of a q4_0 model) stay round-to-nearest.
 *
 * Sequential (the default): the Hessians of layer l's inputs come from the
 * model whose layers < l are already quantized (sequentialGptqWeights).
 * One-shot (gptqWeights): every Hessian comes from the float model.
 */
import { addon, type NativeWeightFormat, type Q4Grid } from "../native.js";
import { llamaTensors } from "../models/llama.js";
import type { ModelSource, SourceDtype } from "../models/source.js";
import type { PlannedWeight } from "../weights/plan.js";
import type { Hessians } from "./hessians.js";
import { calibrationPasses, type Calibratable, type CalibrationOptions } from "./smoothquant.js";
import { InvalidOptionError } from "../errors.js";
import { toF32 } from "./tensors.js";

/** A matrix GPTQ quantizes: its loaded name, source name (when another), int4 format (q4 / q4a8 / q4_0 / q4_k). */
export type GptqTarget = Pick<PlannedWeight, "name" | "from" | "native">;

/** What loadModel adds for a matrix instead of reading the source (LoadOptions.prequantized). */
export interface PrequantizedWeight {
  /** [rows, cols] in the source's orientation: f32 values (with `grid`) or raw blocks */
  dtype: SourceDtype;
  bytes(): Uint8Array;
  grid?: Q4Grid;
}

export interface GptqOptions {
  actOrder: boolean;
  damp: number;
  threads: number;
  /** after each matrix: (matrices done, matrices total) */
  onProgress?: (done: number, total: number) => void;
}

/** The f32 values [rows, cols] of a source matrix. */
export function readF32(source: ModelSource, name: string): { x: Float32Array; rows: number; cols: number } {
  const spec = llamaTensors(source.config).find((t) => t.name === name)!;
  const { bytes, dtype } = source.read(spec, undefined, { format: "f32" });
  return { x: toF32(bytes, dtype), rows: spec.rows, cols: spec.cols };
}

/** Columns per group of a native int4 format ("q4-g128" -> 128, "q4_0" -> 32, per channel: cols). */
export function gridGroup(native: NativeWeightFormat, cols: number): number {
  if (native === "q4_0") return 32;
  if (typeof native === "object" && native.group) return native.group;
  return cols; // per channel
}

/** Codes q = (x - o) / s of GPTQ's dequantized values (exact up to float rounding) on their grid, [rows * cols]. */
function codesOf(w: Float32Array, rows: number, cols: number, g: Q4Grid, group: number): Uint8Array {
  const ng = g.scales.length / rows;
  const q = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const i = r * ng + Math.floor(c / group), s = g.scales[i]!;
      q[r * cols + c] = s > 0 ? Math.min(15, Math.max(0, Math.round((w[r * cols + c]! - g.offsets[i]!) / s))) : 0;
    }
  return q;
}

function fromCodes(q: Uint8Array, rows: number, cols: number, g: Q4Grid, group: number): Float32Array {
  const ng = g.scales.length / rows;
  const x = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const i = r * ng + Math.floor(c / group);
      x[r * cols + c] = g.scales[i]! * q[r * cols + c]! + g.offsets[i]!;
    }
  return x;
}

/** GPTQ of one matrix: what loadModel adds, and the dequantized values [rows * cols] (what later layers see). */
function solveMatrix(source: ModelSource, w: GptqTarget, h: Float64Array, o: GptqOptions): { pre: PrequantizedWeight; values: Float32Array; rows: number; cols: number } {
  const { x, rows, cols } = readF32(source, w.from ?? w.name);
  const r = addon().gptqQuantize(x, rows, cols, h, w.native, { actOrder: o.actOrder, damp: o.damp, threads: o.threads });
  if (r.blocks) {
    const blocks = r.blocks;
    return { pre: { dtype: w.native === "q4_k" ? "Q4_K" : "Q4_0", bytes: () => blocks }, values: r.weights, rows, cols };
  }
  const grid = { scales: r.scales, offsets: r.offsets }, group = gridGroup(w.native, cols), q = codesOf(r.weights, rows, cols, grid, group);
  return { pre: { dtype: "F32", bytes: () => new Uint8Array(fromCodes(q, rows, cols, grid, group).buffer), grid }, values: r.weights, rows, cols };
}

const yieldToBar = () => new Promise((res) => setImmediate(res)); // let the progress bar draw

/** One-shot GPTQ of the planned matrices (those with a quant format and a calibrated input). */
export async function gptqWeights(source: ModelSource, plan: readonly PlannedWeight[], hessians: Hessians, o: GptqOptions): Promise<Map<string, PrequantizedWeight>> {
  const todo = plan.filter((w) => w.quant && hessians[w.name]);
  const out = new Map<string, PrequantizedWeight>();
  o.onProgress?.(0, todo.length);
  for (const [i, w] of todo.entries()) {
    out.set(w.name, solveMatrix(source, w, hessians[w.name]!.hessian, o).pre);
    o.onProgress?.(i + 1, todo.length);
    await yieldToBar();
  }
  return out;
}

/** The calibration stage whose inputs a matrix reads: its layer, "head" for output.*, undefined otherwise (no Hessian: RTN). */
function stageOf(name: string): number | "head" | undefined {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : name.startsWith("output.") ? "head" : undefined;
}

/**
 * Sequential GPTQ (the GPTQ paper's and AutoGPTQ's order) of the targets: for layer 0, 1, ...
 * the calibration texts run through the graph cut after that layer, with the
 * layers before it already replaced by their GPTQ values in `cal`, recording
 * only that layer's input Hessians; its matrices are solved and written back
 * into `cal`. Then the LM head (when quantized) on the whole graph. At most one
 * layer's Hessians are held at a time; the texts run once per layer through
 * layers 0..l, (L + 1) / 2 full passes in all. onProgress counts stages (layers).
 */
export async function sequentialGptqWeights(source: ModelSource, targets: readonly GptqTarget[], cal: Calibratable, calib: CalibrationOptions,
  o: GptqOptions): Promise<Map<string, PrequantizedWeight>> {
  if (!cal.withStageHessians || !cal.replaceMatrix) throw new InvalidOptionError("this model cannot calibrate layer by layer (a loaded native model can: quant/float-model.ts)");
  const todo = targets.filter((w) => stageOf(w.name) !== undefined);
  const stages = [...new Set(todo.map((w) => stageOf(w.name)!))].sort((a, b) => (a === "head" ? 1 : b === "head" ? -1 : a - b));
  const out = new Map<string, PrequantizedWeight>();
  o.onProgress?.(0, stages.length);
  for (const [i, stage] of stages.entries()) {
    const hessians = await cal.withStageHessians(stage, calibrationPasses(cal, calib));
    for (const w of todo.filter((x) => stageOf(x.name) === stage && hessians[x.name])) {
      const r = solveMatrix(source, w, hessians[w.name]!.hessian, o);
      out.set(w.name, r.pre);
      cal.replaceMatrix(w.name, r.values, r.rows, r.cols);
    }
    o.onProgress?.(i + 1, stages.length);
    await yieldToBar();
  }
  return out;
}
