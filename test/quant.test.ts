/** Quantized loading: options, SmoothQuant folding and calibration errors, accuracy bounds (embedded model). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataError, InvalidOptionError, LLM, ModelNotFoundError } from "../src/index.js";
import { loadHfDirectory } from "../src/loader.js";
import { hfSource } from "../src/models/source.js";
import { perplexity, readJsonlTexts } from "../src/eval/perplexity.js";
import { collectActivationMax, smoothingFactors } from "../src/quant/smoothquant.js";
import { EMBEDDED_MODEL, sharedPath, SKIP_NO_SHARED } from "./helpers/paths.js";

const tmp = mkdtempSync(join(tmpdir(), "lowbit-quant-"));
const calib = join(tmp, "calib.jsonl");
writeFileSync(calib, ["def add(a, b):\n    return a + b\n", "import os\nprint(os.listdir('.'))\n", "class A:\n    pass\n"].map((text) => JSON.stringify({ text })).join("\n"));

test("invalid quant options are typed errors", async () => {
  await assert.rejects(LLM.load(undefined, { quant: "w3a16" as never }), InvalidOptionError);
  await assert.rejects(LLM.load(undefined, { quant: "w8a8", loadIn4bit: true }), /only one of/);
  await assert.rejects(LLM.load(undefined, { quant: "w8a8-sq", smoothAlpha: 1.5, calib }), /smoothAlpha/);
  await assert.rejects(LLM.load(undefined, { quant: "w8a8-sq", calibSamples: 0, calib }), /samples/);
  await assert.rejects(LLM.load(undefined, { quantHead: true }), /quantHead needs a quant format/);
});

test("loadIn8bit / loadIn4bit load the documented formats (same logits as naming them)", async () => {
  const ids = [329, 288, 637, 268, 1369, 1323, 12, 82, 323];
  for (const [short, quant] of [[{ loadIn8bit: true }, "w8a8"], [{ loadIn4bit: true }, "w4a8-g128-ismax"]] as const) {
    const a = await LLM.load(undefined, { threads: 2, ...short });
    const b = await LLM.load(undefined, { threads: 2, quant });
    assert.equal(a.quant, quant);
    assert.deepEqual(await a.logits(ids), await b.logits(ids));
    await a.dispose();
    await b.dispose();
  }
});

test("calibration data missing, empty or not jsonl is a clear error", async () => {
  await assert.rejects(LLM.load(undefined, { quant: "w8a8-sq", calib: join(tmp, "nope.jsonl") }), (e) => e instanceof ModelNotFoundError || e instanceof DataError);
  const empty = join(tmp, "empty.jsonl");
  writeFileSync(empty, "");
  await assert.rejects(LLM.load(undefined, { quant: "w8a8-sq", calib: empty }), DataError);
  const bad = join(tmp, "bad.jsonl");
  writeFileSync(bad, "this is not json\n");
  await assert.rejects(LLM.load(undefined, { quant: "w8a8-sq", calib: bad }), DataError);
});

test("SmoothQuant folding leaves the float model unchanged (f32 logits within 1e-4)", async () => {
  const f = await LLM.load(undefined, { dtype: "f32", threads: 2 });
  const ids = f.encode("def fibonacci(n):\n    if n < 2:\n        return n\n");
  const want = await f.logits(ids);
  const act = await collectActivationMax(f, { file: calib, samples: 3, tokens: 64 });
  const s = smoothingFactors(hfSource(EMBEDDED_MODEL), act, 0.5);
  await f.dispose();
  // the factors really move scale around (not all ~1)
  const s0 = s.get("blk.0.attn_norm.weight")!;
  assert.ok(Math.max(...s0) / Math.min(...s0) > 2, "smoothing factors vary across channels");
  const loaded = loadHfDirectory(EMBEDDED_MODEL, { dtype: "f32", threads: 2, kernels: "auto", contextLength: 0, smoothing: s });
  try {
    const r = await loaded.native.forward(Int32Array.from(ids), Int32Array.from(ids.map((_, i) => i)), false);
    let maxRel = 0;
    const scale = Math.max(...want.map(Math.abs));
    for (let i = 0; i < want.length; i++) maxRel = Math.max(maxRel, Math.abs(r.data[i]! - want[i]!) / scale);
    assert.ok(maxRel < 1e-4, `smoothed f32 logits differ by ${maxRel} (relative to max |logit|)`);
  } finally {
    loaded.native.dispose();
  }
});

test("every format runs the embedded model (ffn 704 is not a multiple of 128: padded groups) with bounded perplexity change", async (t) => {
  const data = sharedPath("data", "python-heldout-test.jsonl");
  const texts = data ? readJsonlTexts(data) : ["def add(a, b):\n    return a + b\n".repeat(200)];
  if (!data) t.diagnostic(`held-out data ${SKIP_NO_SHARED}; using a repeated snippet`);
  const opts = { window: 256, maxWindows: 4 };
  const f = await LLM.load(undefined, { dtype: "f32", threads: 2 });
  const base = (await perplexity(f, texts, opts)).ppl;
  await f.dispose();
  // Bounds far above what the formats measure here (docs/QUANTIZATION.md) yet tight enough to
  // catch a broken kernel or packing (which gives ppl in the hundreds or thousands).
  const bounds: Record<string, number> = { w8a8: 0.02, "w8a8-sq": 0.02, "w8a8-sq-static": 0.1, "w4a16-g32": 0.15, "w4a16-g128": 0.2, "w4a16-g128-asym": 0.2, "w4a16-ch": 0.25 };
  // w4a8: int4 weights x int8 activations, float and integer (Integer Scale) group scales
  Object.assign(bounds, { "w4a8-g128": 0.2, "w4a8-g32": 0.15, "w4a8-g128-is": 0.3, "w4a8-g32-is": 0.3, "w4a8-g128-is1024": 0.3, "w4a8-g128-ismax": 0.2, "w4a8-g32-ismax": 0.15 });
  // quantHead: the (tied) LM head gets its own quantized copy, the lookup table stays float
  bounds["w8a8+head"] = 0.03;
  bounds["w4a16-g128+head"] = 0.25;
  for (const [name, bound] of Object.entries(bounds)) {
    const quant = name.replace("+head", "");
    const m = await LLM.load(undefined, { dtype: "f32", threads: 2, quant: quant as never, calib, quantHead: name.endsWith("+head") });
    const ppl = (await perplexity(m, texts, opts)).ppl;
    await m.dispose();
    const d = (ppl - base) / base;
    t.diagnostic(`${name}: ppl ${ppl.toFixed(4)} vs f32 ${base.toFixed(4)} (${(d * 100).toFixed(2)}%)`);
    assert.ok(Math.abs(d) < bound, `${name}: ppl ${ppl} vs f32 ${base}`);
  }
});
