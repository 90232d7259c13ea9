/**
 * A parsed GGUF file (what openGguf in gguf.ts returns): metadata, tensor
 * infos, alignment and data section offset, with typed metadata getters that
 * throw a GgufError naming the key, and readTensorBytes for one tensor's data.
 */
import * as fs from "node:fs";
import { GgufError } from "../errors.js";
import type { GgufArray, GgufArrayItems, GgufValue, GgufValueMap, GgufValueOf, GgufValueType } from "./gguf-types.js";

/** One tensor of a GGUF file. */
export interface GgufTensorInfo {
  name: string;
  /** ggml order: dims[0] is the contiguous (row) dimension, the reverse of PyTorch's shape */
  dims: number[];
  /** ggml_type id */
  type: number;
  /** ggml type name ("F32", "Q4_K", ...) */
  typeName: string;
  /** absolute byte offset of the data in the file */
  offset: number;
  /** offset relative to the data section, as stored in the file */
  relOffset: number;
  nbytes: number;
  nelements: number;
}

const INT_TYPES = ["u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64"] as const;

export class GgufFile {
  constructor(
    /** the path given to openGguf */
    readonly path: string,
    readonly version: number,
    /** every key/value in file order */
    readonly metadata: Map<string, GgufValue>,
    /** every tensor in file order */
    readonly tensors: Map<string, GgufTensorInfo>,
    /** `general.alignment`, or 32 when absent */
    readonly alignment: number,
    /** absolute offset of the tensor data section */
    readonly dataOffset: number,
    /** file size in bytes when it was opened */
    readonly fileSize: number,
  ) {}

  has(key: string): boolean {
    return this.metadata.has(key);
  }

  /** The raw tagged value, or undefined. */
  get(key: string): GgufValue | undefined {
    return this.metadata.get(key);
  }

  /** The value of `key`, which must have one of `types`; `fallback` (when given) if the key is absent. */
  private typed<T extends GgufValueType>(key: string, types: readonly T[], fallback?: GgufValueMap[T]): GgufValueOf<T> {
    const v = this.metadata.get(key);
    if (v === undefined) {
      if (fallback !== undefined) return { type: types[0]!, value: fallback } as unknown as GgufValueOf<T>;
      throw new GgufError(`${this.path}: metadata key "${key}" is missing`);
    }
    if (!(types as readonly GgufValueType[]).includes(v.type)) {
      throw new GgufError(`${this.path}: metadata key "${key}" has type ${describe(v)}, expected ${types.join(" or ")}`);
    }
    return v as unknown as GgufValueOf<T>;
  }

  getU8(key: string, fallback?: number): number { return this.typed(key, ["u8"], fallback).value; }
  getI8(key: string, fallback?: number): number { return this.typed(key, ["i8"], fallback).value; }
  getU16(key: string, fallback?: number): number { return this.typed(key, ["u16"], fallback).value; }
  getI16(key: string, fallback?: number): number { return this.typed(key, ["i16"], fallback).value; }
  getU32(key: string, fallback?: number): number { return this.typed(key, ["u32"], fallback).value; }
  getI32(key: string, fallback?: number): number { return this.typed(key, ["i32"], fallback).value; }
  getU64(key: string, fallback?: bigint): bigint { return this.typed(key, ["u64"], fallback).value; }
  getI64(key: string, fallback?: bigint): bigint { return this.typed(key, ["i64"], fallback).value; }
  getF32(key: string, fallback?: number): number { return this.typed(key, ["f32"], fallback).value; }
  getF64(key: string, fallback?: number): number { return this.typed(key, ["f64"], fallback).value; }
  getBool(key: string, fallback?: boolean): boolean { return this.typed(key, ["bool"], fallback).value; }
  getString(key: string, fallback?: string): string { return this.typed(key, ["string"], fallback).value; }

  /**
   * Any integer type as a JS number (the spec says counts may be u32 or u64):
   * fails if the value is not a safe integer.
   */
  getInt(key: string, fallback?: number): number {
    const v = this.metadata.get(key);
    if (v === undefined && fallback !== undefined) return fallback;
    const t = this.typed(key, INT_TYPES);
    const n = typeof t.value === "bigint" ? Number(t.value) : t.value;
    if (!Number.isSafeInteger(n)) {
      throw new GgufError(`${this.path}: metadata key "${key}" = ${t.value} is too large for a JS number`);
    }
    return n;
  }

  /** f32 or f64 as a JS number. */
  getFloat(key: string, fallback?: number): number {
    return this.typed(key, ["f32", "f64"], fallback).value;
  }

  /** An array; with `itemType`, its items, checked to be of that type. */
  getArray(key: string): GgufArray;
  getArray<K extends keyof GgufArrayItems>(key: string, itemType: K): GgufArrayItems[K];
  getArray(key: string, itemType?: keyof GgufArrayItems): GgufArray | GgufArrayItems[keyof GgufArrayItems] {
    const arr = this.typed(key, ["array"]).value;
    if (itemType === undefined) return arr;
    if (arr.itemType !== itemType) {
      throw new GgufError(`${this.path}: metadata key "${key}" is an array of ${arr.itemType}, expected an array of ${itemType}`);
    }
    return arr.items;
  }

  getStringArray(key: string): string[] {
    return this.getArray(key, "string");
  }

  /** A tensor by name, or a GgufError naming it. */
  tensor(name: string): GgufTensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new GgufError(`${this.path}: no tensor named "${name}"`);
    return t;
  }
}

function describe(v: GgufValue): string {
  return v.type === "array" ? `array of ${v.value.itemType}` : v.type;
}

/**
 * Read one tensor's bytes (fs.readSync; into `scratch` when it is large enough,
 * returning a subarray of it, else into a new buffer).
 */
export function readTensorBytes(file: GgufFile, tensor: GgufTensorInfo | string, scratch?: Buffer): Buffer {
  const t = typeof tensor === "string" ? file.tensor(tensor) : tensor;
  const buf = scratch && scratch.length >= t.nbytes ? scratch.subarray(0, t.nbytes) : Buffer.allocUnsafe(t.nbytes);
  let fd: number;
  try {
    fd = fs.openSync(file.path, "r");
  } catch (e) {
    throw new GgufError(`${file.path}: cannot open to read tensor "${t.name}": ${(e as Error).message}`, { cause: e });
  }
  try {
    let done = 0;
    while (done < buf.length) {
      const n = fs.readSync(fd, buf, done, Math.min(buf.length - done, 1 << 30), t.offset + done);
      if (n === 0) {
        throw new GgufError(
          `${file.path}: at byte ${t.offset + done}: tensor "${t.name}" data is truncated (file changed since it was opened?)`,
        );
      }
      done += n;
    }
  } catch (e) {
    if (e instanceof GgufError) throw e;
    throw new GgufError(`${file.path}: cannot read tensor "${t.name}": ${(e as Error).message}`, { cause: e });
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}
