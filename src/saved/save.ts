/**
 * Writes a loaded (quantized) model as a lowbit saved-model directory:
 * config and tokenizer files copied from the source, and
 * model.lowbit.safetensors with every native weight's stored buffers
 * (format.ts). Tensors are streamed one at a time through one reused buffer,
 * so saving needs no more memory than the largest buffer; the file is written
 * under a temporary name and renamed when complete.
 */
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import { InvalidOptionError } from "../errors.js";
import type { ComputeDtype } from "../loader.js";
import type { NativeModel, StoredBuffer, StoredWeightMeta } from "../native.js";
import type { QuantFormat } from "../quant/formats.js";
import { crc32, DTYPE_BYTES, hex8, lowbitVersion, SAVED_FILE, SAVED_FORMAT_VERSION, SIDE_FILES } from "./format.js";

export interface SaveSource {
  quant: QuantFormat;
  dtype: ComputeDtype;
  quantHead: boolean;
  /** directory holding config.json and the tokenizer files to copy */
  dir: string;
  /** the float checkpoint the weights were quantized from */
  sourceModel: string;
  quantization: Record<string, string | number>;
  /** weight names in the order to write them (others follow, sorted) */
  order: string[];
}

export interface SaveResult {
  dir: string;
  file: string;
  /** size of model.lowbit.safetensors */
  bytes: number;
  weights: number;
  tensors: number;
}

/** The output directory must be new, empty, or an earlier saved model (overwritten). */
function prepareDir(dir: string, sourceDir: string): void {
  if (fs.existsSync(dir)) {
    if (!fs.statSync(dir).isDirectory()) throw new InvalidOptionError(`${dir} exists and is not a directory`);
    const entries = fs.readdirSync(dir);
    if (entries.length && !entries.includes(SAVED_FILE) && resolve(dir) !== resolve(sourceDir)) {
      throw new InvalidOptionError(`${dir} is not empty and holds no saved lowbit model: choose a new or empty directory`);
    }
    if (resolve(dir) === resolve(sourceDir) && !entries.includes(SAVED_FILE)) {
      throw new InvalidOptionError(`${dir} is the source checkpoint's directory: save to another directory`);
    }
  }
  fs.mkdirSync(dir, { recursive: true });
}

export async function saveModel(native: NativeModel, src: SaveSource, outDir: string): Promise<SaveResult> {
  const dir = resolve(outDir);
  prepareDir(dir, src.dir);
  const { names, aliases } = native.listWeights();
  const rank = new Map(src.order.map((n, i) => [n, i]));
  names.sort((a, b) => (rank.get(a) ?? Infinity) - (rank.get(b) ?? Infinity) || (a < b ? -1 : a > b ? 1 : 0));
  const weights = names.map((name) => ({ name, ...native.exportWeight(name) }));

  // Header: every tensor's offsets are known up front; CRCs are filled in after
  // the data is written (fixed-width hex, so the header keeps its length).
  const tensors: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> = {};
  let offset = 0, maxBytes = 0;
  for (const w of weights) {
    for (const b of w.buffers) {
      const elems = b.bytes / DTYPE_BYTES[b.dtype];
      tensors[`${w.name}.${b.name}`] = { dtype: b.dtype, shape: [elems], data_offsets: [offset, offset + b.bytes] };
      offset += b.bytes;
      maxBytes = Math.max(maxBytes, b.bytes);
    }
  }
  const crcs = new Map<string, string>();
  const header = (): Buffer => {
    const records: Record<string, unknown> = {};
    for (const w of weights) {
      const m: StoredWeightMeta = w;
      records[w.name] = {
        format: m.format, rows: m.rows, cols: m.cols, kp: m.kp, group: m.group, asym: m.asym, act_scale: m.actScale, ...(m.amplifier ? { amplifier: m.amplifier } : {}),
        crc32: Object.fromEntries(w.buffers.map((b) => [b.name, crcs.get(`${w.name}.${b.name}`) ?? "00000000"])),
      };
    }
    const metadata: Record<string, string> = {
      format: "lowbit",
      lowbit_format_version: String(SAVED_FORMAT_VERSION),
      lowbit_version: lowbitVersion(),
      quant: src.quant,
      dtype: src.dtype,
      quant_head: String(src.quantHead),
      source_model: src.sourceModel,
      quantization: JSON.stringify(src.quantization),
      weights: JSON.stringify(records),
      aliases: JSON.stringify(aliases),
    };
    const json = Buffer.from(JSON.stringify({ __metadata__: metadata, ...tensors }), "utf8");
    // pad with spaces so the data area starts 8-byte aligned (as the reference writer does)
    const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
    json.copy(padded);
    const out = Buffer.alloc(8 + padded.length);
    out.writeBigUInt64LE(BigInt(padded.length), 0);
    padded.copy(out, 8);
    return out;
  };

  for (const f of SIDE_FILES) {
    const from = join(src.dir, f), to = join(dir, f);
    if (fs.existsSync(from) && resolve(from) !== to) fs.copyFileSync(from, to);
  }
  const file = join(dir, SAVED_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await fs.promises.open(tmp, "w");
  let ok = false;
  try {
    const first = header();
    await fh.write(first, 0, first.length, 0);
    let pos = first.length;
    const scratch = Buffer.allocUnsafe(maxBytes);
    for (const w of weights) {
      for (const b of w.buffers) {
        const view = scratch.subarray(0, b.bytes);
        native.exportWeightBuffer(w.name, b.name, view);
        crcs.set(`${w.name}.${b.name}`, hex8(crc32(view)));
        for (let done = 0; done < b.bytes; ) done += (await fh.write(view, done, b.bytes - done, pos + done)).bytesWritten;
        pos += b.bytes;
      }
    }
    const final = header();
    if (final.length !== first.length) throw new Error("internal: saved header changed length");
    await fh.write(final, 0, final.length, 0);
    await fh.sync();
    ok = true;
  } finally {
    await fh.close();
    if (!ok) fs.rmSync(tmp, { force: true });
  }
  fs.renameSync(tmp, file);
  return { dir, file, bytes: fs.statSync(file).size, weights: weights.length, tensors: Object.keys(tensors).length };
}
