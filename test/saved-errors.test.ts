/**
 * Saved models that are truncated, corrupt, inconsistent with config.json or
 * from another format version: each a SavedModelError (a WeightsFormatError,
 * code BAD_SAVED_MODEL) naming the problem, never a crash. The native import
 * checks sizes on its own too.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM, SavedModelError, WeightsFormatError } from "../src/index.js";
import { addon, type StoredWeightMeta } from "../src/native.js";
import { EMBEDDED_MODEL } from "./helpers/paths.js";
import { editedCopy, rawCopy, setWeightRecords, weightRecords } from "./helpers/saved.js";

const tmp = mkdtempSync(join(tmpdir(), "lowbit-saved-err-"));
async function saved(name: string, quant: "w4a16-g128" | "w8a8"): Promise<string> {
  const m = await LLM.load(undefined, { threads: 2, quant });
  await m.save(join(tmp, name));
  await m.dispose();
  return join(tmp, name);
}
const Q4 = await saved("q4", "w4a16-g128");
const Q8 = await saved("q8", "w8a8");
const FILE = "model.lowbit.safetensors";

async function rejects(dir: string, re: RegExp): Promise<void> {
  await assert.rejects(LLM.load(dir, { threads: 2 }), (e: unknown) => {
    assert.ok(e instanceof SavedModelError, `expected SavedModelError, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.ok(e instanceof WeightsFormatError);
    assert.equal(e.code, "BAD_SAVED_MODEL");
    assert.match(e.message, re);
    return true;
  });
}

test("the untouched saved models load", async () => {
  for (const d of [Q4, Q8, editedCopy(Q4, () => undefined)]) await (await LLM.load(d, { threads: 2 })).dispose();
});

test("truncated files", async () => {
  const size = statSync(join(Q4, FILE)).size;
  await rejects(rawCopy(Q4, (f) => truncateSync(f, size - 1000)), /truncated/);
  await rejects(rawCopy(Q4, (f) => truncateSync(f, Math.floor(size / 2))), /truncated/);
  await rejects(rawCopy(Q4, (f) => truncateSync(f, 100)), /truncated|past the end/);
  await rejects(rawCopy(Q4, (f) => truncateSync(f, 5)), /truncated/);
  await rejects(rawCopy(Q4, (f) => appendFileSync(f, Buffer.alloc(16))), /16 bytes after the last tensor/);
});

test("corrupt header or data", async () => {
  await rejects(rawCopy(Q4, (f) => {
    const b = readFileSync(f);
    b.write("#######", 20);
    writeFileSync(f, b);
  }), /header is not valid JSON/);
  // one flipped byte in a quantized matrix
  await rejects(rawCopy(Q4, (f) => {
    const b = readFileSync(f);
    b[b.length - 5000]! ^= 0x10;
    writeFileSync(f, b);
  }), /CRC-32.*corrupt/);
  await rejects(editedCopy(Q4, (st) => (st.meta.weights = "{ nope")), /weights is not a JSON object/);
  // a plain Hugging Face file under the saved name
  await rejects(rawCopy(Q4, (f) => copyFileSync(join(EMBEDDED_MODEL, "model.safetensors"), f)), /not a lowbit saved model/);
});

test("format version from the future, unknown quant format or dtype", async () => {
  await rejects(editedCopy(Q4, (st) => (st.meta.lowbit_format_version = "2")), /format version 2 .*reads versions up to 1.*upgrade lowbit/);
  await rejects(editedCopy(Q4, (st) => (st.meta.lowbit_format_version = "one")), /lowbit_format_version "one"/);
  await rejects(editedCopy(Q4, (st) => (st.meta.quant = "w3a16")), /unknown quant format "w3a16"/);
  await rejects(editedCopy(Q4, (st) => (st.meta.dtype = "f16")), /compute dtype "f16"/);
  // metadata that disagrees with the stored weights
  await rejects(editedCopy(Q4, (st) => (st.meta.quant = "w4a16-g32")), /blk\.0\.attn_q\.weight" is stored as q4 group 128; a w4a16-g32 model .*q4 group 32/);
  await rejects(editedCopy(Q4, (st) => (st.meta.quant = "w8a8")), /stored as q4 group 128; a w8a8 model .*stores it as q8/);
  await rejects(editedCopy(Q4, (st) => (st.meta.quant_head = "true")), /output\.weight.*missing/);
});

test("missing or extra tensors and weights", async () => {
  // a tensor gone from the file (its record still lists it)
  await rejects(editedCopy(Q4, (st) => st.tensors.delete("blk.3.ffn_down.weight.scales")), /tensor "blk\.3\.ffn_down\.weight\.scales" is missing/);
  // a buffer gone from both the record and the file
  await rejects(editedCopy(Q4, (st) => {
    st.tensors.delete("blk.1.attn_v.weight.offsets");
    const w = weightRecords(st);
    delete (w["blk.1.attn_v.weight"]!.crc32 as Record<string, string>).offsets;
    setWeightRecords(st, w);
  }), /blk\.1\.attn_v\.weight\.offsets" is missing \(format q4 needs it\)/);
  // a whole weight gone
  await rejects(editedCopy(Q4, (st) => {
    for (const b of ["data", "scales", "offsets"]) st.tensors.delete(`blk.2.attn_k.weight.${b}`);
    const w = weightRecords(st);
    delete w["blk.2.attn_k.weight"];
    setWeightRecords(st, w);
  }), /weight "blk\.2\.attn_k\.weight" .*is missing/);
  // a tensor no weight owns
  await rejects(editedCopy(Q4, (st) => st.tensors.set("extra.bias", { dtype: "F32", data: Buffer.alloc(16) })), /"extra\.bias" belongs to no weight/);
  // tied head: the alias is required
  await rejects(editedCopy(Q4, (st) => (st.meta.aliases = "{}")), /aliases .*tied embeddings: true/);
});

test("a tensor whose byte size changed", async () => {
  // consistent safetensors, but 64 bytes short of the q4 layout
  await rejects(editedCopy(Q4, (st) => {
    const t = st.tensors.get("blk.0.ffn_up.weight.data")!;
    t.data = t.data.subarray(64);
  }), /tensor "blk\.0\.ffn_up\.weight\.data" is U8 of 90048 bytes; the layout of q4 group 128 \[704, 256\] \(kp 256\) needs U8 of 90112 bytes/);
  await rejects(editedCopy(Q8, (st) => {
    const t = st.tensors.get("blk.0.attn_q.weight.scales")!;
    t.data = Buffer.concat([t.data, Buffer.alloc(4)]);
  }), /blk\.0\.attn_q\.weight\.scales" is F32 of 1028 bytes.*needs F32 of 1024/);
  // the right size, the wrong element type
  await rejects(editedCopy(Q8, (st) => (st.tensors.get("blk.0.attn_q.weight.wsum")!.dtype = "F32")), /wsum" is F32 .*needs I32/);
  // header offsets that disagree with the shape
  await rejects(rawCopy(Q4, (f) => {
    const b = readFileSync(f);
    const n = Number(b.readBigUInt64LE(0));
    const h = b.subarray(8, 8 + n).toString("utf8").replace(/"shape":\[(\d+)\]/, (_, x: string) => `"shape":[${Number(x) + 1}]`);
    writeFileSync(f, Buffer.concat([b.subarray(0, 8), Buffer.from(h.padEnd(n)), b.subarray(8 + n)]));
  }), /needs \d+ bytes but data_offsets span/);
});

test("weight metadata inconsistent with its format's layout", async () => {
  const edit = (fn: (w: Record<string, unknown>) => void) => editedCopy(Q4, (st) => {
    const w = weightRecords(st);
    fn(w["blk.0.attn_output.weight"]!);
    setWeightRecords(st, w);
  });
  await rejects(edit((w) => (w.kp = 320)), /blk\.0\.attn_output\.weight: kp 320 does not match the layout \(256\)/);
  await rejects(edit((w) => (w.format = "q5")), /stored as q5/);
  await rejects(edit((w) => (w.act_scale = 0.5)), /static activation scale, unexpected/);
  await rejects(edit((w) => (w.rows = -1)), /metadata needs/);
});

test("weights whose shape disagrees with config.json", async () => {
  const cfg = (fn: (c: Record<string, unknown>) => void) => editedCopy(Q4, (_st, dir) => {
    const f = join(dir, "config.json");
    const c = JSON.parse(readFileSync(f, "utf8")) as Record<string, unknown>;
    fn(c);
    writeFileSync(f, JSON.stringify(c));
  });
  await rejects(cfg((c) => (c.intermediate_size = 512)), /blk\.0\.ffn_gate\.weight" is \[704, 256\] but .*config\.json needs \[512, 256\]/);
  await rejects(cfg((c) => (c.vocab_size = 32000)), /token_embd\.weight" is \[16384, 256\] but .*needs \[32000, 256\]/);
  await rejects(cfg((c) => (c.num_hidden_layers = 5)), /blk\.4\.attn_norm\.weight.*missing/);
  await rejects(cfg((c) => (c.num_hidden_layers = 3)), /unexpected weight "blk\.3\./);
  await rejects(cfg((c) => (c.tie_word_embeddings = false)), /output\.weight.*missing/);
});

test("native import checks every size itself and never crashes", () => {
  const { NativeModel, weightLayout } = addon();
  const m = new NativeModel({ threads: 1, kernels: "ref", nLayers: 1, nKvHeads: 1, headDim: 64, nCtx: 8, ropeTheta: 10000 });
  try {
    const meta: StoredWeightMeta = { format: "q4", rows: 10, cols: 100, kp: 128, group: 128, asym: false, actScale: 0 };
    const layout = weightLayout(meta);
    assert.deepEqual(layout.map((b) => [b.name, b.dtype, b.bytes]), [["data", "U8", 12 * 128 / 2], ["scales", "F32", 40], ["offsets", "F32", 40]]);
    const bufs = () => Object.fromEntries(layout.map((b) => [b.name, new Uint8Array(b.bytes)]));
    m.importWeight("ok", meta, bufs());
    const bad: [StoredWeightMeta, Record<string, unknown>, RegExp][] = [
      [meta, { ...bufs(), data: new Uint8Array(767) }, /767 bytes.*needs 768/],
      [meta, { ...bufs(), offsets: undefined }, /offsets is missing/],
      [meta, { ...bufs(), wsum: new Uint8Array(40) }, /no such buffer/],
      [meta, { ...bufs(), data: new Uint16Array(384) }, /data is missing/],
      [{ ...meta, kp: 96 }, bufs(), /kp 96 does not match the layout \(128\)/],
      [{ ...meta, group: 48 }, bufs(), /group 48/],
      [{ ...meta, group: 2 ** 40 }, bufs(), /group/],
      [{ ...meta, format: "q3" }, bufs(), /unknown weight format 'q3'/],
      [{ ...meta, cols: 2 ** 40 }, bufs(), /out of range/],
      [{ ...meta, rows: 0 }, bufs(), /out of range/],
      [{ ...meta, asym: "yes" as never }, bufs(), /asym must be a boolean/],
      [{ ...meta, actScale: 0.1 }, bufs(), /act_scale/],
      [{ ...meta, actScale: NaN }, bufs(), /actScale/],
      [{ format: "vector", rows: 2, cols: 4, kp: 4, group: 0, asym: false, actScale: 0 }, {}, /vector has 1 row/],
      [{ format: "q8", rows: 4, cols: 64, kp: 64, group: 32, asym: false, actScale: 0 }, {}, /only valid for q4/],
    ];
    // w4a8 with integer scales: the int32 bound is rechecked on import
    const is: StoredWeightMeta = { format: "q4a8", rows: 4, cols: 128, kp: 128, group: 128, asym: false, actScale: 0, amplifier: 1024 };
    assert.deepEqual(weightLayout(is).map((b) => [b.name, b.dtype, b.bytes]), [["data", "U8", 256], ["iscales", "I32", 16]]);
    const isBufs = (si: number) => ({ data: new Uint8Array(256), iscales: new Uint8Array(new Int32Array(4).fill(si).buffer) });
    m.importWeight("is-ok", is, isBufs(100)); // worst case 127 * 100 * 8 * 128 = 13e6
    bad.push(
      [is, isBufs(2 ** 16), /could overflow int32/], // 127 * 2^16 * 1024 > 2^31
      [{ ...is, amplifier: 1000 }, isBufs(1), /amplifier must be 0 or a power of two/],
      [{ ...is, group: 256, kp: 256, cols: 256 }, isBufs(1), /w4a8 group 256/],
      [{ ...meta, amplifier: 1024 }, bufs(), /amplifier is only valid for q4a8/],
    );
    for (const [mt, b, re] of bad) assert.throws(() => m.importWeight("w", mt, b as Record<string, Uint8Array>), re, JSON.stringify(mt));
    assert.throws(() => weightLayout({ ...meta, format: "f32", group: 0 }), /kp 128 does not match the layout \(112\)/);
  } finally {
    m.dispose();
  }
});
