/**
 * The float model that calibration runs (smoothquant.ts' Calibratable) over a
 * loaded native model: whole texts in one forward step from an empty cache,
 * matmul input statistics switched on around them.
 */
import type { LoadedModel } from "../loader.js";
import { wrapNative, type ActivationDetail, type ActivationHessian, type ActivationStatsOptions } from "../native.js";
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
  return {
    contextLength: m.contextLength,
    encode: (text) => m.tokenizer.encode(text),
    async logitsAll(ids) {
      native.clearCache();
      const positions = Int32Array.from(ids, (_, i) => i);
      try {
        return (await native.forward(Int32Array.from(ids), positions, true)).data;
      } catch (e) {
        throw wrapNative("calibration forward", () => {
          throw e;
        });
      } finally {
        native.clearCache();
      }
    },
    withActivationStats: (fn) => withStats(fn, undefined, () => native.activationStats()),
    withActivationDetail: (fn, opts): Promise<Record<string, ActivationDetail>> => withStats(fn, opts, () => native.activationDetail()),
    withActivationHessians: (fn): Promise<Record<string, ActivationHessian>> => withStats(fn, { hessian: true }, () => native.activationHessians()),
    dispose: () => Promise.resolve(native.dispose()),
  };
}
