/**
 * GGUF tensor data -> f32, natively (native/src/ggml_dequant.cc), exactly as
 * ggml's dequantize_row_* (bit-identical to ggml's scalar reference). Used at
 * load time for tensors whose type lowbit has no kernels for; docs/GGUF.md
 * ("Dequantization") lists the layouts.
 */
import { WeightsFormatError } from "../errors.js";
import { addon, wrapNative } from "../native.js";
import { ggmlTypeById, ggmlTypeByName, removedGgmlTypeName, type GgmlTypeInfo } from "./gguf-types.js";

/** Names of the ggml types dequantizeGgml decodes. */
export const DEQUANT_TYPE_NAMES: readonly string[] = [
  "F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS",
];

const SUPPORTED: ReadonlySet<string> = new Set(DEQUANT_TYPE_NAMES);

/** A ggml type: its layout, its id, or its name ("Q4_K"). */
export type GgmlTypeRef = GgmlTypeInfo | number | string;

function describe(t: GgmlTypeRef): string {
  return typeof t === "object" ? `${t.name} (id ${t.id})` : typeof t === "number" ? `id ${t}` : `"${t}"`;
}

/** The layout of `t` when dequantizeGgml decodes it; undefined otherwise. */
export function dequantLayout(t: GgmlTypeRef): GgmlTypeInfo | undefined {
  const info = typeof t === "object" ? ggmlTypeById(t.id) : typeof t === "number" ? ggmlTypeById(t) : ggmlTypeByName(t);
  return info && SUPPORTED.has(info.name) ? info : undefined;
}

export interface DequantOptions {
  /** Written into (must have exactly nElements values) instead of a new array. */
  out?: Float32Array;
  /** Named in error messages (a tensor name). */
  name?: string;
}

/**
 * Decodes `nElements` values of ggml type `type` from `bytes`, which must hold
 * exactly nElements / blockSize blocks (any byte offset; no alignment needed).
 * Throws a WeightsFormatError for a type that is not decoded here (the IQ
 * types, Q8_1, Q8_K, integers, ...) or a size mismatch, before anything is written.
 */
export function dequantizeGgml(type: GgmlTypeRef, bytes: Uint8Array, nElements: number, opts: DequantOptions = {}): Float32Array {
  const what = opts.name ? `tensor "${opts.name}"` : "ggml data";
  const info = dequantLayout(type);
  if (!info) {
    const known = typeof type === "number" ? ggmlTypeById(type)?.name ?? removedGgmlTypeName(type) : undefined;
    throw new WeightsFormatError(
      `${what}: ggml type ${describe(type)}${known ? ` (${known})` : ""} cannot be dequantized; ` +
      `supported: ${DEQUANT_TYPE_NAMES.join(", ")}`);
  }
  if (!Number.isSafeInteger(nElements) || nElements < 0) {
    throw new WeightsFormatError(`${what}: element count ${nElements} is not a non-negative integer`);
  }
  if (nElements % info.blockSize !== 0) {
    throw new WeightsFormatError(`${what}: ${nElements} ${info.name} values are not a whole number of ${info.blockSize}-value blocks`);
  }
  const need = (nElements / info.blockSize) * info.typeSize;
  if (bytes.byteLength !== need) {
    throw new WeightsFormatError(
      `${what}: ${nElements} ${info.name} values take ${need} bytes (${info.typeSize} per ${info.blockSize}), got ${bytes.byteLength}`);
  }
  const out = opts.out ?? new Float32Array(nElements);
  if (out.length !== nElements) {
    throw new WeightsFormatError(`${what}: output has ${out.length} values, expected ${nElements}`);
  }
  return wrapNative(`dequantizing ${what}`, () => addon().ggmlDequantize(info.id, bytes, out));
}
