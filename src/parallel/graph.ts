/**
 * The forward graph of one rank of a tensor-parallel model (shard.ts says
 * which part of each tensor it holds), from the single-process graph:
 *
 *   embed          its vocabulary rows (`offset`, `vocab`), then all_reduce (one rank
 *                  has each token's row, the others zeros)
 *   heads          every op's head count divided by the ranks (rope, attention, kv
 *                  cache, per-head norms): each rank attends with its own heads; ops over
 *                  the KV heads get the rank's KV heads (shard.ts kvHeadsOf: one, replicated,
 *                  when there are fewer KV heads than ranks); ALiBi attention
 *                  takes the slopes of its heads' places among the model's (offset, alibiHeads)
 *   attn_output,   row-parallel (mode "row_parallel"): the matmul sums its ranks' partial
 *   ffn_down       products itself (w8a8: int32 dot products, exact; per-token int8
 *                  activation scales from the whole row), then adds its bias once
 *   output         its vocabulary rows' logits, then all_gather into the whole row
 */
import type { LlamaConfig } from "../config.js";
import { TensorParallelError } from "../errors.js";
import type { OpSpec } from "../native.js";
import type { TpContext } from "./mpi.js";
import { kvHeadsOf } from "./shard.js";

const ROW_PARALLEL = /^blk\.\d+\.(attn_output|ffn_down)\.weight$/;

export function tpGraph(graph: { ops: OpSpec[]; output: string }, c: LlamaConfig, tp: TpContext): { ops: OpSpec[]; output: string } {
  const { rank, size } = tp;
  const ops: OpSpec[] = [];
  for (const op of graph.ops) {
    const o: OpSpec = { ...op };
    // ALiBi: the slopes of this rank's heads of the model's
    if (o.op === "attention" && o.alibi) Object.assign(o, { offset: rank * (o.heads! / size), alibiHeads: o.heads });
    if (o.heads) {
      // query heads split evenly; an op over the KV heads (rope / norm of k) gets this rank's KV heads
      if (o.heads === c.nKvHeads && c.nKvHeads !== c.nHeads) o.heads = kvHeadsOf(c, tp).count;
      else if (o.heads % size) throw new TensorParallelError(`an op over ${o.heads} heads does not divide by ${size} ranks`);
      else o.heads /= size;
    }
    if (o.op === "embed") {
      ops.push({ ...o, offset: rank * (c.vocabSize / size), vocab: c.vocabSize }, { op: "all_reduce", a: o.out! });
    } else if (o.op === "matmul" && ROW_PARALLEL.test(o.weight!)) {
      ops.push({ ...o, mode: "row_parallel" });
    } else if (o.op === "matmul" && o.weight === "output.weight") {
      const part = `${o.out!}_part`;
      ops.push({ ...o, out: part }, { op: "all_gather", a: part, out: o.out! });
    } else {
      ops.push(o);
    }
  }
  return { ops, output: graph.output };
}
