/** Tensor bytes <-> f32 in JS, for the load-time transforms (SmoothQuant). */
import { WeightsFormatError } from "../errors.js";
import { isBlockDtype, type SourceDtype } from "../models/source-dtype.js";

/** Raw little-endian tensor bytes as a fresh Float32Array (float dtypes; sources give block types as f32 on request). */
export function toF32(bytes: Uint8Array, dtype: SourceDtype): Float32Array {
  if (isBlockDtype(dtype)) throw new WeightsFormatError(`toF32: ${dtype} blocks must be dequantized by the source`);
  const n = bytes.length / (dtype === "F32" ? 4 : 2);
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === "F32") {
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  } else if (dtype === "BF16") {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = dv.getUint16(i * 2, true) << 16;
  } else {
    for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(i * 2, true));
  }
  return out;
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Per-column max |w| of a row-major [rows, cols] matrix. */
export function columnAbsMax(w: Float32Array, rows: number, cols: number, into?: Float32Array): Float32Array {
  const out = into ?? new Float32Array(cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const v = Math.abs(w[r * cols + c]!);
      if (v > out[c]!) out[c] = v;
    }
  return out;
}
