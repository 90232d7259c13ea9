/**
 * GGUF v2/v3 reader (docs/GGUF.md). The header, every metadata key/value and
 * every tensor info are read through a bounded cursor (gguf-cursor.ts): each
 * count and length read from the file is checked against the bytes left in it
 * before anything is allocated, so a corrupt or hostile file gets nothing
 * allocated for what it merely claims: memory and time stay proportional to
 * its real size. Then the tensors are checked against each other and the file
 * size: known ggml type, shape a whole number of blocks, offset aligned, data
 * inside the file, no two overlapping, no hole between them (checkPacked).
 * Every failure is a GgufError naming the file and the byte offset.
 *
 * Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 kv count,
 * kv pairs (string key, u32 value type, value), tensor infos (string name,
 * u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset relative to the data
 * section), zero padding to `general.alignment` (default 32), tensor data.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import { GgufError, LowbitError, ModelNotFoundError } from "../errors.js";
import { allocBytes, FdCursor } from "./gguf-cursor.js";
import { GgufFile, type GgufTensorInfo } from "./gguf-file.js";
import {
  GGUF_DEFAULT_ALIGNMENT, GGUF_MAX_ARRAY_DEPTH, GGUF_MAX_DIMS, GGUF_MAX_KEY, GGUF_MAX_TENSOR_NAME,
  GGUF_VERSIONS, NUMERIC_ARRAY_CTORS, alignUp, ggmlTypeById, isNumericArrayType, isValidAlignment,
  minValueSize, removedGgmlTypeName, tensorSize, valueTypeFromId,
  type GgufArray, type GgufValue, type GgufValueType,
} from "./gguf-types.js";

export * from "./gguf-types.js";
export { GgufFile, readTensorBytes, type GgufTensorInfo } from "./gguf-file.js";

/** "GGUF" read as a little-endian u32. */
const MAGIC_LE = 0x46554747;

/** Smallest tensor info: name length (the name may be empty), n_dims, one dim, type, offset. */
const MIN_TENSOR_INFO = 8 + 4 + 8 + 4 + 8;

/** Smallest key/value: key length, a 1-byte key, value type, a 1-byte value. */
const MIN_KV = 8 + 1 + 4 + 1;

/** Fixed header: magic, version, tensor count, kv count. */
const HEADER_BYTES = 4 + 4 + 8 + 8;

/** Typed arrays are read in host byte order; GGUF (as read here) is little-endian. */
export function assertLittleEndianHost(what: string): void {
  if (os.endianness() !== "LE") throw new GgufError(`${what}: GGUF support needs a little-endian host`);
}

function byteSwap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

/** Read one value of type `t`; `depth` counts enclosing arrays. */
function readValue(cur: FdCursor, t: GgufValueType, what: string, depth: number): GgufValue {
  switch (t) {
    case "u8": return { type: t, value: cur.u8(what) };
    case "i8": return { type: t, value: cur.scalar(1, what, (b, o) => b.readInt8(o)) };
    case "u16": return { type: t, value: cur.scalar(2, what, (b, o) => b.readUInt16LE(o)) };
    case "i16": return { type: t, value: cur.scalar(2, what, (b, o) => b.readInt16LE(o)) };
    case "u32": return { type: t, value: cur.u32(what) };
    case "i32": return { type: t, value: cur.scalar(4, what, (b, o) => b.readInt32LE(o)) };
    case "f32": return { type: t, value: cur.scalar(4, what, (b, o) => b.readFloatLE(o)) };
    case "u64": return { type: t, value: cur.u64(what) };
    case "i64": return { type: t, value: cur.scalar(8, what, (b, o) => b.readBigInt64LE(o)) };
    case "f64": return { type: t, value: cur.scalar(8, what, (b, o) => b.readDoubleLE(o)) };
    case "bool": {
      const at = cur.pos;
      const v = cur.u8(what);
      if (v > 1) cur.fail(`${what}: bool byte is ${v} (must be 0 or 1)`, at);
      return { type: t, value: v === 1 };
    }
    case "string": return { type: t, value: cur.string(what) };
    case "array": return { type: t, value: readArray(cur, what, depth + 1) };
  }
}

/** An array: u32 item type, u64 count, items. Numeric items land in a typed array read in one go. */
function readArray(cur: FdCursor, what: string, depth: number): GgufArray {
  const at = cur.pos;
  const tid = cur.u32(`${what} array item type`);
  const itemType = valueTypeFromId(tid);
  if (itemType === undefined) cur.fail(`${what}: unknown array item type ${tid} (known: 0 to 12)`, at);
  if (itemType === "array" && depth >= GGUF_MAX_ARRAY_DEPTH) {
    cur.fail(`${what}: arrays nested more than ${GGUF_MAX_ARRAY_DEPTH} deep`, at);
  }
  const n = cur.count(`${what} array length`, minValueSize(itemType), `${itemType} items`);
  if (isNumericArrayType(itemType)) {
    const Ctor = NUMERIC_ARRAY_CTORS[itemType] as unknown as new (n: number) => ArrayBufferView;
    let items: ArrayBufferView;
    try {
      items = new Ctor(n);
    } catch (e) {
      return cur.fail(`cannot allocate ${n} ${itemType} items for ${what}: ${(e as Error).message}`);
    }
    cur.readInto(new Uint8Array(items.buffer, items.byteOffset, items.byteLength), what);
    return { itemType, items } as unknown as GgufArray;
  }
  if (itemType === "bool") {
    const start = cur.pos;
    const bytes = allocBytes(cur, n, what);
    cur.readInto(bytes, what);
    const items: boolean[] = new Array<boolean>(n);
    for (let i = 0; i < n; i++) {
      const b = bytes[i]!;
      if (b > 1) cur.fail(`${what}[${i}]: bool byte is ${b} (must be 0 or 1)`, start + i);
      items[i] = b === 1;
    }
    return { itemType, items };
  }
  if (itemType === "string") {
    const items: string[] = [];
    for (let i = 0; i < n; i++) items.push(cur.string(what, undefined, i));
    return { itemType, items };
  }
  const items: GgufArray[] = [];
  for (let i = 0; i < n; i++) items.push(readArray(cur, `${what}[${i}]`, depth + 1));
  return { itemType: "array", items };
}

/** Magic and version; fails clearly on v1, big-endian files and unknown versions. */
function readPreamble(cur: FdCursor): number {
  if (cur.size < 4) cur.fail(`file is ${cur.size} bytes, too short to be a GGUF file`, 0);
  const magic = cur.u32("magic");
  if (magic !== MAGIC_LE) {
    const hex = magic.toString(16).padStart(8, "0");
    cur.fail(`not a GGUF file: magic is 0x${hex} (little-endian), expected "GGUF" (0x${MAGIC_LE.toString(16)})`, 0);
  }
  const version = cur.u32("version");
  if (version === 1) {
    cur.fail("GGUF version 1 is not supported (it used 32-bit counts); convert the model again with a current llama.cpp", 4);
  }
  const swapped = byteSwap32(version);
  if (!GGUF_VERSIONS.includes(version) && swapped >= 1 && swapped <= 3) {
    cur.fail(`big-endian GGUF file (version field reads ${version}, byte-swapped ${swapped}) is not supported`, 4);
  }
  if (!GGUF_VERSIONS.includes(version)) {
    cur.fail(`unsupported GGUF version ${version} (this reader handles versions ${GGUF_VERSIONS.join(" and ")})`, 4);
  }
  if (cur.size < HEADER_BYTES) cur.fail(`truncated: file is ${cur.size} bytes, shorter than the ${HEADER_BYTES}-byte GGUF header`);
  return version;
}

/** Key/value pairs, then `general.alignment` checked. */
function readMetadata(cur: FdCursor, kvCount: number): { metadata: Map<string, GgufValue>; alignment: number } {
  const metadata = new Map<string, GgufValue>();
  const keyAt = new Map<string, number>();
  for (let i = 0; i < kvCount; i++) {
    const at = cur.pos;
    const key = cur.string(`key of metadata entry #${i}`, GGUF_MAX_KEY);
    if (key.length === 0) cur.fail(`metadata entry #${i} has an empty key`, at);
    const prev = keyAt.get(key);
    if (prev !== undefined) cur.fail(`duplicate metadata key "${key}" (first at byte ${prev})`, at);
    const tat = cur.pos;
    const tid = cur.u32(`value type of metadata "${key}"`);
    const t = valueTypeFromId(tid);
    if (t === undefined) cur.fail(`metadata "${key}": unknown value type ${tid} (known: 0 to 12)`, tat);
    metadata.set(key, readValue(cur, t, `metadata "${key}"`, 0));
    keyAt.set(key, at);
  }
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const a = metadata.get("general.alignment");
  if (a !== undefined) {
    const at = keyAt.get("general.alignment")!;
    if (a.type !== "u32") cur.fail(`"general.alignment" has type ${a.type}, expected u32`, at);
    if (!isValidAlignment(a.value)) cur.fail(`"general.alignment" is ${a.value}, not a power of two in [1, 2^30]`, at);
    alignment = a.value;
  }
  return { metadata, alignment };
}

interface RawTensor {
  name: string;
  dims: bigint[];
  type: number;
  typeName: string;
  rel: bigint;
  nbytes: bigint;
  nelements: bigint;
  /** byte offset of its tensor info, for messages */
  at: number;
}

/** One tensor info, with its shape and type checked. */
function readTensorInfo(cur: FdCursor, i: number, seen: Map<string, number>, alignment: number): RawTensor {
  const at = cur.pos;
  const name = cur.string(`name of tensor #${i}`, GGUF_MAX_TENSOR_NAME);
  const prev = seen.get(name);
  if (prev !== undefined) cur.fail(`duplicate tensor name "${name}" (first at byte ${prev})`, at);
  seen.set(name, at);
  const where = `tensor "${name}"`;
  const ndAt = cur.pos;
  const nd = cur.u32(`dimension count of ${where}`);
  if (nd < 1 || nd > GGUF_MAX_DIMS) cur.fail(`${where} has ${nd} dimensions (1 to ${GGUF_MAX_DIMS} allowed)`, ndAt);
  const dims: bigint[] = [];
  for (let d = 0; d < nd; d++) dims.push(cur.u64(`dimension ${d} of ${where}`));
  const typeAt = cur.pos;
  const type = cur.u32(`ggml type of ${where}`);
  const info = ggmlTypeById(type);
  if (info === undefined) {
    const removed = removedGgmlTypeName(type);
    cur.fail(
      removed !== undefined
        ? `${where} has ggml type ${type} (${removed}), which GGUF files no longer use`
        : `${where} has unknown ggml type ${type}`,
      typeAt,
    );
  }
  const offAt = cur.pos;
  const rel = cur.u64(`data offset of ${where}`);
  const size = tensorSize(info, dims);
  if (typeof size === "string") cur.fail(`${where} (${info.name}): ${size}`, at);
  if (rel % BigInt(alignment) !== 0n) {
    cur.fail(`${where} data offset ${rel} is not a multiple of the alignment ${alignment}`, offAt);
  }
  return { name, dims, type, typeName: info.name, rel, nbytes: size.nbytes, nelements: size.nelements, at };
}

/** Place every tensor inside the data section and check that none overlap. */
function placeTensors(cur: FdCursor, raw: RawTensor[], dataOffset: number, alignment: number): Map<string, GgufTensorInfo> {
  const dataLen = BigInt(cur.size - dataOffset);
  for (const t of raw) {
    if (t.rel + t.nbytes > dataLen) {
      cur.fail(
        `tensor "${t.name}" (${t.typeName} [${t.dims.join(", ")}], ${t.nbytes} bytes at data offset ${t.rel}) ` +
          `runs past the end of the file: the data section at byte ${dataOffset} holds ${dataLen} bytes`,
        t.at,
      );
    }
  }
  const sorted = [...raw].sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!, b = sorted[i]!;
    if (a.rel + a.nbytes > b.rel) {
      cur.fail(
        `tensors "${a.name}" [${a.rel}, ${a.rel + a.nbytes}) and "${b.name}" [${b.rel}, ${b.rel + b.nbytes}) ` +
          `overlap in the data section`,
        b.at,
      );
    }
  }
  checkPacked(cur, sorted, dataLen, dataOffset, alignment);
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of raw) {
    // All below the file size now, so exact as numbers.
    tensors.set(t.name, {
      name: t.name, dims: t.dims.map(Number), type: t.type, typeName: t.typeName,
      offset: dataOffset + Number(t.rel), relOffset: Number(t.rel), nbytes: Number(t.nbytes), nelements: Number(t.nelements),
    });
  }
  return tensors;
}

/**
 * Writers (ggml's, gguf-py's, lowbit's) lay the tensors out back to back in
 * file order, each at the next aligned offset, the first at 0, padding the
 * last to the alignment. A hole bigger than the padding means a tensor's type
 * or shape no longer matches the bytes written for it (e.g. a relabelled
 * type), so its data and its neighbours' would be read from the wrong bytes.
 */
function checkPacked(cur: FdCursor, sorted: readonly RawTensor[], dataLen: bigint, dataOffset: number, alignment: number): void {
  const align = BigInt(alignment);
  const up = (n: bigint) => ((n + align - 1n) / align) * align;
  let end = 0n;
  let prev = "the start of the data section";
  for (const t of sorted) {
    if (t.rel > up(end)) {
      cur.fail(
        `tensor "${t.name}" (${t.typeName} [${t.dims.join(", ")}]) starts at data offset ${t.rel}, but ${prev} ends at ${end}: ` +
          `${t.rel - end} bytes belong to no tensor (a type or shape that does not match the data written?)`,
        t.at,
      );
    }
    end = t.rel + t.nbytes;
    prev = `tensor "${t.name}" (${t.typeName} [${t.dims.join(", ")}])`;
  }
  if (sorted.length > 0 && dataLen > up(end)) {
    cur.fail(
      `the data section at byte ${dataOffset} holds ${dataLen} bytes but the tensors end at ${end}: ` +
        `${dataLen - end} bytes at the end belong to no tensor (${prev}: a type or shape that does not match the data written?)`,
    );
  }
}

function parse(cur: FdCursor): GgufFile {
  const version = readPreamble(cur);
  const tensorCount = cur.count("tensor count", MIN_TENSOR_INFO, "tensor infos");
  const kvCount = cur.count("metadata key/value count", MIN_KV, "key/value pairs");
  const { metadata, alignment } = readMetadata(cur, kvCount);
  const seen = new Map<string, number>();
  const raw: RawTensor[] = [];
  for (let i = 0; i < tensorCount; i++) raw.push(readTensorInfo(cur, i, seen, alignment));
  const dataOffset = alignUp(cur.pos, alignment);
  if (dataOffset > cur.size) {
    cur.fail(
      `truncated: the data section starts at byte ${dataOffset} (tensor infos end at ${cur.pos}, padded to ` +
        `${alignment}), past the end of the file (${cur.size} bytes)`,
    );
  }
  const tensors = placeTensors(cur, raw, dataOffset, alignment);
  return new GgufFile(cur.file, version, metadata, tensors, alignment, dataOffset, cur.size);
}

/**
 * Open and validate a GGUF file: header, metadata, tensor infos. Reads only
 * the header region (through a window of at most 64 KiB), never tensor data.
 * A missing file is a ModelNotFoundError; anything wrong with it a GgufError.
 */
export function openGguf(file: string): GgufFile {
  assertLittleEndianHost(file);
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new ModelNotFoundError(`${file}: GGUF file not found`, { cause: e });
    }
    throw new GgufError(`${file}: cannot open: ${(e as Error).message}`, { cause: e });
  }
  try {
    let size: number;
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new Error("not a regular file");
      size = st.size;
    } catch (e) {
      throw new GgufError(`${file}: cannot read: ${(e as Error).message}`, { cause: e });
    }
    const cur = new FdCursor(fd, file, size);
    try {
      return parse(cur);
    } catch (e) {
      if (e instanceof LowbitError) throw e;
      // A bug or an engine limit (e.g. a string longer than V8 allows): still a typed error.
      throw new GgufError(`${file}: at byte ${cur.pos}: internal error while parsing: ${(e as Error).message}`, { cause: e });
    }
  } finally {
    fs.closeSync(fd);
  }
}
