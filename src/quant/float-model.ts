/**
 * The float model that calibration runs (smoothquant.ts' Calibratable) over a
 * loaded native model: whole texts in one forward step from an empty cache,
 * matmul input statistics switched on around them. Sequential GPTQ also cuts
 * the graph after one layer and writes quantized layers back (replaceMatrix).
 */
import type { LoadedModel } from "../loader.js";
import { llamaGraph } from "../models/llama.js";
import { nativeError, type ActivationDetail, type ActivationHessian, type ActivationStatsOptions } from "../native.js";
import type { Calibratable } from "./smoothquant.js";

export function calibratable(m: LoadedModel): Calibratable & { dispose(): Promise<void> } {
  const native = m.native;
  const withStats = async <T>(fn: () => Promise<void>, opts: ActivationStatsOptions | undefined, read: () => T): Promise<T> => {
    native.collectStats(true, opts);
    try {
      await fn();
      return read();
    } finally {
      native.collectStats(false);
    }
  };
  const fullGraph = () => {
    const g = llamaGraph(m.config);
    native.setGraph(g.ops, g.output);
  };
  return {
    contextLength: m.contextLength,
    encode: (text) => m.tokenizer.encode(text),
    async logitsAll(ids) {
      native.clearCache();
      const positions = Int32Array.from(ids, (_, i) => i);
      try {
        return (await native.forward(Int32Array.from(ids), positions, true)).data;
      } catch (e) {
        throw nativeError("calibration forward", e);
      } finally {
        native.clearCache();
      }
    },
    withActivationStats: (fn) => withStats(fn, undefined, () => native.activationStats()),
    withActivationDetail: (fn, opts): Promise<Record<string, ActivationDetail>> => withStats(fn, opts, () => native.activationDetail()),
    withActivationHessians: (fn): Promise<Record<string, ActivationHessian>> => withStats(fn, { hessian: true }, () => native.activationHessians()),
    async withStageHessians(stage, fn) {
      const g = stage === "head" ? llamaGraph(m.config) : llamaGraph({ ...m.config, nLayers: stage + 1 }, "hidden");
      native.setGraph(g.ops, g.output);
      try {
        return await withStats(fn, { hessian: true, prefix: stage === "head" ? "output." : `blk.${stage}.` }, () => native.activationHessians());
      } finally {
        fullGraph();
      }
    },
    replaceMatrix(name, x, rows, cols) {
      native.replaceWeight(name, "F32", new Uint8Array(x.buffer, x.byteOffset, x.byteLength), rows, cols, "f32");
      fullGraph();
    },
    dispose: () => Promise.resolve(native.dispose()),
  };
}
