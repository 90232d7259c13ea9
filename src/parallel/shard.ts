/**
 * Megatron-style sharding of a model's tensors over `size` ranks, by name
 * (GGUF naming, graph.ts), so it holds for every family and weight format:
 *
 *   attn_q / attn_k / attn_v (+ biases)   column-parallel: rows of whole KV-head groups
 *                                          (rank r: q heads [r H/p, (r+1) H/p), kv heads [r KV/p, ...))
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
import type { TensorSpec } from "../models/graph.js";
import type { TpContext } from "./mpi.js";

import { localShape, type Shard } from "../models/shard-spec.js";

export { localShape, type Shard };
/** A tensor spec with this rank's shard (graph.ts TensorSpec.shard). */
export type ShardedSpec = TensorSpec;

/** Checks that the config's shapes split evenly over the ranks (TensorParallelError naming the shape). */
export function checkDivisible(c: LlamaConfig, size: number): void {
  const need: [string, number][] = [
    ["num_key_value_heads", c.nKvHeads], ["num_attention_heads", c.nHeads], ["intermediate_size", c.intermediateSize], ["vocab_size", c.vocabSize],
  ];
  for (const [name, v] of need) {
    if (v % size !== 0) throw new TensorParallelError(`${name} ${v} does not divide by ${size} ranks (tensor parallelism splits it evenly)`);
  }
}

/** The shard of each tensor for this rank (specs unchanged but for `shard`). */
export function shardSpecs(specs: readonly TensorSpec[], c: LlamaConfig, tp: TpContext): ShardedSpec[] {
  checkDivisible(c, tp.size);
  const { rank, size } = tp;
  const part = (total: number): [number, number] => [rank * (total / size), total / size];
  const q = part(c.nHeads * c.headDim), kv = part(c.nKvHeads * c.headDim), f = part(c.intermediateSize), v = part(c.vocabSize);
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

/** Elements per block of a GGUF block type (a row-parallel split must fall between blocks). */
const BLOCK_ELEMS: Record<string, number> = {
  Q4_0: 32, Q8_0: 32, Q4_1: 32, Q5_0: 32, Q5_1: 32, IQ4_NL: 32, Q2_K: 256, Q3_K: 256, Q4_K: 256, Q5_K: 256, Q6_K: 256, IQ4_XS: 256,
};

/**
 * The columns of a native format that must stay together: a lowbit group (q4-g128: 128), a ggml
 * block (q4_0: 32, q4_k: 256), a whole row for per-channel scales; 1 for per-element formats.
 */
export function formatGroup(native: string, cols: number): { group: number; unit: string } {
  const g = /-g(\d+)/.exec(native);
  if (g) return { group: Number(g[1]), unit: "groups" };
  if (/-ch(-|$)/.test(native)) return { group: cols, unit: "rows (per-channel scales)" };
  const b = BLOCK_ELEMS[native.toUpperCase()];
  return b ? { group: b, unit: "blocks" } : { group: 1, unit: "elements" };
}

/** A column split of `what` must start and end on `group` boundaries. */
export function checkGroupSplit(what: string, shard: Shard | undefined, fullCols: number, g: { group: number; unit: string }, format: string): void {
  if (!shard || shard.axis !== "cols" || g.group <= 1) return;
  if (shard.start % g.group !== 0 || shard.count % g.group !== 0) {
    throw new TensorParallelError(
      `${what}: its ${fullCols} input columns split over the ranks into ${shard.count}-column parts, which must be multiples of ${format}'s ${g.group}-column ${g.unit}: use fewer ranks or another format`,
    );
  }
}

/** Bytes per element of the float dtypes a source hands over. */
const ELEM_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/**
 * This rank's part of a tensor's bytes (row-major [rows, cols] of `dtype`; a vector: cols elements),
 * copied into a new buffer. Block types are split on block boundaries only.
 */
export function takeShard(bytes: Uint8Array, dtype: string, s: ShardedSpec): Uint8Array {
  const sh = s.shard;
  if (!sh) return bytes;
  const rows = s.kind === "matrix" ? s.rows : 1;
  const rowBytes = bytes.length / rows;
  if (sh.axis === "rows" && s.kind === "matrix") return bytes.slice(sh.start * rowBytes, (sh.start + sh.count) * rowBytes);
  // columns (or a vector's elements): per row, in element or block units
  const block = BLOCK_ELEMS[dtype];
  const unit = block ?? 1, unitBytes = block ? rowBytes / (s.cols / block) : ELEM_BYTES[dtype];
  if (!unitBytes) throw new TensorParallelError(`${s.name}: cannot split a ${dtype} tensor by columns`);
  checkGroupSplit(`${s.name} (${dtype} in the file)`, sh, s.cols, { group: unit, unit: "blocks" }, dtype);
  const a = (sh.start / unit) * unitBytes, n = (sh.count / unit) * unitBytes;
  const out = new Uint8Array(rows * n);
  for (let r = 0; r < rows; r++) out.set(bytes.subarray(r * rowBytes + a, r * rowBytes + a + n), r * n);
  return out;
}
