/**
 * Streaming GGUF v2/v3 writer (docs/GGUF.md). Everything is validated first
 * (keys, value types and ranges, tensor names, types and shapes, data sizes),
 * then the file is written in order through a 64 KiB buffer: header, metadata,
 * tensor infos, zero padding to the alignment, then each tensor's data at an
 * aligned offset (and padded after, as ggml's writer does). Tensor data comes
 * from a byte array or from a callback that emits it in chunks, so a model
 * never has to be in memory at once. The file is written to a temporary name
 * next to `path` and renamed into place when complete.
 */
import * as fs from "node:fs";
import { GgufError } from "../errors.js";
import {
  GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_MAX_ARRAY_DEPTH, GGUF_MAX_DIMS, GGUF_MAX_KEY, GGUF_MAX_TENSOR_NAME,
  GGUF_VALUE_TYPE_IDS, GGUF_VERSIONS, NUMERIC_ARRAY_CTORS, alignUp, ggmlTypeById, ggmlTypeByName,
  isNumericArrayType, isValidAlignment, tensorSize,
  type GgmlTypeInfo, type GgufArray, type GgufArrayItems, type GgufValue,
} from "./gguf-types.js";
import { assertLittleEndianHost } from "./gguf.js";

/** One tensor to write. `dims` in ggml order (dims[0] is the row). Give `data` or `write`. */
export interface GgufWriteTensor {
  name: string;
  dims: readonly number[];
  /** ggml type name ("F32", "Q4_K") or id */
  type: string | number;
  /** the tensor's bytes, exactly its size */
  data?: Uint8Array;
  /** or a producer that calls `emit` with consecutive chunks adding up to exactly its size */
  write?: (emit: (chunk: Uint8Array) => void) => void;
}

export interface GgufWriteSpec {
  /** 3 (default) or 2: the same layout for little-endian files */
  version?: number;
  /** ordered key/value pairs (a GgufFile's `metadata` map works as is) */
  metadata: Iterable<readonly [string, GgufValue]>;
  tensors?: readonly GgufWriteTensor[];
  /**
   * Data alignment. If `metadata` has `general.alignment` it must agree; if
   * not, and this is given, `general.alignment` is appended to the metadata.
   */
  alignment?: number;
}

export interface GgufWriteResult {
  size: number;
  dataOffset: number;
  /** absolute offset and size of each tensor's data */
  tensors: Map<string, { offset: number; nbytes: number }>;
}

/** Shorthands for tagged metadata values: `gv.u32(4096)`, `gv.arr("f32", new Float32Array(n))`. */
export const gv = {
  u8: (value: number): GgufValue => ({ type: "u8", value }),
  i8: (value: number): GgufValue => ({ type: "i8", value }),
  u16: (value: number): GgufValue => ({ type: "u16", value }),
  i16: (value: number): GgufValue => ({ type: "i16", value }),
  u32: (value: number): GgufValue => ({ type: "u32", value }),
  i32: (value: number): GgufValue => ({ type: "i32", value }),
  u64: (value: bigint): GgufValue => ({ type: "u64", value }),
  i64: (value: bigint): GgufValue => ({ type: "i64", value }),
  f32: (value: number): GgufValue => ({ type: "f32", value }),
  f64: (value: number): GgufValue => ({ type: "f64", value }),
  bool: (value: boolean): GgufValue => ({ type: "bool", value }),
  str: (value: string): GgufValue => ({ type: "string", value }),
  arr: <K extends keyof GgufArrayItems>(itemType: K, items: GgufArrayItems[K]): GgufValue =>
    ({ type: "array", value: { itemType, items } as unknown as GgufArray }),
};

const INT_RANGES: ReadonlyMap<string, [number, number]> = new Map<string, [number, number]>([
  ["u8", [0, 0xff]], ["i8", [-0x80, 0x7f]], ["u16", [0, 0xffff]], ["i16", [-0x8000, 0x7fff]],
  ["u32", [0, 0xffffffff]], ["i32", [-0x80000000, 0x7fffffff]],
]);

function bad(path: string, msg: string): never {
  throw new GgufError(`${path}: cannot write GGUF: ${msg}`);
}

/** A UTF-16 surrogate without its pair: not encodable as UTF-8 (Buffer.from would write U+FFFD). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkString(path: string, what: string, s: unknown): void {
  if (typeof s !== "string") bad(path, `${what} is not a string`);
  if (LONE_SURROGATE.test(s)) bad(path, `${what} has an unpaired UTF-16 surrogate (not valid UTF-8)`);
}

/** Check a value against its declared type (ranges, containers) before anything is written. */
function checkValue(path: string, what: string, v: GgufValue, depth: number): void {
  // Typed as unknown: callers' values may not match their declared types at run time.
  const x: unknown = v.value;
  const range = INT_RANGES.get(v.type);
  if (range) {
    if (typeof x !== "number" || !Number.isInteger(x) || x < range[0] || x > range[1]) {
      bad(path, `${what}: ${String(x)} is not a ${v.type}`);
    }
    return;
  }
  switch (v.type) {
    case "f32": case "f64":
      if (typeof x !== "number") bad(path, `${what}: ${String(x)} is not a number`);
      return;
    case "u64": case "i64": {
      const [lo, hi] = v.type === "u64" ? [0n, (1n << 64n) - 1n] : [-(1n << 63n), (1n << 63n) - 1n];
      if (typeof x !== "bigint" || x < lo || x > hi) bad(path, `${what}: ${String(x)} is not a ${v.type} bigint`);
      return;
    }
    case "bool":
      if (typeof x !== "boolean") bad(path, `${what}: ${String(x)} is not a boolean`);
      return;
    case "string":
      checkString(path, what, v.value);
      return;
    case "array":
      checkArray(path, what, v.value, depth + 1);
      return;
    default:
      bad(path, `${what}: unknown value type ${JSON.stringify((v as { type: unknown }).type)}`);
  }
}

function checkArray(path: string, what: string, a: GgufArray, depth: number): void {
  const t = a.itemType as string;
  // The reader's rule: an array at depth GGUF_MAX_ARRAY_DEPTH may not hold arrays, even none.
  if (t === "array" && depth >= GGUF_MAX_ARRAY_DEPTH) bad(path, `${what}: arrays nested more than ${GGUF_MAX_ARRAY_DEPTH} deep`);
  if (!Object.prototype.hasOwnProperty.call(GGUF_VALUE_TYPE_IDS, t)) bad(path, `${what}: unknown array item type ${JSON.stringify(t)}`);
  if (isNumericArrayType(a.itemType)) {
    if (!(a.items instanceof NUMERIC_ARRAY_CTORS[a.itemType])) bad(path, `${what}: ${a.itemType} items must be a ${NUMERIC_ARRAY_CTORS[a.itemType].name}`);
    return;
  }
  if (!Array.isArray(a.items)) bad(path, `${what}: ${a.itemType} items must be an array`);
  (a.items as unknown as unknown[]).forEach((x, i) => {
    if (a.itemType === "bool" && typeof x !== "boolean") bad(path, `${what}[${i}] is not a bool`);
    if (a.itemType === "string") checkString(path, `${what}[${i}]`, x);
    if (a.itemType === "array") {
      if (typeof x !== "object" || x === null) bad(path, `${what}[${i}] is not an array value`);
      checkArray(path, `${what}[${i}]`, x as GgufArray, depth + 1);
    }
  });
}

/** Buffered sequential writer over a file descriptor. */
class FdWriter {
  pos = 0;
  private readonly buf = Buffer.allocUnsafe(64 * 1024);
  private len = 0;
  constructor(private readonly fd: number) {}

  private writeAll(b: Uint8Array): void {
    let done = 0;
    while (done < b.length) done += fs.writeSync(this.fd, b, done, b.length - done);
  }

  flush(): void {
    if (this.len > 0) this.writeAll(this.buf.subarray(0, this.len));
    this.len = 0;
  }

  bytes(b: Uint8Array): void {
    if (b.length > this.buf.length - this.len) this.flush();
    if (b.length >= this.buf.length) this.writeAll(b);
    else {
      this.buf.set(b, this.len);
      this.len += b.length;
    }
    this.pos += b.length;
  }

  /** A fixed-size field encoded by `put` into the buffer. */
  field(n: number, put: (b: Buffer, o: number) => unknown): void {
    if (n > this.buf.length - this.len) this.flush();
    put(this.buf, this.len);
    this.len += n;
    this.pos += n;
  }

  u32(v: number): void { this.field(4, (b, o) => b.writeUInt32LE(v, o)); }
  u64(v: bigint | number): void { this.field(8, (b, o) => b.writeBigUInt64LE(BigInt(v), o)); }
  string(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.bytes(b);
  }
  zeros(n: number): void {
    for (let left = n; left > 0;) {
      const k = Math.min(left, 4096);
      this.bytes(new Uint8Array(k));
      left -= k;
    }
  }
}

function writeValue(w: FdWriter, v: GgufValue): void {
  switch (v.type) {
    case "u8": return w.field(1, (b, o) => b.writeUInt8(v.value, o));
    case "i8": return w.field(1, (b, o) => b.writeInt8(v.value, o));
    case "u16": return w.field(2, (b, o) => b.writeUInt16LE(v.value, o));
    case "i16": return w.field(2, (b, o) => b.writeInt16LE(v.value, o));
    case "u32": return w.u32(v.value);
    case "i32": return w.field(4, (b, o) => b.writeInt32LE(v.value, o));
    case "f32": return w.field(4, (b, o) => b.writeFloatLE(v.value, o));
    case "f64": return w.field(8, (b, o) => b.writeDoubleLE(v.value, o));
    case "u64": return w.u64(v.value);
    case "i64": return w.field(8, (b, o) => b.writeBigInt64LE(v.value, o));
    case "bool": return w.field(1, (b, o) => b.writeUInt8(v.value ? 1 : 0, o));
    case "string": return w.string(v.value);
    case "array": return writeArray(w, v.value);
  }
}

function writeArray(w: FdWriter, a: GgufArray): void {
  w.u32(GGUF_VALUE_TYPE_IDS[a.itemType]);
  w.u64(a.items.length);
  switch (a.itemType) {
    case "bool": return w.bytes(Uint8Array.from(a.items, (x) => (x ? 1 : 0)));
    case "string": for (const s of a.items) w.string(s); return;
    case "array": for (const x of a.items) writeArray(w, x); return;
    default: w.bytes(new Uint8Array(a.items.buffer, a.items.byteOffset, a.items.byteLength));
  }
}

interface PlannedTensor {
  t: GgufWriteTensor;
  info: GgmlTypeInfo;
  nbytes: number;
  rel: number;
}

/** Validate metadata and tensors; work out alignment and each tensor's relative offset. */
function plan(path: string, spec: GgufWriteSpec) {
  const version = spec.version ?? 3;
  if (!GGUF_VERSIONS.includes(version)) bad(path, `version ${version} (only ${GGUF_VERSIONS.join(" and ")} are written)`);
  const kvs: [string, GgufValue][] = [];
  const keys = new Set<string>();
  for (const [key, value] of spec.metadata) {
    checkString(path, "metadata key", key);
    const len = Buffer.byteLength(key, "utf8");
    if (len === 0 || len > GGUF_MAX_KEY) bad(path, `metadata key ${JSON.stringify(key.slice(0, 80))} must be 1 to ${GGUF_MAX_KEY} bytes`);
    if (keys.has(key)) bad(path, `duplicate metadata key "${key}"`);
    keys.add(key);
    checkValue(path, `metadata "${key}"`, value, 0);
    kvs.push([key, value]);
  }
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const a = kvs.find(([k]) => k === "general.alignment")?.[1];
  if (a !== undefined) {
    if (a.type !== "u32" || !isValidAlignment(a.value)) bad(path, `"general.alignment" must be a u32 power of two`);
    alignment = a.value;
    if (spec.alignment !== undefined && spec.alignment !== alignment) {
      bad(path, `alignment ${spec.alignment} disagrees with "general.alignment" = ${alignment}`);
    }
  } else if (spec.alignment !== undefined) {
    if (!isValidAlignment(spec.alignment)) bad(path, `alignment ${spec.alignment} is not a power of two in [1, 2^30]`);
    alignment = spec.alignment;
    kvs.push(["general.alignment", { type: "u32", value: alignment }]);
  }
  const names = new Set<string>();
  const tensors: PlannedTensor[] = [];
  let end = 0;
  for (const t of spec.tensors ?? []) {
    const where = `tensor ${JSON.stringify(t.name)}`;
    checkString(path, `${where} name`, t.name);
    if (Buffer.byteLength(t.name, "utf8") > GGUF_MAX_TENSOR_NAME) {
      bad(path, `${where}: name must be a string of at most ${GGUF_MAX_TENSOR_NAME} bytes`);
    }
    if (names.has(t.name)) bad(path, `duplicate tensor name "${t.name}"`);
    names.add(t.name);
    const info = typeof t.type === "number" ? ggmlTypeById(t.type) : ggmlTypeByName(t.type);
    if (!info) bad(path, `${where}: unknown ggml type ${JSON.stringify(t.type)}`);
    if (!Array.isArray(t.dims) || t.dims.length < 1 || t.dims.length > GGUF_MAX_DIMS ||
        !t.dims.every((d) => Number.isSafeInteger(d) && d >= 1)) {
      bad(path, `${where}: dims must be 1 to ${GGUF_MAX_DIMS} positive integers`);
    }
    const size = tensorSize(info, t.dims.map(BigInt));
    if (typeof size === "string") bad(path, `${where} (${info.name}): ${size}`);
    const nbytes = Number(size.nbytes);
    if (!Number.isSafeInteger(nbytes)) bad(path, `${where}: ${size.nbytes} bytes is too large`);
    if ((t.data === undefined) === (t.write === undefined)) bad(path, `${where}: give exactly one of data and write`);
    if (t.data !== undefined && t.data.length !== nbytes) {
      bad(path, `${where}: data is ${t.data.length} bytes, ${info.name} [${t.dims.join(", ")}] needs ${nbytes}`);
    }
    const rel = alignUp(end, alignment);
    tensors.push({ t, info, nbytes, rel });
    end = rel + nbytes;
  }
  return { version, kvs, alignment, tensors };
}

/** Write a GGUF file (see the module comment); returns its size and layout. */
export function writeGguf(path: string, spec: GgufWriteSpec): GgufWriteResult {
  assertLittleEndianHost(path);
  const { version, kvs, alignment, tensors } = plan(path, spec);
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, "w");
    const w = new FdWriter(fd);
    w.bytes(GGUF_MAGIC);
    w.u32(version);
    w.u64(tensors.length);
    w.u64(kvs.length);
    for (const [key, value] of kvs) {
      w.string(key);
      w.u32(GGUF_VALUE_TYPE_IDS[value.type]);
      writeValue(w, value);
    }
    for (const { t, info, rel } of tensors) {
      w.string(t.name);
      w.u32(t.dims.length);
      for (const d of t.dims) w.u64(d);
      w.u32(info.id);
      w.u64(rel);
    }
    w.zeros(alignUp(w.pos, alignment) - w.pos);
    const dataOffset = w.pos;
    const out = new Map<string, { offset: number; nbytes: number }>();
    for (const { t, nbytes, rel } of tensors) {
      w.zeros(dataOffset + rel - w.pos);
      const start = w.pos;
      if (t.data !== undefined) w.bytes(t.data);
      else {
        t.write!((chunk) => {
          if (!(chunk instanceof Uint8Array)) bad(path, `tensor "${t.name}": write emitted a non-Uint8Array chunk`);
          if (w.pos - start + chunk.length > nbytes) bad(path, `tensor "${t.name}": write emitted more than ${nbytes} bytes`);
          w.bytes(chunk);
        });
        if (w.pos - start !== nbytes) bad(path, `tensor "${t.name}": write emitted ${w.pos - start} of ${nbytes} bytes`);
      }
      out.set(t.name, { offset: start, nbytes });
    }
    w.zeros(alignUp(w.pos, alignment) - w.pos);
    w.flush();
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, path);
    return { size: w.pos, dataOffset, tensors: out };
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    if (e instanceof GgufError) throw e;
    throw new GgufError(`${path}: cannot write GGUF: ${(e as Error).message}`, { cause: e });
  }
}
