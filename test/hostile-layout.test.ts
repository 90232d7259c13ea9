/**
 * Issue 16 item 5: tensor data must cover a weights file's data area exactly.
 * safetensors: no hole, no overlap, nothing left over (a header length off by
 * one shifted every tensor by a byte and loaded silently on b276a23, the model
 * then writing only end-of-text). GGUF: packed at aligned offsets, so a
 * relabelled tensor type whose size no longer matches its data is refused.
 */
import { test } from "node:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { GgufError, WeightsFormatError } from "../src/errors.js";
import { embeddedBytes, embeddedGguf } from "../src/fuzz/model-files.js";
import { ggufField, setGgufField, type GgufFieldKind } from "../src/fuzz/gguf-fields.js";
import { hostileModel, loadRejects, scratch } from "./helpers/hostile.js";

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;

/** The embedded model.safetensors with its header edited (re-padded to the same length) or its length field set. */
function safetensors(edit: (h: Header) => void, headerLen?: (n: number) => number): Buffer {
  const buf = Buffer.from(embeddedBytes("model.safetensors"));
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Header;
  edit(h);
  const json = Buffer.from(JSON.stringify(h));
  if (json.length > n) throw new Error("edited header grew past its padding");
  json.copy(buf, 8);
  buf.fill(0x20, 8 + json.length, 8 + n);
  if (headerLen) buf.writeBigUInt64LE(BigInt(headerLen(n)), 0);
  return buf;
}

const loadSt = (buf: Buffer, re: RegExp) => loadRejects(hostileModel({ "model.safetensors": buf }), WeightsFormatError, re);

test("a safetensors header length one byte short (every tensor shifted) is a WeightsFormatError", { timeout: 30_000 }, async () => {
  await loadSt(safetensors(() => {}, (n) => n - 1), /the tensors cover 14291456 bytes of a 14291457-byte data area: 1 byte\(s\) at its end belong to no tensor/);
});

test("a hole or an overlap between safetensors tensors is a WeightsFormatError", { timeout: 30_000 }, async () => {
  const norm = "model.layers.0.input_layernorm.weight"; // [8388608, 8389120)
  await loadSt(safetensors((h) => {
    h[norm]!.shape = [255];
    h[norm]!.data_offsets = [8388610, 8389120];
  }), /tensor "model\.layers\.0\.input_layernorm\.weight" starts at data offset 8388610 but tensor "model\.embed_tokens\.weight" ends at 8388608: a hole/);
  await loadSt(safetensors((h) => {
    h["model.layers.0.post_attention_layernorm.weight"]!.data_offsets = [8388608, 8389120];
  }), /starts at data offset 8388608 but tensor "model\.layers\.0\.(input|post_attention)_layernorm\.weight" ends at 8389120: an overlap/);
});

const dir = scratch("layout");
const base = embeddedGguf(path.join(dir, "base.gguf"), "q8_0");

/** The base GGUF with one tensor-info field of `tensor` set to `v`. */
function gguf(tensor: string, kind: GgufFieldKind, v: number, tag: string): string {
  const buf = fs.readFileSync(base);
  setGgufField(buf, ggufField(buf, kind, tensor), BigInt(v));
  const out = path.join(dir, `${tag}.gguf`);
  fs.writeFileSync(out, buf);
  return out;
}

test("a GGUF tensor relabelled to a type whose size no longer matches its data is a GgufError", { timeout: 30_000 }, async () => {
  // Q8_0 (34 bytes / 32) relabelled Q4_0 (18 bytes / 32): a hole after it
  await loadRejects(gguf("token_embd.weight", "ggmlType", 2, "embd-q4"), GgufError,
    /tensor "blk\.0\.attn_norm\.weight" \(F32 \[256\]\) starts at data offset 4456448, but tensor "token_embd\.weight" \(Q4_0 \[256, 16384\]\) ends at 2359296/);
  // the last tensor, F32 relabelled F16: bytes after it that belong to no tensor
  await loadRejects(gguf("output_norm.weight", "ggmlType", 1, "norm-f16"), GgufError, /holds 7599104 bytes but the tensors end at 7598592/);
  // F32 relabelled F64: overlaps the next tensor
  await loadRejects(gguf("blk.0.attn_norm.weight", "ggmlType", 28, "norm-f64"), GgufError, /overlap in the data section/);
});

test("GGUF tensor data that overlaps or runs past the file is a GgufError", { timeout: 30_000 }, async () => {
  await loadRejects(gguf("blk.0.attn_q.weight", "tensorOffset", 0, "overlap"), GgufError, /overlap in the data section/);
  await loadRejects(gguf("output_norm.weight", "tensorOffset", 7599104, "past"), GgufError, /runs past the end of the file/);
});
