/**
 * A NativeModel for a config, filled by a weight plan: created (threads,
 * kernels, KV cache, RoPE tables), weights added by the caller, then finished
 * (the tied head aliased, the forward graph compiled). Shared by every load
 * path (loader.ts for checkpoints and synthetic models, saved/load.ts).
 */
import type { LlamaConfig } from "../config.js";
import { llamaGraph } from "../models/llama.js";
import { nativeRopeOptions } from "../models/rope-scaling.js";
import { addon, wrapNative, type KernelVariant, type KvType, type NativeModel } from "../native.js";
import { decodeWeightBytes, type WeightPlan } from "../weights/plan.js";
import { tpGraph } from "../parallel/graph.js";
import { kvHeadsOf } from "../parallel/shard.js";
import type { TpContext } from "../parallel/mpi.js";

export interface RuntimeOptions {
  threads: number;
  kernels: KernelVariant;
  /** KV-cache capacity in tokens; 0 = the model's trained context (max_position_embeddings) */
  contextLength: number;
  /** KV-cache element type (default f32) */
  kvType?: KvType;
  /** one rank of a tensor-parallel job: its KV heads only, its shard's graph */
  tp?: TpContext;
}

/** An empty native model for this config; `contextLength` resolved. */
export function createNativeModel(config: LlamaConfig, o: RuntimeOptions): { native: NativeModel; contextLength: number } {
  const contextLength = o.contextLength || config.maxPositionEmbeddings;
  const { NativeModel } = addon();
  const native = wrapNative("creating model", () => new NativeModel({
    threads: o.threads,
    kernels: o.kernels,
    nLayers: config.nLayers,
    nKvHeads: o.tp ? kvHeadsOf(config, o.tp).count : config.nKvHeads,
    headDim: config.headDim,
    nCtx: contextLength,
    ...(o.kvType !== undefined ? { kvType: o.kvType } : {}),
    ...(o.tp ? { tp: true } : {}),
    ropeTheta: config.ropeTheta,
    ...nativeRopeOptions(config),
  }));
  return { native, contextLength };
}

/** After every planned weight is added: the alias and the graph. Returns the bytes a decode step reads. */
export function finishNativeModel(native: NativeModel, plan: WeightPlan, config: LlamaConfig, tp?: TpContext): number {
  if (plan.alias) native.aliasWeight("output.weight", "token_embd.weight");
  const graph = tp ? tpGraph(llamaGraph(config), config, tp) : llamaGraph(config);
  wrapNative("building graph", () => native.setGraph(graph.ops, graph.output));
  return decodeWeightBytes(plan, native.weightStats());
}
