/**
 * Loading GGUF models: the config from llama.* keys, the Q/K row permutation,
 * and bad files (unsupported architecture or rope, missing keys or tensors,
 * wrong shapes) as typed errors naming the problem.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, GgufError, LLM, ModelNotFoundError, UnsupportedArchitectureError, WeightsFormatError } from "../src/index.js";
import { main } from "../src/cli/main.js";
import { loadConfig } from "../src/config.js";
import { configFromGguf } from "../src/formats/gguf-config.js";
import { exportGguf } from "../src/formats/gguf-export.js";
import { permuteRopeRows } from "../src/formats/gguf-rope.js";
import { openGguf, readTensorBytes } from "../src/formats/gguf.js";
import type { GgufValue } from "../src/formats/gguf-types.js";
import { gv, writeGguf, type GgufWriteTensor } from "../src/formats/gguf-write.js";
import { hfSource } from "../src/models/source.js";
import { EMBEDDED_MODEL } from "./helpers/paths.js";

const tmp = mkdtempSync(join(tmpdir(), "lowbit-ggload-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const base = join(tmp, "t7-f32.gguf");
exportGguf(hfSource(EMBEDDED_MODEL), base, "f32");

/** A copy of the base file with metadata and tensors edited. */
function variant(name: string, edit: { meta?: (m: Map<string, GgufValue>) => void; tensors?: (t: GgufWriteTensor[]) => GgufWriteTensor[] }): string {
  const f = openGguf(base);
  const meta = new Map(f.metadata);
  edit.meta?.(meta);
  let tensors: GgufWriteTensor[] = [...f.tensors.values()].map((t) => ({ name: t.name, dims: t.dims, type: t.type, data: new Uint8Array(readTensorBytes(f, t)) }));
  tensors = edit.tensors?.(tensors) ?? tensors;
  const out = join(tmp, `${name}.gguf`);
  writeGguf(out, { metadata: meta, tensors });
  return out;
}

test("config from GGUF metadata equals config.json", () => {
  const a = configFromGguf(openGguf(base));
  const b = loadConfig(EMBEDDED_MODEL);
  // GGUF stores the epsilon as an f32
  assert.deepEqual(a, { ...b, rmsNormEps: Math.fround(b.rmsNormEps) });
  assert.equal(a.maxPositionEmbeddings, b.maxPositionEmbeddings);
  assert.equal(a.tieWordEmbeddings, true);
});

test("rotary row permutation: toHf undoes toGguf, and moves pairs together", () => {
  const rows = 8, rowBytes = 3, heads = 2; // hd 4: gguf rows (0,2,1,3) of each head's hf rows
  const x = Uint8Array.from({ length: rows * rowBytes }, (_, i) => i);
  const g = permuteRopeRows(x, rows, rowBytes, heads, "toGguf");
  const order = Array.from({ length: rows }, (_, r) => g[r * rowBytes]! / rowBytes);
  assert.deepEqual(order, [0, 2, 1, 3, 4, 6, 5, 7]);
  assert.deepEqual(permuteRopeRows(g, rows, rowBytes, heads, "toHf"), x);
  assert.throws(() => permuteRopeRows(x, 6, 4, 4, "toHf"), WeightsFormatError);
});

test("the GGUF file and the HF directory give identical logits (f32)", async () => {
  const ids = [7, 263, 322, 7160, 30, 725];
  const a = await LLM.load(base, { threads: 1 });
  const b = await LLM.load(EMBEDDED_MODEL, { threads: 1, dtype: "f32" });
  try {
    assert.equal(a.dtype, "f32"); // an F32 file computes in f32 unless told otherwise
    assert.deepEqual(await a.logits(ids), await b.logits(ids));
    assert.deepEqual(a.encode("def f(x):\n    return x"), b.encode("def f(x):\n    return x"));
  } finally {
    await a.dispose();
    await b.dispose();
  }
});

test("bad GGUF models are typed errors naming the problem", async () => {
  const cases: [string, Parameters<typeof variant>[1], new (...a: never[]) => Error, RegExp][] = [
    ["arch", { meta: (m) => m.set("general.architecture", gv.str("gpt2")) }, UnsupportedArchitectureError, /general.architecture "gpt2"/],
    ["no-blocks", { meta: (m) => m.delete("llama.block_count") }, GgufError, /llama.block_count/],
    ["rope-scaling", { meta: (m) => m.set("llama.rope.scaling.type", gv.str("yarn")) }, UnsupportedArchitectureError, /rope scaling "yarn"/],
    ["partial-rope", { meta: (m) => m.set("llama.rope.dimension_count", gv.u32(16)) }, UnsupportedArchitectureError, /partial rotary/],
    ["moe", { meta: (m) => m.set("llama.expert_count", gv.u32(8)) }, UnsupportedArchitectureError, /mixture-of-experts/],
    ["heads", { meta: (m) => m.set("llama.attention.head_count_kv", gv.u32(3)) }, ConfigError, /num_key_value_heads/],
    ["more-blocks", { meta: (m) => m.set("llama.block_count", gv.u32(99)) }, WeightsFormatError, /blk\.\d+\.attn_norm.weight' is missing/],
    ["no-q", { tensors: (t) => t.filter((x) => x.name !== "blk.1.attn_q.weight") }, WeightsFormatError, /'blk.1.attn_q.weight' is missing/],
    ["wrong-shape", { meta: (m) => m.set("llama.feed_forward_length", gv.u32(512)) }, WeightsFormatError, /blk.0.ffn_gate.weight' has ggml dims/],
    ["eps-type", { meta: (m) => m.set("llama.attention.layer_norm_rms_epsilon", gv.str("1e-5")) }, GgufError, /layer_norm_rms_epsilon/],
  ];
  for (const [name, edit, cls, msg] of cases) {
    const file = variant(name, edit);
    await assert.rejects(LLM.load(file, { threads: 1 }), (e: Error) => e instanceof cls && msg.test(e.message), `${name}`);
  }
  await assert.rejects(LLM.load(join(tmp, "missing.gguf")), ModelNotFoundError);
});

test("convert and synth: bad options exit 2 with a typed message", async () => {
  const err: string[] = [];
  const io = { out: () => undefined, err: (s: string) => void err.push(s), errIsTTY: false };
  assert.equal(await main(["convert", "--out", join(tmp, "x.gguf"), "--type", "q3_k"], io), 2);
  assert.match(err.join(""), /--type must be one of f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, q4_k_m, q5_k_m/);
  assert.equal(await main(["convert", "--type", "f32"], io), 2);
  assert.match(err.join(""), /--out FILE.gguf is required/);
  assert.equal(await main(["synth", "--shape", "nope", "--type", "q4_0", "--out", join(tmp, "y.gguf")], io), 2);
  assert.match(err.join(""), /unknown synthetic model shape "nope"/);
});

test("synth writes a tiny model that lowbit loads and runs", async () => {
  const out = join(tmp, "tiny.gguf");
  const io = { out: () => undefined, err: () => undefined, errIsTTY: false };
  assert.equal(await main(["synth", "--shape", "tiny", "--type", "f16", "--out", out, "--seed", "7"], io), 0);
  const m = await LLM.load(out, { threads: 1 });
  try {
    assert.equal(m.config.vocabSize, 32000);
    const l = await m.logits([1, 2, 3]);
    assert.equal(l.length, 32000);
    assert.ok(l.every(Number.isFinite));
  } finally {
    await m.dispose();
  }
});

test("convert writes a saved q4_0 / q8_0 lowbit model's own blocks; other saved formats are refused", async () => {
  const io = { out: () => undefined, err: () => undefined, errIsTTY: false };
  for (const type of ["q4_0", "q8_0"]) {
    const saved = join(tmp, `saved-${type}`);
    const direct = join(tmp, `direct-${type}.gguf`), viaSaved = join(tmp, `via-saved-${type}.gguf`);
    assert.equal(await main(["quantize", "--quant", type, "--out", saved], io), 0);
    assert.equal(await main(["convert", "--model", saved, "--out", viaSaved], io), 0);
    exportGguf(hfSource(EMBEDDED_MODEL), direct, type as "q4_0");
    const a = openGguf(direct), b = openGguf(viaSaved);
    assert.deepEqual([...b.tensors.keys()], [...a.tensors.keys()]);
    for (const t of a.tensors.values()) {
      assert.deepEqual(readTensorBytes(b, t.name), readTensorBytes(a, t), `${type} ${t.name}`);
    }
    for (const [k, v] of a.metadata) if (k !== "general.name") assert.deepEqual(b.get(k), v, `${type} ${k}`);
  }
  const err: string[] = [];
  const saved = join(tmp, "saved-w8a8");
  assert.equal(await main(["quantize", "--quant", "w8a8", "--out", saved], io), 0);
  assert.equal(await main(["convert", "--model", saved, "--out", join(tmp, "w8.gguf")], { ...io, err: (s: string) => void err.push(s) }), 2);
  assert.match(err.join(""), /saved w8a8 model, which has no GGUF type/);
});
