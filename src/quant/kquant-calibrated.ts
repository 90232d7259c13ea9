/**
 * GPTQ / AWQ for llama.cpp's K-quant exports (`lowbit convert --type q4_k |
 * q4_k_m --method gptq | awq`). The matrices the type (or the mix:
 * formats/gguf-kquant-mix.ts) makes Q4_K are
 *   gptq: solved on Q4_K's grid (native gptq.h: each super-block's d, dmin and
 *         6-bit sub-block scales / mins by quantize_row_q4_K's search on the
 *         error-updated values when GPTQ reaches it, then columns rounded
 *         onto that grid with error feedback), layer by layer (gptq.ts), and
 *         their blocks written as they are;
 *   awq:  scaled per input channel by factors searched on Q4_K's grid (awq.ts),
 *         folded into the norms / ffn_up's rows as the loader folds them
 *         (fold-smoothing.ts), then rounded by the writer.
 * Every other tensor (the mix's Q6_K ones, the embedding, rows not a multiple
 * of 256) takes the type the mix gives it, rounded to nearest by the writer
 * (llama-quantize's bytes for the same values).
 */
import type { KQuantOutType } from "../formats/gguf-kquant-mix.js";
import { kquantTypesOf } from "../formats/gguf-export.js";
import { loadModel } from "../loader.js";
import { llamaTensors, type TensorSpec } from "../models/llama.js";
import type { ModelSource } from "../models/source.js";
import type { KernelVariant } from "../native.js";
import { awqScales } from "./awq.js";
import { calibratable } from "./float-model.js";
import { foldSmoothing } from "./fold-smoothing.js";
import { sequentialGptqWeights, type GptqTarget, type PrequantizedWeight } from "./gptq.js";
import { collectHessians } from "./hessians.js";
import { checkCalibration, type CalibrationOptions } from "./smoothquant.js";
import { toF32 } from "./tensors.js";

export interface KQuantCalibrationOptions {
  calib: CalibrationOptions;
  threads: number;
  kernels: KernelVariant;
  actOrder?: boolean;
  damp?: number;
  /** (stages or inputs done, total) */
  onProgress?: (done: number, total: number) => void;
}

/** The matrices of a K-quant export that are Q4_K (lowbit name = GGUF name, rows a multiple of 256). */
export function q4kTargets(source: ModelSource, type: KQuantOutType): GptqTarget[] {
  const types = kquantTypesOf(source.config, type);
  return llamaTensors(source.config)
    .filter((s) => s.kind !== "norm" && (s.ggufName ?? s.name) === s.name && types.get(s.name) === "Q4_K" && s.cols % 256 === 0)
    .map((s) => ({ name: s.name, native: "q4_k" as const }));
}

/** `source` with some tensors' bytes replaced (read: `replace` returns undefined to keep the source's). */
function overlay(source: ModelSource, replace: (s: TensorSpec, scratch?: Buffer) => ReturnType<ModelSource["read"]> | undefined): ModelSource {
  return {
    get name() { return source.name; },
    get origin() { return source.origin; },
    get config() { return source.config; },
    get tokenizer() { return source.tokenizer; },
    ...(source.defaultDtype ? { defaultDtype: source.defaultDtype } : {}),
    check: (specs) => source.check(specs),
    read: (s, scratch, o) => replace(s, scratch) ?? source.read(s, scratch, o),
    tokenizerMetadata: (v) => source.tokenizerMetadata(v),
  };
}

/** The source a K-quant export of `type` writes, with its Q4_K matrices chosen by GPTQ or AWQ. */
export async function calibratedKQuantSource(source: ModelSource, type: KQuantOutType, method: "gptq" | "awq", o: KQuantCalibrationOptions): Promise<ModelSource> {
  const c = checkCalibration(o.calib);
  const cal = calibratable(loadModel(source, { dtype: "f32", threads: o.threads, kernels: o.kernels, contextLength: Math.max(c.tokens, 2) }));
  const targets = q4kTargets(source, type);
  if (method === "gptq") {
    let pre: Map<string, PrequantizedWeight>;
    try {
      pre = await sequentialGptqWeights(source, targets, cal, o.calib, { actOrder: !!o.actOrder, damp: o.damp ?? 0.01, threads: o.threads, ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
    } finally {
      await cal.dispose();
    }
    return overlay(source, (s) => {
      const p = pre.get(s.name);
      return p ? { bytes: p.bytes(), dtype: p.dtype } : undefined;
    });
  }
  let hessians;
  try {
    hessians = await collectHessians(cal, o.calib);
  } finally {
    await cal.dispose();
  }
  const q4k = new Set(targets.map((t) => t.name));
  const plan = await awqScales(source, hessians, { native: "q4_k", include: (m) => q4k.has(m), threads: o.threads, kernels: o.kernels, ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
  return overlay(source, (s, scratch) => {
    const sm = plan.smoothing.get(s.name), rs = plan.rowSmoothing.get(s.name);
    if (!sm && !rs) return undefined;
    const { bytes, dtype } = source.read(s, scratch, { format: "f32" });
    const x = Float32Array.from(toF32(bytes, dtype));
    foldSmoothing(x, s.rows, s.cols, s.kind === "norm", sm, rs);
    return { bytes: new Uint8Array(x.buffer), dtype: "F32" };
  });
}
