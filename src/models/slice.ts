/**
 * Load-time transformations of a source tensor's bytes that a family's
 * description asks for (graph.ts TensorSpec): one part of a fused projection
 * (whole rows, so any tensor type, quantized blocks included) and the
 * `1 + w` of Gemma's norms.
 */
import { WeightsFormatError } from "../errors.js";
import { toF32 } from "../quant/tensors.js";
import type { TensorSpec } from "./graph.js";
import type { SourceDtype } from "./source.js";

/** Rows [start, start + count) of a tensor of `total` rows (elements of a vector). */
export function sliceRows(bytes: Uint8Array, total: number, start: number, count: number, what: string): Uint8Array {
  if (bytes.length % total !== 0 || start < 0 || start + count > total) {
    throw new WeightsFormatError(`${what}: cannot take rows [${start}, ${start + count}) of ${total} from ${bytes.length} bytes`);
  }
  const row = bytes.length / total;
  return bytes.subarray(start * row, (start + count) * row);
}

/** The spec's part of an HF tensor's bytes, with 1 added to a (1 + w) norm. */
export function hfTransform(spec: TensorSpec, bytes: Uint8Array, dtype: SourceDtype): { bytes: Uint8Array; dtype: SourceDtype } {
  if (spec.hfSlice) bytes = sliceRows(bytes, spec.hfSlice.total, spec.hfSlice.start, spec.kind === "norm" ? spec.cols : spec.rows, spec.hfName);
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
