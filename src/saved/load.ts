/**
 * Loads a lowbit saved-model directory (format.ts): checks every weight
 * against config.json (shape), the saved quant format (storage format, group,
 * asymmetry, static scales) and the native layout of its format (the exact
 * byte size of every buffer) before any native allocation, then reads each
 * tensor into one reused buffer, verifies its CRC-32 and hands the buffers to
 * the addon, which checks them again and copies them. No calibration, no
 * source checkpoint.
 */
import * as fs from "node:fs";
import { loadConfig, type LlamaConfig } from "../config.js";
import { SavedModelError } from "../errors.js";
import type { LoadedModel } from "../loader.js";
import { llamaTensors } from "../models/llama.js";
import { addon, type StoredWeightMeta } from "../native.js";
import { createNativeModel, finishNativeModel, type RuntimeOptions } from "../runtime/native-model.js";
import { planWeights, type PlannedWeight, type WeightPlan } from "../weights/plan.js";
import { Tokenizer } from "../tokenizer.js";
import { crc32, hex8, type SavedHeader, type SavedWeight } from "./format.js";
import { savedShards } from "./tp.js";

/** threads, kernels, context (0 = max_position_embeddings), KV type; tp: this rank's shard only (tp.ts) */
export type SavedLoadOptions = RuntimeOptions;

/** The weights a model with this config and saved quantization must hold, and its alias (the one weight plan). */
export function expectedWeights(c: LlamaConfig, h: Pick<SavedHeader, "quant" | "dtype" | "quantHead">): WeightPlan {
  return planWeights(llamaTensors(c), { dtype: h.dtype, quant: h.quant, quantHead: h.quantHead, tieWordEmbeddings: c.tieWordEmbeddings });
}

/** Runs a native check, its failure a SavedModelError naming the file. */
function wrapSaved<T>(h: SavedHeader, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new SavedModelError(`${h.file}: ${(e as Error).message}`, { cause: e });
  }
}

function describe(m: { format: string; group: number; asym: boolean }): string {
  return `${m.format}${m.group ? ` group ${m.group}` : ""}${m.asym ? " asym" : ""}`;
}

/** Checks the header against config.json and each format's native layout; returns the largest weight's bytes. */
function checkWeights(h: SavedHeader, config: LlamaConfig, configFile: string): { order: { want: PlannedWeight; saved: SavedWeight }[]; plan: WeightPlan; maxBytes: number } {
  const fail = (why: string) => new SavedModelError(`${h.file}: ${why}`);
  const plan = expectedWeights(config, h);
  const { weights, alias } = plan;
  const order: { want: PlannedWeight; saved: SavedWeight }[] = [];
  let maxBytes = 0;
  for (const want of weights) {
    const saved = h.weights.get(want.name);
    if (!saved) throw fail(`weight "${want.name}" (tensors "${want.name}.*") is missing`);
    const m = saved.meta;
    if (m.rows !== want.rows || m.cols !== want.cols) {
      throw fail(`weight "${want.name}" is [${m.rows}, ${m.cols}] but ${configFile} needs [${want.rows}, ${want.cols}]`);
    }
    // what the native loader makes of this weight in the format the saved quant implies
    const layout0 = wrapSaved(h, () => addon().formatLayout(want.native, want.rows, want.cols));
    if (m.format !== layout0.format || m.group !== layout0.group || m.asym !== layout0.asym) {
      throw fail(`weight "${want.name}" is stored as ${describe(m)}; a ${h.quant} model (${h.dtype}${h.quantHead ? ", quantized head" : ""}) stores it as ${describe(layout0)}`);
    }
    if (((m.amplifier ?? 0) > 0) !== ((layout0.amplifier ?? 0) > 0)) {
      throw fail(`weight "${want.name}" ${(m.amplifier ?? 0) > 0 ? "has integer scales, unexpected in" : "lacks the integer scales of"} ${h.quant}`);
    }
    // a static model's matmul may keep per-token scales (act_scale 0: the dynamicInputs option)
    if (m.actScale > 0 && !want.staticScale) throw fail(`weight "${want.name}" has a static activation scale, unexpected in ${h.quant}`);
    const layout = wrapSaved(h, () => addon().weightLayout(m, want.name));
    let total = 0;
    for (const b of layout) {
      const t = saved.tensors.get(b.name);
      if (!t) throw fail(`tensor "${want.name}.${b.name}" is missing (format ${m.format} needs it)`);
      if (t.dtype !== b.dtype || t.bytes !== b.bytes) {
        throw fail(`tensor "${t.name}" is ${t.dtype} of ${t.bytes} bytes; the layout of ${describe(m)} [${m.rows}, ${m.cols}] (kp ${m.kp}) needs ${b.dtype} of ${b.bytes} bytes`);
      }
      total += b.bytes;
    }
    for (const b of saved.tensors.keys()) {
      if (!layout.some((x) => x.name === b)) throw fail(`tensor "${want.name}.${b}" is not a buffer of format ${m.format}`);
    }
    maxBytes = Math.max(maxBytes, total);
    order.push({ want, saved });
  }
  for (const name of h.weights.keys()) {
    if (!weights.some((w) => w.name === name)) throw fail(`unexpected weight "${name}" (not part of this model's config)`);
  }
  const target = h.aliases.get("output.weight");
  if (alias ? target !== "token_embd.weight" || h.aliases.size !== 1 : h.aliases.size !== 0) {
    throw fail(`aliases ${JSON.stringify(Object.fromEntries(h.aliases))} do not match the config (tied embeddings: ${config.tieWordEmbeddings}, quantized head: ${h.quantHead})`);
  }
  return { order, plan, maxBytes };
}

function readTensor(fd: number, file: string, offset: number, into: Buffer): void {
  let done = 0;
  while (done < into.length) {
    const n = fs.readSync(fd, into, done, Math.min(into.length - done, 1 << 30), offset + done);
    if (n === 0) throw new SavedModelError(`${file}: truncated while reading (file changed since its header was read?)`);
    done += n;
  }
}

export function loadSavedDirectory(dir: string, h: SavedHeader, opts: SavedLoadOptions): LoadedModel {
  const config = loadConfig(dir);
  const tokenizer = Tokenizer.load(dir, { vocabSize: config.vocabSize });
  const { order, plan, maxBytes } = checkWeights(h, config, `${dir}/config.json`);
  const { tp, threads: _t, kernels: _k, ...options } = opts;
  const shards = tp ? savedShards(dir, h, config, plan, tp, options) : undefined;
  const { native, contextLength } = createNativeModel(config, opts);
  let fd: number | undefined;
  try {
    fd = fs.openSync(h.file, "r");
    const scratch = Buffer.allocUnsafe(maxBytes);
    for (const { want, saved } of order) {
      const buffers: Record<string, Uint8Array> = {};
      let at = 0;
      for (const [name, t] of saved.tensors) {
        const view = scratch.subarray(at, at + t.bytes);
        readTensor(fd, h.file, t.offset, view);
        if (hex8(crc32(view)) !== saved.crc32.get(name)) {
          throw new SavedModelError(`${h.file}: tensor "${t.name}" fails its CRC-32 check: the file is corrupt`);
        }
        buffers[name] = view;
        at += t.bytes;
      }
      const meta: StoredWeightMeta = saved.meta;
      wrapSaved(h, () => native.importWeight(want.name, meta, buffers, shards?.get(want.name)));
    }
    const decodeWeightBytes = finishNativeModel(native, plan, config, tp);
    return { config, tokenizer, native, decodeWeightBytes, contextLength };
  } catch (e) {
    native.dispose();
    throw e;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
