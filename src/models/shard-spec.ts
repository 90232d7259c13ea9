import { TensorParallelError } from "../errors.js";

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

/** Elements per block of a GGUF block type (a row-parallel split must fall between blocks). */
export const BLOCK_ELEMS: Record<string, number> = {
  Q4_0: 32, Q8_0: 32, Q4_1: 32, Q5_0: 32, Q5_1: 32, IQ4_NL: 32, Q2_K: 256, Q3_K: 256, Q4_K: 256, Q5_K: 256, Q6_K: 256, IQ4_XS: 256,
};

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
export function takeShard(bytes: Uint8Array, dtype: string, s: { name: string; rows: number; cols: number; kind: string; shard?: Shard }): Uint8Array {
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

/**
 * The byte ranges [start, length] of a row-major [rows, cols] tensor of a float dtype that hold
 * `s.shard` (one range for rows, one per row for columns); null for block types.
 */
export function shardRanges(dtype: string, s: { rows: number; cols: number; kind: string; shard?: Shard }): [number, number][] | null {
  const eb = ELEM_BYTES[dtype], sh = s.shard;
  if (!eb || !sh) return null;
  const rowBytes = s.cols * eb, rows = s.kind === "matrix" ? s.rows : 1;
  if (sh.axis === "rows" && s.kind === "matrix") return [[sh.start * rowBytes, sh.count * rowBytes]];
  return Array.from({ length: rows }, (_, r): [number, number] => [r * rowBytes + sh.start * eb, sh.count * eb]);
}
