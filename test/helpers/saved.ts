/** Test helpers for saved models: read, edit and rewrite model.lowbit.safetensors. */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface SafetensorsFile {
  meta: Record<string, string>;
  /** in file order */
  tensors: Map<string, { dtype: string; data: Buffer }>;
}

export function readSafetensors(file: string): SafetensorsFile {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, unknown>;
  const meta = (h.__metadata__ ?? {}) as Record<string, string>;
  const entries = Object.entries(h).filter(([k]) => k !== "__metadata__") as [string, { dtype: string; data_offsets: [number, number] }][];
  entries.sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  const tensors = new Map(entries.map(([k, e]) => [k, { dtype: e.dtype, data: Buffer.from(buf.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1])) }]));
  return { meta, tensors };
}

const SIZES: Record<string, number> = { F32: 4, BF16: 2, I8: 1, U8: 1, I32: 4, F16: 2 };

/** Writes a valid safetensors file (tensors contiguous, in map order). */
export function writeSafetensors(file: string, st: SafetensorsFile): void {
  const header: Record<string, unknown> = { __metadata__: st.meta };
  let off = 0;
  for (const [k, t] of st.tensors) {
    header[k] = { dtype: t.dtype, shape: [t.data.length / SIZES[t.dtype]!], data_offsets: [off, off + t.data.length] };
    off += t.data.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, json, ...[...st.tensors.values()].map((t) => t.data)]));
}

/** The parsed per-weight records of __metadata__.weights, and a setter. */
export function weightRecords(st: SafetensorsFile): Record<string, Record<string, unknown>> {
  return JSON.parse(st.meta.weights!) as Record<string, Record<string, unknown>>;
}
export function setWeightRecords(st: SafetensorsFile, w: Record<string, Record<string, unknown>>): void {
  st.meta.weights = JSON.stringify(w);
}

/** A copy of a saved model directory with `edit` applied to its parsed file (and the directory). */
export function editedCopy(src: string, edit: (st: SafetensorsFile, dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), "lowbit-saved-bad-"));
  cpSync(src, dir, { recursive: true });
  const file = join(dir, "model.lowbit.safetensors");
  const st = readSafetensors(file);
  edit(st, dir);
  writeSafetensors(file, st);
  return dir;
}

/** A copy of a saved model directory with `edit` applied to its raw files. */
export function rawCopy(src: string, edit: (file: string, dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), "lowbit-saved-bad-"));
  cpSync(src, dir, { recursive: true });
  edit(join(dir, "model.lowbit.safetensors"), dir);
  return dir;
}
