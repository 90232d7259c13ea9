/**
 * `lowbit quantize --method` and `lowbit convert --method`: an AWQ model saved
 * by the CLI records its method and reloads without recalibration; a GPTQ
 * Q4_0 GGUF holds the blocks of the same model loaded in the library; bad
 * flag combinations exit 2 with the option named.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../src/cli/main.js";
import { LLM } from "../src/index.js";
import { ggufSource } from "../src/models/gguf-source.js";
import { llamaTensors } from "../src/models/llama.js";
import { EMBEDDED_MODEL } from "./helpers/paths.js";
import { openGguf, readTensorBytes } from "../src/formats/gguf.js";
import { pinCpuVariant, prebuiltCpuVariants } from "../src/llamacpp/prebuilt-variant.js";
import { bitsEqual, maxAbsDiff, runBothOnFile } from "./helpers/llamacpp-agree.js";

const tmp = mkdtempSync(join(tmpdir(), "lowbit-qmethod-"));
const texts = join(tmp, "texts.jsonl");
const code = "def add(a, b):\n    return a + b\n\nfor i in range(10):\n    print(add(i, i * 2))\n\nclass Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n";
writeFileSync(texts, [code, code.replace(/a/g, "q"), code.toUpperCase()].map((text) => JSON.stringify({ text })).join("\n") + "\n");
const CALIB = ["--calib", texts, "--calib-samples", "3", "--calib-tokens", "64"];

async function lowbit(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "", err = "";
  const c = await main(args, { out: (s) => void (out += s), err: (s) => void (err += s), errIsTTY: false, readStdin: () => Promise.resolve(null) });
  return { code: c, out, err };
}

test("quantize --method awq: the saved model records the method and loads without recalibration", async () => {
  const out = join(tmp, "awq");
  const r = await lowbit(["quantize", "--model", EMBEDDED_MODEL, "--quant", "w4a8-g128", "--method", "awq", ...CALIB, "--threads", "2", "--out", out, "--json"]);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as { quantization: Record<string, string | number> };
  assert.equal(j.quantization.method, "awq");
  const a = await LLM.load(EMBEDDED_MODEL, { quant: "w4a8-g128", quantMethod: "awq", calib: texts, calibSamples: 3, calibTokens: 64, threads: 2 });
  const b = await LLM.load(out, { threads: 2 });
  try {
    const ids = a.tokenizer.encode(code);
    assert.deepEqual(await b.logitsAll(ids), await a.logitsAll(ids), "the CLI's model is the library's, bit for bit");
  } finally {
    await a.dispose();
    await b.dispose();
  }
});

test("convert --type q4_0 --method gptq writes the library's GPTQ blocks", async () => {
  const file = join(tmp, "gptq.gguf");
  const r = await lowbit(["convert", "--model", EMBEDDED_MODEL, "--type", "q4_0", "--method", "gptq", ...CALIB, "--out", file, "--json"]);
  assert.equal(r.code, 0, r.err);
  // convert has no --threads: both use the default (physical cores), so the calibration passes are the same
  const m = await LLM.load(EMBEDDED_MODEL, { quant: "q4_0", quantMethod: "gptq", calib: texts, calibSamples: 3, calibTokens: 64 });
  try {
    const src = ggufSource(file), mine = m.asModelSource();
    const spec = llamaTensors(src.config).find((t) => t.name === "blk.1.ffn_down.weight")!;
    const g = src.read(spec, undefined, { format: "q4_0" }), l = mine.read(spec, undefined, { format: "q4_0" });
    assert.equal(g.dtype, "Q4_0");
    assert.ok(Buffer.from(g.bytes).equals(Buffer.from(l.bytes)), "the file's blocks are the loaded model's");
    const rtn = await LLM.load(EMBEDDED_MODEL, { quant: "q4_0", threads: 2 });
    try {
      assert.ok(!Buffer.from(rtn.asModelSource().read(spec, undefined, { format: "q4_0" }).bytes).equals(Buffer.from(g.bytes)), "GPTQ changed the blocks");
    } finally {
      await rtn.dispose();
    }
  } finally {
    await m.dispose();
  }
});

test("convert --type q4_k_m --method gptq|awq: the mix's Q4_K matrices calibrated, its other tensors llama-quantize's; lowbit and llama.cpp run it alike", async (t) => {
  const file = (m: string) => join(tmp, `k-${m}.gguf`);
  for (const m of ["rtn", "gptq", "awq"]) {
    const r = await lowbit(["convert", "--model", EMBEDDED_MODEL, "--type", "q4_k_m", "--method", m, ...CALIB, "--out", file(m), "--json"]);
    assert.equal(r.code, 0, r.err);
  }
  const rtn = openGguf(file("rtn"));
  for (const m of ["gptq", "awq"]) {
    const g = openGguf(file(m));
    let changed = 0, q4k = 0;
    for (const [name, ti] of rtn.tensors) {
      const gi = g.tensor(name);
      assert.equal(gi.typeName, ti.typeName, `${m} ${name}: the mix's type`);
      const same = readTensorBytes(g, gi).equals(readTensorBytes(rtn, ti));
      if (ti.typeName === "Q4_K" && name.startsWith("blk.")) (q4k++, changed += same ? 0 : 1);
      else if (m === "gptq") assert.ok(same, `gptq ${name} (${ti.typeName}): round to nearest, as llama-quantize`);
    }
    assert.ok(q4k >= 8, `${q4k} Q4_K layer matrices`);
    // GPTQ solves every Q4_K layer matrix; AWQ keeps s = 1 (RTN) where no alpha beats it on the calibration texts
    if (m === "gptq") assert.equal(changed, q4k, "gptq: every Q4_K layer matrix calibrated");
    else assert.ok(changed > 0, `awq: ${changed} of ${q4k} Q4_K layer matrices scaled`);
    const model = await LLM.load(file(m), { threads: 2 });
    try {
      const ids = model.tokenizer.encode(code);
      assert.ok((await model.logitsAll(ids)).every(Number.isFinite));
    } finally {
      await model.dispose();
    }
  }
  if (!prebuiltCpuVariants().includes("haswell")) return t.diagnostic("node-llama-cpp's haswell CPU variant is missing: llama.cpp comparison skipped");
  pinCpuVariant("haswell");
  for (const r of await runBothOnFile(file("gptq"), EMBEDDED_MODEL)) {
    assert.equal(bitsEqual(r.ours, r.their), r.ours.length, `GPTQ Q4_K_M ${JSON.stringify(r.ref.prompt)}: llama.cpp's logits bit for bit (max |diff| ${maxAbsDiff(r.ours, r.their)})`);
  }
});

test("bad method flags exit 2 naming the option", async () => {
  const cases: [string[], RegExp][] = [
    [["quantize", "--model", EMBEDDED_MODEL, "--quant", "w8a8", "--method", "gptq", "--out", join(tmp, "x")], /quantMethod gptq applies to the int4 formats/],
    [["quantize", "--model", EMBEDDED_MODEL, "--quant", "w4a16-g128", "--method", "best", "--out", join(tmp, "x")], /--method must be/],
    [["quantize", "--model", EMBEDDED_MODEL, "--quant", "w4a16-g128", "--method", "awq", "--act-order", "--out", join(tmp, "x")], /actOrder applies to quantMethod gptq only/],
    [["convert", "--model", EMBEDDED_MODEL, "--type", "q5_k_m", "--method", "gptq", "--out", join(tmp, "x.gguf")], /writes --type q4_0, q4_k or q4_k_m/],
    [["convert", "--model", EMBEDDED_MODEL, "--type", "q4_k_m", "--method", "gptq", "--one-shot", "--out", join(tmp, "x.gguf")], /layer by layer only/],
    [["convert", "--model", EMBEDDED_MODEL, "--type", "q4_k_m", "--method", "awq", "--act-order", "--out", join(tmp, "x.gguf")], /actOrder applies to quantMethod gptq only/],
  ];
  for (const [args, msg] of cases) {
    const r = await lowbit(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, msg);
  }
});
