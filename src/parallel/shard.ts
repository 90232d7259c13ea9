/**
 * Megatron-style sharding of a model's tensors over `size` ranks, by name
 * (GGUF naming, graph.ts), so it holds for every family and weight format:
 *
 *   attn_q / attn_k / attn_v (+ biases)   column-parallel: rows of whole KV-head groups
 *                                          (rank r: q heads [r H/p, (r+1) H/p), kv heads [r KV/p, ...));
 *                                          fewer KV heads than ranks (multi-query: 1): each rank holds
 *                                          the one KV head of its query heads (replicated)
 *   ffn_gate / ffn_up (+ biases)           column-parallel: rows [r F/p, (r+1) F/p)
 *   attn_output / ffn_down                 row-parallel: input columns of the same ranges
 *                                          (their biases whole, added once after the all_reduce)
 *   token_embd / output (+ bias)           vocab-parallel: rows [r V/p, (r+1) V/p)
 *   everything else (norms, positions)     replicated
 *
 * A shard is one contiguous range of rows (or of a vector's elements) or of
 * columns of the tensor the graph names (after a fused projection's slice).
 */
import type { LlamaConfig } from "../config.js";
import { TensorParallelError } from "../errors.js";
import type { NativeInt4Spec } from "../quant/formats.js";
import type { TensorSpec } from "../models/graph.js";
import type { TpContext } from "./mpi.js";

import { BLOCK_ELEMS, checkGroupSplit, localShape, takeShard, type Shard } from "../models/shard-spec.js";

export { checkGroupSplit, localShape, takeShard, type Shard };
/** A tensor spec with this rank's shard (graph.ts TensorSpec.shard). */
export type ShardedSpec = TensorSpec;

/** Checks that the config's shapes split evenly over the ranks (TensorParallelError naming the shape). */
export function checkDivisible(c: LlamaConfig, size: number): void {
  if (c.nKvHeads % size !== 0 && size % c.nKvHeads !== 0) {
    throw new TensorParallelError(`num_key_value_heads ${c.nKvHeads} does not divide by ${size} ranks, nor ${size} ranks by it (KV heads are split evenly, or replicated when there are fewer than ranks)`);
  }
  const need: [string, number][] = [["num_attention_heads", c.nHeads], ["intermediate_size", c.intermediateSize], ["vocab_size", c.vocabSize]];
  for (const [name, v] of need) {
    if (v % size !== 0) throw new TensorParallelError(`${name} ${v} does not divide by ${size} ranks (tensor parallelism splits it evenly)`);
  }
}

/**
 * Rank r's KV heads [start, start + count): KV / p of them, or, with fewer KV heads than ranks
 * (p a multiple of KV), the one KV head that rank r's query heads attend with (replicated).
 */
export function kvHeadsOf(c: LlamaConfig, tp: TpContext): { start: number; count: number } {
  return { start: Math.floor((tp.rank * c.nKvHeads) / tp.size), count: Math.max(1, c.nKvHeads / tp.size) };
}

/** The shard of each tensor for this rank (specs unchanged but for `shard`). */
export function shardSpecs(specs: readonly TensorSpec[], c: LlamaConfig, tp: TpContext): ShardedSpec[] {
  checkDivisible(c, tp.size);
  const { rank, size } = tp;
  const part = (total: number): [number, number] => [rank * (total / size), total / size];
  const kvh = kvHeadsOf(c, tp);
  const q = part(c.nHeads * c.headDim), kv: [number, number] = [kvh.start * c.headDim, kvh.count * c.headDim];
  const f = part(c.intermediateSize), v = part(c.vocabSize);
  const role = (name: string) => name.replace(/^blk\.\d+\./, "");
  return specs.map((s): ShardedSpec => {
    const r = role(s.name), bias = r.endsWith(".bias");
    const rows = (p: [number, number]): ShardedSpec => ({ ...s, shard: { axis: bias ? "cols" : "rows", start: p[0], count: p[1] } });
    const cols = (p: [number, number]): ShardedSpec => (bias ? s : { ...s, shard: { axis: "cols", start: p[0], count: p[1] } });
    switch (r.replace(/\.(weight|bias)$/, "")) {
      case "attn_q": return rows(q);
      case "attn_k": case "attn_v": return rows(kv);
      case "ffn_gate": case "ffn_up": return rows(f);
      case "attn_output": return cols(q);
      case "ffn_down": return cols(f);
      case "token_embd": case "output": return rows(v);
      default: return s;
    }
  });
}

/**
 * The columns of a native format that must stay together: a lowbit group (q4-g128: 128), a ggml
 * block (q4_0: 32, q4_k: 256), a whole row for per-channel scales; 1 for per-element formats.
 */
export function formatGroup(native: string | NativeInt4Spec, cols: number): { group: number; unit: string } {
  if (typeof native !== "string") return native.group ? { group: native.group, unit: "groups" } : { group: cols, unit: "rows (per-channel scales)" };
  const b = BLOCK_ELEMS[native.toUpperCase()];
  return b ? { group: b, unit: "blocks" } : { group: 1, unit: "elements" };
}

