/**
 * Saved quantized models: save() then LLM.load(dir) gives bit-identical logits
 * and greedy tokens for every kind of format, without calibration or the source
 * checkpoint; load options may repeat the saved settings but not change them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidOptionError, LLM, SAVED_FILE, StateError, type LoadOptions } from "../src/index.js";
import { EMBEDDED_MODEL, sharedPath, SKIP_NO_SHARED } from "./helpers/paths.js";
import { readSafetensors, weightRecords } from "./helpers/saved.js";

const tmp = mkdtempSync(join(tmpdir(), "lowbit-save-"));
const calib = join(tmp, "calib.jsonl");
writeFileSync(calib, ["def add(a, b):\n    return a + b\n", "import os\nprint(os.listdir('.'))\n", "class A:\n    pass\n"].map((text) => JSON.stringify({ text })).join("\n"));
const PROMPT = "def fibonacci(n):\n    if n < 2:\n        return n\n    return";

const same = (a: Float32Array, b: Float32Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

/** Quantizes the embedded model, records logits and greedy ids, saves, disposes. */
async function quantizeAndSave(name: string, opts: LoadOptions): Promise<{ dir: string; logits: Float32Array; greedy: number[]; ids: number[]; calibFile?: string }> {
  const sq = !!opts.quant?.startsWith("w8a8-sq");
  const calibFile = sq ? join(tmp, `calib-${name}.jsonl`) : undefined;
  if (calibFile) copyFileSync(calib, calibFile);
  const m = await LLM.load(undefined, { threads: 2, ...opts, ...(calibFile ? { calib: calibFile, calibSamples: 3, calibTokens: 64 } : {}) });
  try {
    const ids = m.encode(PROMPT);
    const logits = await m.logits(ids);
    const greedy = (await m.generate(ids, { maxNewTokens: 12, temperature: 0, stopAtEos: false })).ids;
    const dir = join(tmp, name);
    const r = await m.save(dir);
    assert.equal(r.file, join(dir, SAVED_FILE));
    assert.equal(r.bytes, statSync(r.file).size);
    return { dir, logits, greedy, ids, ...(calibFile ? { calibFile } : {}) };
  } finally {
    await m.dispose();
  }
}

const CASES: [string, LoadOptions][] = [
  ["w8a8", { quant: "w8a8" }],
  ["w8a8-sq", { quant: "w8a8-sq" }],
  ["w8a8-sq-static", { quant: "w8a8-sq-static" }],
  // what w8a8-sq-static saved before static scales had methods: every matmul static, max calibration
  ["w8a8-sq-static-max-all", { quant: "w8a8-sq-static", staticScales: "max", dynamicInputs: [] }],
  ["w8a8-sq-static-smooth-down", { quant: "w8a8-sq-static", smoothDown: true, dynamicInputs: [] }],
  ["w4a16-g128", { quant: "w4a16-g128" }],
  ["w4a16-g32-asym", { quant: "w4a16-g32-asym" }],
  ["w4a16-ch-f32", { quant: "w4a16-ch", dtype: "f32" }],
  ["w8a8-sq+head", { quant: "w8a8-sq", quantHead: true }],
  ["w4a16-g128+head", { quant: "w4a16-g128", quantHead: true }],
  ["w4a8-g128", { quant: "w4a8-g128" }],
  ["w4a8-g32-is", { quant: "w4a8-g32-is" }],
  ["w4a8-g128-ismax+head", { quant: "w4a8-g128-ismax", quantHead: true }],
  ["q4_0", { quant: "q4_0" }],
  ["q8_0+head", { quant: "q8_0", quantHead: true }],
];

for (const [name, opts] of CASES) {
  test(`${name}: saved and loaded back gives bit-identical logits and greedy tokens, without calibrating`, async () => {
    const s = await quantizeAndSave(name, opts);
    // The calibration data is gone: loading cannot have read it.
    if (s.calibFile) rmSync(s.calibFile);
    const t0 = performance.now();
    const l = await LLM.load(s.dir, { threads: 2 });
    const ms = performance.now() - t0;
    try {
      assert.equal(l.quant, opts.quant);
      assert.equal(l.quantHead, !!opts.quantHead);
      assert.equal(l.dtype, opts.dtype ?? "bf16");
      assert.equal(l.origin.saved, true);
      assert.equal(l.origin.sourceModel, EMBEDDED_MODEL);
      if (s.calibFile) assert.equal(l.origin.quantization.calib, s.calibFile, "calibration provenance comes from the file");
      assert.ok(same(await l.logits(s.ids), s.logits), "logits differ from the in-memory quantized model");
      l.resetCache();
      assert.deepEqual((await l.generate(s.ids, { maxNewTokens: 12, temperature: 0, stopAtEos: false })).ids, s.greedy);
    } finally {
      await l.dispose();
    }
    assert.ok(ms < 5000, `load took ${ms} ms`);
  });
}

test("a loaded saved model saves to a byte-identical file; its directory is self-contained", async () => {
  const s = await quantizeAndSave("resave-src", { quant: "w4a16-g32" });
  const l = await LLM.load(s.dir, { threads: 2 });
  const again = join(tmp, "resave-copy");
  await l.save(again);
  await l.dispose();
  assert.ok(readFileSync(join(s.dir, SAVED_FILE)).equals(readFileSync(join(again, SAVED_FILE))));
  for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]) assert.ok(existsSync(join(again, f)), f);
  assert.ok(!readdirSync(again).includes("model.safetensors"));
  // The header is standard safetensors: 8-aligned data, lowbit metadata as strings.
  const st = readSafetensors(join(again, SAVED_FILE));
  assert.equal(st.meta.lowbit_format_version, "1");
  assert.equal(st.meta.quant, "w4a16-g32");
  assert.ok(Object.values(st.meta).every((v) => typeof v === "string"));
  assert.equal(readFileSync(join(again, SAVED_FILE)).readBigUInt64LE(0) % 8n, 0n);
  const q = weightRecords(st)["blk.0.attn_q.weight"]!;
  assert.deepEqual([q.format, q.group, q.asym], ["q4", 32, false]);
  assert.deepEqual([...st.tensors.keys()].filter((k) => k.startsWith("blk.0.attn_q.")), ["blk.0.attn_q.weight.data", "blk.0.attn_q.weight.scales", "blk.0.attn_q.weight.offsets"]);
});

test("w4a16 saved files are smaller than the bf16 checkpoint", async () => {
  const ckpt = statSync(join(EMBEDDED_MODEL, "model.safetensors")).size; // bf16 (tied embeddings)
  // The bf16 embedding (8 MiB of the 13.6) stays as it is; the blocks shrink ~3.7x
  // (0.73 of the checkpoint); a quantized tied head adds its own int4 copy (0.87).
  for (const [name, head, bound] of [["size-g128", false, 0.75], ["size-g128-head", true, 0.9]] as const) {
    const s = await quantizeAndSave(name, { quant: "w4a16-g128", quantHead: head });
    const bytes = statSync(join(s.dir, SAVED_FILE)).size;
    assert.ok(bytes < bound * ckpt, `${name}: ${bytes} bytes vs bf16 checkpoint ${ckpt}`);
  }
});

test("the packed layout is the same for every kernel variant: a file saved under the best kernels runs on the scalar reference", async () => {
  // Formats without calibration quantize identically under every variant, so the file loaded
  // with kernels "ref" must match the model quantized at load with kernels "ref" bit for bit.
  for (const [name, opts] of [["ref-q8", { quant: "w8a8", quantHead: true }], ["ref-q4", { quant: "w4a16-g32-asym" }]] as [string, LoadOptions][]) {
    const s = await quantizeAndSave(name, opts);
    const m = await LLM.load(undefined, { threads: 2, kernels: "ref", ...opts });
    const want = await m.logits(s.ids);
    await m.dispose();
    const l = await LLM.load(s.dir, { threads: 2, kernels: "ref" });
    assert.ok(same(await l.logits(s.ids), want), name);
    await l.dispose();
  }
});

test("load options may repeat the saved settings but not change them", async () => {
  const s = await quantizeAndSave("options", { quant: "w8a8-sq", quantHead: true });
  for (const ok of [{ quant: "w8a8-sq" }, { quantHead: true }, { quant: "w8a8-sq", quantHead: true, dtype: "bf16" }, { contextLength: 64, kernels: "ref" }] as LoadOptions[]) {
    const l = await LLM.load(s.dir, { threads: 2, ...ok });
    if (ok.kernels !== "ref") assert.ok(same(await l.logits(s.ids), s.logits));
    await l.dispose();
  }
  const bad: [LoadOptions, RegExp][] = [
    [{ quant: "w8a8" }, /saved w8a8-sq .*cannot be loaded as w8a8/],
    [{ loadIn4bit: true }, /cannot be loaded as w4a8-g128-ismax/],
    [{ dtype: "f32" }, /dtype f32/],
    [{ calib }, /calibration options \(calib\) do not apply/],
    [{ smoothAlpha: 0.8 }, /smoothAlpha/],
  ];
  for (const [o, re] of bad) await assert.rejects(LLM.load(s.dir, o), (e) => e instanceof InvalidOptionError && re.test((e as Error).message));
  const noHead = await quantizeAndSave("options-nohead", { quant: "w4a16-g128" });
  await assert.rejects(LLM.load(noHead.dir, { quantHead: true }), /LM head is not quantized/);
});

test("save needs a quantized model and a new, empty or saved-model directory", async () => {
  const f = await LLM.load(undefined, { threads: 2 });
  await assert.rejects(async () => f.save(join(tmp, "float")), StateError);
  await f.dispose();
  const m = await LLM.load(undefined, { threads: 2, quant: "w8a8" });
  try {
    const busy = join(tmp, "not-empty");
    mkdirSync(busy);
    writeFileSync(join(busy, "notes.txt"), "mine");
    await assert.rejects(m.save(busy), (e) => e instanceof InvalidOptionError && /not empty/.test((e as Error).message));
    assert.deepEqual(readdirSync(busy), ["notes.txt"]);
    const file = join(tmp, "a-file");
    writeFileSync(file, "x");
    await assert.rejects(m.save(file), InvalidOptionError);
    await assert.rejects(m.save(EMBEDDED_MODEL), InvalidOptionError);
    // overwriting an earlier saved model is fine
    const d = join(tmp, "overwrite");
    await m.save(d);
    await m.save(d);
    assert.deepEqual(readdirSync(d).filter((x) => x.includes(".tmp")), []);
  } finally {
    await m.dispose();
  }
});

test("tinycode-100m: w8a8-sq saved and loaded is bit-identical; w4a16 file smaller than the bf16 checkpoint", async (t) => {
  const dir = sharedPath("models", "tinycode-100m");
  if (!dir) return t.skip(SKIP_NO_SHARED);
  for (const quant of ["w8a8-sq", "w4a16-g128"] as const) {
    const m = await LLM.load(dir, { threads: 2, quant, calib, calibSamples: 3, calibTokens: 64 });
    const ids = m.encode(PROMPT);
    const want = await m.logits(ids);
    const out = join(tmp, `100m-${quant}`);
    const r = await m.save(out);
    await m.dispose();
    const l = await LLM.load(out, { threads: 2 });
    assert.ok(same(await l.logits(ids), want), quant);
    await l.dispose();
    const ckpt = statSync(join(dir, "model.safetensors")).size;
    t.diagnostic(`${quant}: ${r.bytes} bytes saved vs checkpoint ${ckpt}`);
    if (quant === "w4a16-g128") assert.ok(r.bytes < 0.5 * ckpt, `${r.bytes} vs ${ckpt}`);
    rmSync(out, { recursive: true });
  }
});
