/**
 * An in-memory GGUF builder for tests, written independently of
 * src/formats/gguf-write.ts: it emits whatever it is given (duplicate names,
 * unknown type ids, any offsets) and records where each field landed, so the
 * robustness corpus can patch lengths, counts, types and offsets in place.
 */
import type { GgufArray, GgufValue } from "../../src/formats/gguf.js";
import { rng } from "../../src/eval/code-cloze.js";

export type FieldKind =
  | "magic" | "version" | "tensorCount" | "kvCount"
  | "keyLen" | "valueType" | "strLen" | "arrItemType" | "arrCount" | "boolValue"
  | "nameLen" | "nDims" | "dim" | "ggmlType" | "tensorOffset";

export interface Field {
  kind: FieldKind;
  /** byte offset of the field */
  at: number;
  size: 1 | 4 | 8;
  /** for strLen / keyLen / nameLen: the string's byte length */
  len?: number;
  /** for arrCount: the item type id */
  itemType?: number;
  /** for tensor fields: index of the tensor */
  tensor?: number;
}

export interface RawTensor {
  name: string;
  dims: (number | bigint)[];
  /** ggml type id */
  type: number;
  data: Uint8Array;
  /** relative data offset to record instead of the packed one */
  offset?: bigint;
}

export interface RawSpec {
  version?: number;
  kv: [string, GgufValue][];
  tensors?: RawTensor[];
  /** alignment used for layout (add "general.alignment" to kv yourself) */
  alignment?: number;
  /** pad after the last tensor (ggml writers do; the corpus does not, so any truncation is invalid) */
  trailingPad?: boolean;
}

export interface Built {
  bytes: Buffer;
  fields: Field[];
  dataOffset: number;
  /** relative offset the data of each tensor was placed at */
  placed: number[];
}

const TYPE_IDS: Record<string, number> = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12,
};

class Out {
  parts: Buffer[] = [];
  pos = 0;
  fields: Field[] = [];
  put(b: Buffer): void {
    this.parts.push(b);
    this.pos += b.length;
  }
  field(kind: FieldKind, size: 1 | 4 | 8, v: number | bigint, extra: Partial<Field> = {}): void {
    this.fields.push({ kind, at: this.pos, size, ...extra });
    const b = Buffer.alloc(size);
    if (size === 1) b.writeUInt8(Number(v));
    else if (size === 4) b.writeUInt32LE(Number(v));
    else b.writeBigUInt64LE(BigInt(v));
    this.put(b);
  }
  str(s: string, kind: "keyLen" | "strLen" | "nameLen", extra: Partial<Field> = {}): void {
    const b = Buffer.from(s, "utf8");
    this.field(kind, 8, b.length, { len: b.length, ...extra });
    this.put(b);
  }
  num(size: number, write: (b: Buffer) => void): void {
    const b = Buffer.alloc(size);
    write(b);
    this.put(b);
  }
}

function writeArray(o: Out, a: GgufArray): void {
  o.field("arrItemType", 4, TYPE_IDS[a.itemType]!);
  o.field("arrCount", 8, a.items.length, { itemType: TYPE_IDS[a.itemType] });
  for (const x of a.items as Iterable<unknown>) {
    writeValue(o, { type: a.itemType, value: x } as GgufValue);
  }
}

function writeValue(o: Out, v: GgufValue): void {
  switch (v.type) {
    case "u8": return o.num(1, (b) => b.writeUInt8(v.value));
    case "i8": return o.num(1, (b) => b.writeInt8(v.value));
    case "u16": return o.num(2, (b) => b.writeUInt16LE(v.value));
    case "i16": return o.num(2, (b) => b.writeInt16LE(v.value));
    case "u32": return o.num(4, (b) => b.writeUInt32LE(v.value));
    case "i32": return o.num(4, (b) => b.writeInt32LE(v.value));
    case "f32": return o.num(4, (b) => b.writeFloatLE(v.value));
    case "f64": return o.num(8, (b) => b.writeDoubleLE(v.value));
    case "u64": return o.num(8, (b) => b.writeBigUInt64LE(v.value));
    case "i64": return o.num(8, (b) => b.writeBigInt64LE(v.value));
    case "bool": return o.field("boolValue", 1, v.value ? 1 : 0);
    case "string": return o.str(v.value, "strLen");
    case "array": return writeArray(o, v.value);
  }
}

/** Bytes of `type` x dims, for the few types the tests use. */
const LAYOUT: Record<number, [number, number]> = {
  0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34],
  10: [256, 84], 11: [256, 110], 12: [256, 144], 13: [256, 176], 14: [256, 210], 24: [1, 1], 30: [1, 2],
};

export function rawNbytes(type: number, dims: readonly number[]): number {
  const [block, size] = LAYOUT[type] ?? [1, 1];
  return (dims.reduce((a, b) => a * b, 1) / block) * size;
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

export function buildRaw(spec: RawSpec): Built {
  const o = new Out();
  const align = spec.alignment ?? 32;
  const tensors = spec.tensors ?? [];
  o.put(Buffer.from("GGUF", "latin1"));
  o.fields.push({ kind: "magic", at: 0, size: 4 });
  o.field("version", 4, spec.version ?? 3);
  o.field("tensorCount", 8, tensors.length);
  o.field("kvCount", 8, spec.kv.length);
  for (const [k, v] of spec.kv) {
    o.str(k, "keyLen");
    o.field("valueType", 4, TYPE_IDS[v.type]!);
    writeValue(o, v);
  }
  const placed: number[] = [];
  let end = 0;
  for (const t of tensors) {
    const rel = alignUp(end, align);
    placed.push(rel);
    end = rel + t.data.length;
  }
  tensors.forEach((t, i) => {
    o.str(t.name, "nameLen", { tensor: i });
    o.field("nDims", 4, t.dims.length, { tensor: i });
    for (const d of t.dims) o.field("dim", 8, d, { tensor: i });
    o.field("ggmlType", 4, t.type, { tensor: i });
    o.field("tensorOffset", 8, t.offset ?? BigInt(placed[i]!), { tensor: i });
  });
  const dataOffset = alignUp(o.pos, align);
  o.put(Buffer.alloc(dataOffset - o.pos));
  tensors.forEach((t, i) => {
    o.put(Buffer.alloc(dataOffset + placed[i]! - o.pos));
    o.put(Buffer.from(t.data));
  });
  if (spec.trailingPad && tensors.length > 0) o.put(Buffer.alloc(alignUp(o.pos, align) - o.pos));
  return { bytes: Buffer.concat(o.parts), fields: o.fields, dataOffset, placed };
}

/** Deterministic pseudo-random bytes. */
export function pseudoBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** mulberry32: a small seeded PRNG returning [0, 1) (the one the code cloze task uses). */
export const prng = rng;
