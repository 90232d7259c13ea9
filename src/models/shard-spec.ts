/**
 * One rank's part of a tensor under tensor parallelism (src/parallel/shard.ts
 * decides them): a contiguous range of rows (of a vector's elements) or of
 * columns of the tensor the graph names.
 */
export interface Shard {
  axis: "rows" | "cols";
  start: number;
  count: number;
}

/** The [rows, cols] a rank stores of a [rows, cols] tensor (a vector: rows 1, its elements cols). */
export function localShape(s: { rows: number; cols: number; kind: string; shard?: Shard }): { rows: number; cols: number } {
  if (!s.shard) return { rows: s.rows, cols: s.cols };
  if (s.shard.axis === "rows" && s.kind === "matrix") return { rows: s.shard.count, cols: s.cols };
  return { rows: s.rows, cols: s.shard.count };
}
