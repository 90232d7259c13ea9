/**
 * A saved quantized model under tensor parallelism (docs/PARALLEL.md): each
 * rank imports every weight as the file stores it (packed codes and scales,
 * its CRC-32 checked over the whole tensor) and keeps only its shard
 * (NativeModel.importWeight's shard: native/src/weights_shard.h), the part
 * shard.ts gives it of the tensor the weight is made from, so a rank's
 * weights are bit for bit that part of the single-process model's. A q8
 * row-parallel shard keeps each whole row's saved scale (the ranks' int32
 * partial sums add up exactly, as for a checkpoint quantized at load).
 */
import type { LlamaConfig } from "../config.js";
import { TensorParallelError } from "../errors.js";
import { llamaTensors } from "../models/llama.js";
import { addon } from "../native.js";
import { agreeOnModel, type TpContext } from "../parallel/mpi.js";
import { modelDescription } from "../parallel/agree.js";
import { checkGroupSplit, formatGroup, shardSpecs, type Shard } from "../parallel/shard.js";
import { nativeFormatLabel } from "../quant/formats.js";
import type { WeightPlan } from "../weights/plan.js";
import type { SavedHeader } from "./format.js";

/**
 * This rank's shard of every split weight, by name (replicated weights: none), after the ranks
 * agree on the file and options; a TensorParallelError on every rank for a weight whose stored
 * format cannot be split there (a group straddling the boundary, a format without a shard).
 */
export function savedShards(dir: string, h: SavedHeader, config: LlamaConfig, plan: WeightPlan, tp: TpContext, options: Record<string, unknown>): Map<string, Shard> {
  agreeOnModel(dir, modelDescription({ config, origin: dir }, { quant: h.quant, dtype: h.dtype, quantHead: h.quantHead, ...options, ranks: tp.size }));
  const specs = new Map(shardSpecs(llamaTensors(config), config, tp).map((s) => [s.name, s]));
  const shards = new Map<string, Shard>();
  for (const w of plan.weights) {
    const s = specs.get(w.from ?? w.name)!;
    if (!s.shard) continue;
    const format = h.weights.get(w.name)!.meta.format;
    if (!addon().canShard(format)) {
      throw new TensorParallelError(`${w.name}: its saved format ${format} (${h.quant}) cannot be split over ranks: load the source checkpoint with --quant ${h.quant} instead`);
    }
    checkGroupSplit(w.name, s.shard, s.cols, formatGroup(w.native, s.cols), nativeFormatLabel(w.native));
    shards.set(w.name, s.shard);
  }
  return shards;
}
