/**
 * Hugging Face safetensors reader. The header is parsed and validated by
 * hand: every size taken from the file is checked against the real file size
 * before anything is allocated, and every failure is a typed LowbitError.
 *
 * Layout: u64 LE header length N, N bytes of UTF-8 JSON, then the data area.
 * JSON maps tensor name -> { dtype, shape, data_offsets: [begin, end] } with
 * offsets relative to the start of the data area; "__metadata__" is skipped.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ModelNotFoundError, WeightsFormatError } from "../errors.js";
import { parseJsonText } from "../json-text.js";

export type StDtype = "F32" | "F16" | "BF16";

export interface TensorInfo {
  name: string;
  dtype: StDtype;
  shape: number[];
  file: string;
  /** absolute byte offset of the data in `file` */
  offset: number;
  nbytes: number;
}

export interface WeightsIndex {
  tensors: Map<string, TensorInfo>;
  files: string[];
}

/** Largest header we accept (the format itself caps it at 100 MB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const DTYPE_SIZES: Record<StDtype, number> = { F32: 4, F16: 2, BF16: 2 };

/** Dtypes defined by the safetensors format that lowbit does not load. */
const KNOWN_UNSUPPORTED = new Set([
  "BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F64",
  "F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64",
]);

/** Bytes per element of a supported dtype. */
export function dtypeSize(d: StDtype): number {
  return DTYPE_SIZES[d];
}

function isSupportedDtype(d: string): d is StDtype {
  return Object.prototype.hasOwnProperty.call(DTYPE_SIZES, d);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Open a file for reading; ENOENT becomes ModelNotFoundError, others WeightsFormatError. */
function openForRead(file: string): number {
  try {
    return fs.openSync(file, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new ModelNotFoundError(`${file}: safetensors file not found`, { cause: e });
    }
    throw new WeightsFormatError(`${file}: cannot open: ${(e as Error).message}`, { cause: e });
  }
}

/** Fill `buf` from `fd` at `pos`, looping over short reads; false on early EOF. */
function readFully(fd: number, buf: Buffer, pos: number): boolean {
  let done = 0;
  while (done < buf.length) {
    const chunk = Math.min(buf.length - done, 1 << 30);
    const n = fs.readSync(fd, buf, done, chunk, pos + done);
    if (n === 0) return false;
    done += n;
  }
  return true;
}

/** Validate one header entry and turn it into a TensorInfo. */
function parseEntry(
  file: string, name: string, entry: unknown, dataStart: number, dataLen: number,
): TensorInfo {
  const where = `${file}: tensor "${name}"`;
  if (!isObject(entry)) throw new WeightsFormatError(`${where}: header entry is not an object`);
  const { dtype, shape, data_offsets: offs } = entry;
  if (typeof dtype !== "string") throw new WeightsFormatError(`${where}: missing or non-string dtype`);
  if (!isSupportedDtype(dtype)) {
    const kind = KNOWN_UNSUPPORTED.has(dtype) ? "unsupported dtype" : "unknown dtype";
    throw new WeightsFormatError(`${where}: ${kind} ${JSON.stringify(dtype)} (supported: F32, F16, BF16)`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new WeightsFormatError(`${where}: shape must be an array of non-negative integers`);
  }
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o))) {
    throw new WeightsFormatError(`${where}: data_offsets must be [begin, end] integers`);
  }
  const [begin, end] = offs as [number, number];
  if (begin < 0 || end < begin || end > dataLen) {
    throw new WeightsFormatError(
      `${where}: data_offsets [${begin}, ${end}] out of range (data area is ${dataLen} bytes)`,
    );
  }
  // Exact element count via BigInt so a huge shape cannot overflow silently.
  let elems = 1n;
  for (const d of shape as number[]) elems *= BigInt(d);
  const expected = elems * BigInt(DTYPE_SIZES[dtype]);
  if (expected !== BigInt(end - begin)) {
    throw new WeightsFormatError(
      `${where}: dtype/shape mismatch: ${dtype} [${shape.join(", ")}] needs ${expected} bytes ` +
        `but data_offsets span ${end - begin}`,
    );
  }
  return { name, dtype, shape: [...(shape as number[])], file, offset: dataStart + begin, nbytes: end - begin };
}

/**
 * The format requires the tensors to cover the data area exactly: sorted by
 * offset, each starts where the previous one ends, the first at 0 and the last
 * at the end of the file. A hole or an overlap means a corrupt header (e.g. a
 * header length off by one shifts every tensor by a byte and still parses).
 */
function checkCoverage(file: string, list: readonly TensorInfo[], dataStart: number, dataLen: number): void {
  const sorted = [...list].sort((a, b) => a.offset - b.offset || a.nbytes - b.nbytes);
  let end = 0;
  let prev = "the start of the data area";
  for (const t of sorted) {
    const begin = t.offset - dataStart;
    if (begin !== end) {
      throw new WeightsFormatError(
        `${file}: tensor "${t.name}" starts at data offset ${begin} but ${prev} ends at ${end}: ` +
          `${begin > end ? "a hole" : "an overlap"} in the data area (the tensors must cover it exactly)`,
      );
    }
    end = begin + t.nbytes;
    prev = `tensor "${t.name}"`;
  }
  if (end !== dataLen) {
    throw new WeightsFormatError(
      `${file}: the tensors cover ${end} bytes of a ${dataLen}-byte data area: ` +
        `${dataLen - end} byte(s) at its end belong to no tensor (header length or offsets corrupt?)`,
    );
  }
}

/** Parse and validate one .safetensors file's header. */
export function parseSafetensorsHeader(file: string): TensorInfo[] {
  const fd = openForRead(file);
  try {
    let size: number;
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new Error("not a regular file");
      size = st.size;
    } catch (e) {
      throw new WeightsFormatError(`${file}: cannot read: ${(e as Error).message}`, { cause: e });
    }
    if (size < 8) throw new WeightsFormatError(`${file}: file is ${size} bytes, too short for a safetensors header`);
    const lenBuf = Buffer.alloc(8);
    if (!readFully(fd, lenBuf, 0)) throw new WeightsFormatError(`${file}: truncated while reading header length`);
    const hlen = lenBuf.readBigUInt64LE(0);
    if (hlen > BigInt(MAX_HEADER_BYTES)) {
      throw new WeightsFormatError(`${file}: header length ${hlen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
    }
    if (hlen > BigInt(size - 8)) {
      throw new WeightsFormatError(`${file}: header length ${hlen} runs past the end of the file (${size} bytes)`);
    }
    const headerLen = Number(hlen);
    const hbuf = Buffer.alloc(headerLen);
    if (!readFully(fd, hbuf, 8)) throw new WeightsFormatError(`${file}: truncated while reading header`);

    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(hbuf);
    } catch (e) {
      throw new WeightsFormatError(`${file}: header is not valid UTF-8 JSON: ${(e as Error).message}`, { cause: e });
    }
    const header = parseJsonText(text, `${file}: header is not valid UTF-8 JSON`, (msg, cause) => new WeightsFormatError(msg, { cause }));
    if (!isObject(header)) throw new WeightsFormatError(`${file}: header JSON is not an object`);

    const dataStart = 8 + headerLen;
    const dataLen = size - dataStart;
    const out: TensorInfo[] = [];
    for (const [name, entry] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      out.push(parseEntry(file, name, entry, dataStart, dataLen));
    }
    checkCoverage(file, out, dataStart, dataLen);
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** Check an index's shard name is a plain file name inside the model dir. */
function checkShardName(indexFile: string, shard: string): void {
  const bad =
    shard === "" || shard === "." || shard === ".." || shard.includes("/") || shard.includes("\\") ||
    shard.includes("\0") || path.isAbsolute(shard) || path.basename(shard) !== shard;
  if (bad) {
    throw new WeightsFormatError(
      `${indexFile}: shard file name ${JSON.stringify(shard)} is not a plain file name inside the model directory`,
    );
  }
}

/** Open a sharded model through model.safetensors.index.json. */
function openIndexed(dir: string, indexFile: string): WeightsIndex {
  let text: string;
  try {
    text = fs.readFileSync(indexFile, "utf8");
  } catch (e) {
    throw new WeightsFormatError(`${indexFile}: cannot read index JSON: ${(e as Error).message}`, { cause: e });
  }
  const json = parseJsonText(text, `${indexFile}: cannot parse index JSON`, (msg, cause) => new WeightsFormatError(msg, { cause }));
  if (!isObject(json) || !isObject(json.weight_map)) {
    throw new WeightsFormatError(`${indexFile}: missing "weight_map" object`);
  }
  const weightMap = json.weight_map;
  const shards: string[] = [];
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== "string") {
      throw new WeightsFormatError(`${indexFile}: weight_map entry "${name}" is not a string`);
    }
    checkShardName(indexFile, shard);
    if (!shards.includes(shard)) shards.push(shard);
  }
  if (shards.length === 0) throw new WeightsFormatError(`${indexFile}: weight_map is empty`);

  const perShard = new Map<string, Map<string, TensorInfo>>();
  const files: string[] = [];
  for (const shard of shards) {
    const file = path.join(dir, shard);
    if (!fs.existsSync(file)) {
      throw new ModelNotFoundError(`${indexFile}: shard "${shard}" listed in weight_map does not exist in ${dir}`);
    }
    perShard.set(shard, new Map(parseSafetensorsHeader(file).map((t) => [t.name, t])));
    files.push(file);
  }
  const tensors = new Map<string, TensorInfo>();
  for (const [name, shard] of Object.entries(weightMap) as [string, string][]) {
    const info = perShard.get(shard)!.get(name);
    if (!info) {
      throw new WeightsFormatError(`${indexFile}: tensor "${name}" is mapped to shard "${shard}" but absent from it`);
    }
    tensors.set(name, info);
  }
  return { tensors, files };
}

/** Open a HF model dir: model.safetensors, or model.safetensors.index.json with shards (weight_map name -> shard file). */
export function openSafetensorsDir(dir: string): WeightsIndex {
  const abs = path.resolve(dir);
  let isDir = false;
  try {
    isDir = fs.statSync(abs).isDirectory();
  } catch {
    /* reported below */
  }
  if (!isDir) throw new ModelNotFoundError(`${abs}: model directory does not exist`);

  const single = path.join(abs, "model.safetensors");
  if (fs.existsSync(single)) {
    const list = parseSafetensorsHeader(single);
    return { tensors: new Map(list.map((t) => [t.name, t])), files: [single] };
  }
  const index = path.join(abs, "model.safetensors.index.json");
  if (fs.existsSync(index)) return openIndexed(abs, index);
  throw new ModelNotFoundError(`${abs}: no model.safetensors or model.safetensors.index.json found`);
}

/** Read one tensor's raw bytes with fs.readSync (into `into` if it is large enough, returning a subarray). */
/**
 * Byte ranges [start, length] of a tensor's data (relative to the tensor), read one after another
 * into one buffer (`into` when large enough): a tensor-parallel rank reads only its shard.
 */
export function readTensorRanges(info: TensorInfo, ranges: readonly [number, number][], into?: Buffer): Buffer {
  const total = ranges.reduce((a, [, n]) => a + n, 0);
  if (ranges.some(([a, n]) => a < 0 || n < 0 || a + n > info.nbytes)) throw new WeightsFormatError(`${info.file}: tensor "${info.name}": byte range outside its data`);
  const buf = into && into.length >= total ? into.subarray(0, total) : Buffer.allocUnsafe(total);
  const fd = openForRead(info.file);
  try {
    let at = 0;
    for (const [a, n] of ranges) {
      if (!readFully(fd, buf.subarray(at, at + n), info.offset + a)) {
        throw new WeightsFormatError(`${info.file}: tensor "${info.name}" data is truncated (file changed since parsing?)`);
      }
      at += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

export function readTensorBytes(info: TensorInfo, into?: Buffer): Buffer {
  const buf = into && into.length >= info.nbytes ? into.subarray(0, info.nbytes) : Buffer.allocUnsafe(info.nbytes);
  const fd = openForRead(info.file);
  try {
    if (!readFully(fd, buf, info.offset)) {
      throw new WeightsFormatError(`${info.file}: tensor "${info.name}" data is truncated (file changed since parsing?)`);
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}
