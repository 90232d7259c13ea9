/**
 * Load-time transformations of a source tensor's bytes that a family's
 * description asks for (graph.ts TensorSpec): one part of a fused projection
 * (whole rows, so any tensor type, quantized blocks included) and the
 * `1 + w` of Gemma's norms.
 */
import { WeightsFormatError } from "../errors.js";
import { toF32 } from "../quant/tensors.js";
import type { RowSlice, TensorSpec } from "./graph.js";
import type { SourceDtype } from "./source-dtype.js";

/** The row ranges [start, count] of a tensor of `total` rows (elements of a vector), concatenated. */
export function sliceRows(bytes: Uint8Array, slice: RowSlice, what: string): Uint8Array {
  const { total, ranges } = slice;
  if (bytes.length % total !== 0 || ranges.some(([a, n]) => a < 0 || n < 0 || a + n > total)) {
    throw new WeightsFormatError(`${what}: cannot take rows ${JSON.stringify(ranges)} of ${total} from ${bytes.length} bytes`);
  }
  const row = bytes.length / total;
  if (ranges.length === 1) return bytes.subarray(ranges[0]![0] * row, (ranges[0]![0] + ranges[0]![1]) * row);
  const out = new Uint8Array(ranges.reduce((s, [, n]) => s + n, 0) * row);
  let at = 0;
  for (const [a, n] of ranges) {
    out.set(bytes.subarray(a * row, (a + n) * row), at);
    at += n * row;
  }
  return out;
}

/** The spec's part of an HF tensor's bytes, with 1 added to a (1 + w) norm. */
export function hfTransform(spec: TensorSpec, bytes: Uint8Array, dtype: SourceDtype): { bytes: Uint8Array; dtype: SourceDtype } {
  if (spec.hfSlice) bytes = sliceRows(bytes, spec.hfSlice, spec.hfName);
  if (!spec.hfPlusOne) return { bytes, dtype };
  // in f32, as transformers computes 1 + w.float()
  const w = toF32(bytes, dtype);
  for (let i = 0; i < w.length; i++) w[i] = Math.fround(1 + w[i]!);
  return { bytes: new Uint8Array(w.buffer), dtype: "F32" };
}

/** The HF tensor's expected shape (the fused tensor's for a slice). */
export function hfShape(s: TensorSpec): number[] {
  const n = s.hfSlice?.total;
  return s.kind === "norm" ? [n ?? s.cols] : [n ?? s.rows, s.cols];
}
