/**
 * The lowbit saved-model file, `model.lowbit.safetensors` (docs/QUANTIZATION.md,
 * "Saved quantized models"): a valid safetensors file whose tensors are the
 * native weights' stored buffers (packed, already quantized), named
 * `<weight>.<buffer>` (`blk.0.attn_q.weight.data`, `.scales`, `.offsets`,
 * `.wsum`), and whose `__metadata__` (string values only, as the format
 * requires) describes the model and every weight:
 *
 *   lowbit_format_version  "1"  (see SAVED_FORMAT_VERSION for the rule)
 *   lowbit_version         the package version that wrote it
 *   quant, dtype, quant_head, source_model, quantization (JSON: calibration settings)
 *   weights                JSON { name: { format, rows, cols, kp, group, asym, act_scale, [amplifier (q4a8 integer scales)],
 *                                          crc32: { buffer: 8 hex digits } } }
 *   aliases                JSON { name: target } (tied LM head)
 *
 * This module parses and checks the file's structure; load.ts checks it
 * against config.json and the native layout of each format.
 */
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as zlib from "node:zlib";
import { ModelNotFoundError, SavedModelError } from "../errors.js";
import type { ComputeDtype } from "../loader.js";
import type { StoredBuffer, StoredWeightMeta } from "../native.js";
import { QUANT_FORMATS, type QuantFormat } from "../quant/formats.js";

export const SAVED_FILE = "model.lowbit.safetensors";

/**
 * Version of the file layout. Bumped whenever the meaning of stored bytes or a
 * required field changes (packed layout, quantization parameters, names);
 * adding optional metadata does not bump it. A reader loads versions from 1 up
 * to its own and rejects newer ones with a clear error.
 */
export const SAVED_FORMAT_VERSION = 1;

/** Files copied from the source model beside the weights (those present). */
export const SIDE_FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];

const BUFFER_DTYPES = new Set(["F32", "BF16", "F16", "I8", "U8", "I32"]);
/** Bytes per element of each buffer dtype (native/src/weights_io.h). */
export const DTYPE_BYTES: Record<StoredBuffer["dtype"], number> = { F32: 4, BF16: 2, F16: 2, I8: 1, U8: 1, I32: 4 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SavedTensor {
  name: string;
  dtype: StoredBuffer["dtype"];
  /** absolute byte offset in the file */
  offset: number;
  bytes: number;
}

export interface SavedWeight {
  name: string;
  meta: StoredWeightMeta;
  /** buffer name -> tensor */
  tensors: Map<string, SavedTensor>;
  /** buffer name -> CRC-32 of its bytes (8 hex digits) */
  crc32: Map<string, string>;
}

export interface SavedHeader {
  file: string;
  version: number;
  lowbitVersion: string;
  quant: QuantFormat;
  dtype: ComputeDtype;
  quantHead: boolean;
  /** the float checkpoint the model was quantized from (informational) */
  sourceModel: string;
  /** calibration settings used when quantizing (informational) */
  quantization: Record<string, string | number>;
  weights: Map<string, SavedWeight>;
  aliases: Map<string, string>;
}

/** Whether `dir` holds a lowbit saved quantized model. */
export function isSavedModelDir(dir: string): boolean {
  return fs.existsSync(join(dir, SAVED_FILE));
}

/** The package version (package.json beside dist/). */
export function lowbitVersion(): string {
  const pkg = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "package.json");
  try {
    return String((JSON.parse(fs.readFileSync(pkg, "utf8")) as { version?: unknown }).version ?? "unknown");
  } catch {
    return "unknown";
  }
}

let crcTable: Uint32Array | undefined;
/** CRC-32 (zlib's) of bytes, continuing from `prev`. */
export function crc32(bytes: Uint8Array, prev = 0): number {
  const z = zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number };
  if (typeof z.crc32 === "function") return z.crc32(bytes, prev);
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[i] = c >>> 0;
    }
  }
  let c = ~prev >>> 0;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

export const hex8 = (n: number): string => n.toString(16).padStart(8, "0");

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function readAt(fd: number, buf: Buffer, pos: number): boolean {
  let done = 0;
  while (done < buf.length) {
    const n = fs.readSync(fd, buf, done, Math.min(buf.length - done, 1 << 30), pos + done);
    if (n === 0) return false;
    done += n;
  }
  return true;
}

/** Reads and checks the header of dir/model.lowbit.safetensors. */
export function readSavedHeader(dir: string): SavedHeader {
  const file = join(dir, SAVED_FILE);
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (e) {
    throw new ModelNotFoundError(`${file}: cannot open: ${(e as Error).message}`, { cause: e });
  }
  try {
    const size = fs.fstatSync(fd).size;
    const fail = (why: string) => new SavedModelError(`${file}: ${why}`);
    if (size < 8) throw fail(`file is ${size} bytes: truncated (no safetensors header)`);
    const lenBuf = Buffer.alloc(8);
    readAt(fd, lenBuf, 0);
    const hlen = lenBuf.readBigUInt64LE(0);
    if (hlen > BigInt(Math.min(MAX_HEADER_BYTES, size - 8))) throw fail(`header length ${hlen} runs past the end of the file (${size} bytes): truncated or not a safetensors file`);
    const hbuf = Buffer.alloc(Number(hlen));
    if (!readAt(fd, hbuf, 8)) throw fail("truncated while reading the header");
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(hbuf));
    } catch (e) {
      throw new SavedModelError(`${file}: header is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
    if (!isObject(header)) throw fail("header is not a JSON object");
    const dataStart = 8 + hbuf.length;
    return parseHeader(file, header, dataStart, size - dataStart);
  } finally {
    fs.closeSync(fd);
  }
}

function parseJsonField(file: string, meta: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = meta[key];
  if (typeof v !== "string") throw new SavedModelError(`${file}: __metadata__.${key} is missing`);
  try {
    const o: unknown = JSON.parse(v);
    if (isObject(o)) return o;
  } catch {
    /* reported below */
  }
  throw new SavedModelError(`${file}: __metadata__.${key} is not a JSON object`);
}

function parseHeader(file: string, header: Record<string, unknown>, dataStart: number, dataLen: number): SavedHeader {
  const fail = (why: string) => new SavedModelError(`${file}: ${why}`);
  const meta = header.__metadata__;
  if (!isObject(meta) || meta.lowbit_format_version === undefined) {
    throw fail("not a lowbit saved model (no __metadata__.lowbit_format_version)");
  }
  const vs = meta.lowbit_format_version;
  const version = typeof vs === "string" && /^\d{1,9}$/.test(vs) ? Number(vs) : NaN;
  if (!(version >= 1)) throw fail(`lowbit_format_version ${JSON.stringify(vs)} is not a positive integer`);
  const writer = typeof meta.lowbit_version === "string" ? meta.lowbit_version : "unknown";
  if (version > SAVED_FORMAT_VERSION) {
    throw fail(`saved in lowbit format version ${version} (by lowbit ${writer}); this lowbit (${lowbitVersion()}) reads versions up to ${SAVED_FORMAT_VERSION}: upgrade lowbit or re-quantize the source model`);
  }
  const quant = meta.quant;
  if (typeof quant !== "string" || !(QUANT_FORMATS as readonly string[]).includes(quant)) {
    throw fail(`unknown quant format ${JSON.stringify(quant)} (this lowbit knows ${QUANT_FORMATS.join(", ")})`);
  }
  const dtype = meta.dtype;
  if (dtype !== "f32" && dtype !== "bf16") throw fail(`unknown compute dtype ${JSON.stringify(dtype)}`);
  if (meta.quant_head !== "true" && meta.quant_head !== "false") throw fail(`quant_head must be "true" or "false", got ${JSON.stringify(meta.quant_head)}`);

  // Tensors: known dtypes, 1-D, sizes consistent, inside the data area.
  const tensors = new Map<string, SavedTensor>();
  for (const [name, e] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const where = `tensor "${name}"`;
    if (!isObject(e) || typeof e.dtype !== "string" || !BUFFER_DTYPES.has(e.dtype)) throw fail(`${where}: missing or unexpected dtype ${JSON.stringify(isObject(e) ? e.dtype : e)}`);
    const shape = e.shape, offs = e.data_offsets;
    if (!Array.isArray(shape) || shape.length !== 1 || !Number.isSafeInteger(shape[0]) || (shape[0] as number) < 0) throw fail(`${where}: shape must be [elements]`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) throw fail(`${where}: data_offsets must be [begin, end]`);
    const [begin, end] = offs as [number, number];
    const bytes = (shape[0] as number) * DTYPE_BYTES[e.dtype as StoredBuffer["dtype"]];
    if (end - begin !== bytes) throw fail(`${where}: ${e.dtype} [${shape[0]}] needs ${bytes} bytes but data_offsets span ${end - begin}`);
    if (end > dataLen) throw fail(`${where} ends at byte ${end} of the data area but the file has ${dataLen}: the file is truncated`);
    tensors.set(name, { name, dtype: e.dtype as StoredBuffer["dtype"], offset: dataStart + begin, bytes });
  }
  // Tensors tile the data area exactly (as safetensors requires): no gaps, overlaps or trailing bytes.
  let at = 0;
  for (const t of [...tensors.values()].sort((a, b) => a.offset - b.offset)) {
    if (t.offset - dataStart !== at) throw fail(`tensor "${t.name}" starts at byte ${t.offset - dataStart} of the data area, expected ${at} (gap or overlap)`);
    at += t.bytes;
  }
  if (at !== dataLen) throw fail(`${dataLen - at} bytes after the last tensor (corrupt or not written by lowbit)`);

  // Weights: typed meta and their tensors; nothing left over.
  const weights = new Map<string, SavedWeight>();
  const used = new Set<string>();
  for (const [name, r] of Object.entries(parseJsonField(file, meta, "weights"))) {
    const where = `weight "${name}"`;
    if (!isObject(r) || !isObject(r.crc32)) throw fail(`${where}: metadata is not an object with crc32`);
    const ints = ["rows", "cols", "kp", "group"].map((k) => r[k]);
    if (typeof r.format !== "string" || !ints.every((v) => Number.isSafeInteger(v) && (v as number) >= 0) || typeof r.asym !== "boolean" ||
      typeof r.act_scale !== "number" || !Number.isFinite(r.act_scale)) {
      throw fail(`${where}: metadata needs format (string), rows, cols, kp, group (integers >= 0), asym (boolean), act_scale (number)`);
    }
    const [rows, cols, kp, group] = ints as number[];
    if (r.amplifier !== undefined && (typeof r.amplifier !== "number" || !Number.isFinite(r.amplifier) || r.amplifier < 0)) {
      throw fail(`${where}: amplifier must be a number >= 0`);
    }
    const amplifier = (r.amplifier as number | undefined) ?? 0;
    const w: SavedWeight = { name, meta: { format: r.format, rows: rows!, cols: cols!, kp: kp!, group: group!, asym: r.asym, actScale: r.act_scale, amplifier }, tensors: new Map(), crc32: new Map() };
    for (const [buf, c] of Object.entries(r.crc32)) {
      const t = tensors.get(`${name}.${buf}`);
      if (!t) throw fail(`${where}: tensor "${name}.${buf}" is missing`);
      if (typeof c !== "string" || !/^[0-9a-f]{8}$/.test(c)) throw fail(`${where}: crc32 of ${buf} is not 8 hex digits`);
      w.tensors.set(buf, t);
      w.crc32.set(buf, c);
      used.add(t.name);
    }
    weights.set(name, w);
  }
  for (const t of tensors.keys()) if (!used.has(t)) throw fail(`tensor "${t}" belongs to no weight in __metadata__.weights`);
  const aliases = new Map<string, string>();
  for (const [k, v] of Object.entries(parseJsonField(file, meta, "aliases"))) {
    if (typeof v !== "string" || !weights.has(v)) throw fail(`alias "${k}" points to ${JSON.stringify(v)}, which is not a stored weight`);
    aliases.set(k, v);
  }
  const quantization: Record<string, string | number> = {};
  if (meta.quantization !== undefined) {
    for (const [k, v] of Object.entries(parseJsonField(file, meta, "quantization"))) if (typeof v === "string" || typeof v === "number") quantization[k] = v;
  }
  return {
    file, version, lowbitVersion: writer, quant: quant as QuantFormat, dtype, quantHead: meta.quant_head === "true",
    sourceModel: typeof meta.source_model === "string" ? meta.source_model : "unknown", quantization, weights, aliases,
  };
}
