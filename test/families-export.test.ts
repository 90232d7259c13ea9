/**
 * lowbit's GGUF export (`lowbit convert`, src/formats/gguf-export.ts) of every
 * family llama.cpp has a GGUF form for: each fixture's HF directory written
 * as an f32 GGUF with the family's keys and llama.cpp's fused tensors, then
 *   - lowbit on that file computes what lowbit on the HF directory does (bit
 *     for bit where the graph is the same: no table GELU);
 *   - llama.cpp loads it and agrees with lowbit (as families.test.ts's bounds).
 * Families whose mechanism the GGUF form cannot carry are refused by name.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../src/index.js";
import { exportGguf } from "../src/formats/gguf-export.js";
import { openGguf, readTensorBytes } from "../src/formats/gguf.js";
import type { GgufValue } from "../src/formats/gguf-types.js";
import { gv, writeGguf } from "../src/formats/gguf-write.js";
import { LlamaCppModel } from "../src/llamacpp/oracle.js";
import { pinCpuVariant, prebuiltCpuVariants } from "../src/llamacpp/prebuilt-variant.js";
import { hfSource } from "../src/models/source.js";
import { UnsupportedArchitectureError } from "../src/errors.js";
import { maxAbs, maxAbsDiff, theirLogits } from "./helpers/llamacpp-agree.js";
import { REPO } from "./helpers/paths.js";

if (prebuiltCpuVariants().includes("haswell")) pinCpuVariant("haswell");
const FIXTURES = join(REPO, "test", "fixtures", "families");
/** gelu: llama.cpp's (and lowbit's GGUF) GELU is the f16 table; llamacpp: false where llama.cpp cannot load it */
const EXPORTED: { name: string; gelu: boolean; llamacpp: boolean | string }[] = [
  { name: "qwen2", gelu: false, llamacpp: true },
  { name: "qwen3", gelu: false, llamacpp: true },
  { name: "gpt_bigcode", gelu: true, llamacpp: true },
  { name: "phi3", gelu: false, llamacpp: "its vocabulary (llama.cpp's phi3 needs Phi-3's special tokens)" },
  { name: "gemma2", gelu: true, llamacpp: true },
  { name: "gemma3", gelu: true, llamacpp: true },
  { name: "falcon", gelu: true, llamacpp: true },
  { name: "falcon_gqa", gelu: true, llamacpp: true },
  { name: "gpt_neox", gelu: true, llamacpp: true },
  { name: "mpt", gelu: true, llamacpp: true },
  { name: "bloom", gelu: true, llamacpp: true },
];
const REFUSED: [string, RegExp][] = [
  ["mistral", /sliding window \(8 tokens\) has no GGUF form/],
  ["starcoder2", /sliding window \(8 tokens\) has no GGUF form/],
  ["gptj", /llama\.cpp has no GGUF form of this family/],
  ["opt", /llama\.cpp has no GGUF form of this family/],
];
const have = existsSync(join(FIXTURES, "qwen2", "reference.json"));

for (const fam of EXPORTED) {
  test(`${fam.name}: lowbit's GGUF export runs in lowbit and in llama.cpp`, { skip: have ? false : "no fixtures" }, async (t) => {
    const dir = join(FIXTURES, fam.name);
    const prompts = (JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as { prompts: { input_ids: number[] }[] }).prompts;
    const tmp = mkdtempSync(join(tmpdir(), `lowbit-export-${fam.name}-`));
    const file = join(tmp, "model.gguf");
    try {
      exportGguf(hfSource(dir), file, "f32");
      const hf = await LLM.load(dir, { dtype: "f32", threads: 2 });
      const gg = await LLM.load(file, { threads: 2 });
      assert.equal(gg.config.architecture, fam.name);
      const ours: Float32Array[] = [], greedy: number[][] = [];
      let worstHf = 0;
      for (const p of prompts) {
        hf.resetCache();
        gg.resetCache();
        const a = await hf.logits(p.input_ids), b = await gg.logits(p.input_ids);
        if (!fam.gelu) assert.ok(a.every((v, i) => Object.is(v, b[i])), `${fam.name}: GGUF logits bit-equal to the HF directory's`);
        worstHf = Math.max(worstHf, maxAbsDiff(a, b) / maxAbs(a));
        ours.push(b);
        gg.resetCache();
        greedy.push((await gg.generate(p.input_ids, { maxNewTokens: 16, temperature: 0, stopAtEos: false })).ids);
      }
      await hf.dispose();
      await gg.dispose();
      // GELU families: the GGUF runs llama.cpp's f16-table GELU, the HF model transformers' formula (measured <= 6.9e-4 of the scale)
      assert.ok(worstHf <= 2e-3, `${fam.name}: exported GGUF vs HF ${worstHf}`);
      if (fam.llamacpp !== true) {
        t.diagnostic(`${fam.name}: exported GGUF vs HF directory ${worstHf.toExponential(2)}; llama.cpp not run: ${fam.llamacpp}`);
        return;
      }
      const theirs = await LlamaCppModel.load(file, { threads: 2, contextSize: 256, kvCache: "F32" });
      let worst = 0;
      try {
        for (const [i, p] of prompts.entries()) {
          const r = await theirs.greedy(p.input_ids, 16);
          const their = theirLogits(r.logits, ours[i]!.length);
          worst = Math.max(worst, maxAbsDiff(ours[i]!, their) / maxAbs(their));
          assert.ok(r.ids.every((v, j) => v === greedy[i]![j]), `${fam.name}: greedy ids lowbit ${greedy[i]} llama.cpp ${r.ids}`);
        }
      } finally {
        await theirs.dispose();
      }
      t.diagnostic(`${fam.name}: exported GGUF vs HF directory ${worstHf.toExponential(2)}; vs llama.cpp on it ${worst.toExponential(2)}`);
      assert.ok(worst <= (fam.gelu ? 1e-3 : 1e-5), `${fam.name}: llama.cpp's logits on the exported file differ by ${worst} of their scale`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

test("GGUF export refuses what the family's GGUF form cannot carry, by name", { skip: have ? false : "no fixtures" }, () => {
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-export-"));
  try {
    for (const [name, re] of REFUSED) {
      assert.throws(() => exportGguf(hfSource(join(FIXTURES, name)), join(tmp, `${name}.gguf`), "f32"),
        (e: Error) => e instanceof UnsupportedArchitectureError && re.test(e.message), name);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

/** `file` written again to `out` with its metadata edited (tensors copied as they are). */
function rewrite(file: string, out: string, edit: (m: Map<string, GgufValue>) => void): void {
  const f = openGguf(file);
  const metadata = new Map(f.metadata);
  edit(metadata);
  const tensors = [...f.tensors.values()].map((t) => ({ name: t.name, dims: t.dims, type: t.typeName, data: Uint8Array.from(readTensorBytes(f, t)) }));
  writeGguf(out, { metadata: [...metadata], tensors });
}

test("GGUF metadata of a variant lowbit does not run is refused by name", { skip: have ? false : "no fixtures" }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-export-"));
  try {
    const cases: [string, (m: Map<string, GgufValue>) => void, RegExp][] = [
      ["falcon", (m) => m.set("falcon.attention.head_count_kv", gv.u32(2)), /falcon with 2 KV heads and one norm per layer \(no attn_norm_2\)/],
      ["mpt", (m) => m.set("mpt.attention.clamp_kqv", gv.f32(6)), /mpt\.attention\.clamp_kqv/],
      ["gpt_neox", (m) => m.set("gptneox.use_parallel_residual", gv.bool(false)), /use_parallel_residual=false/],
      ["qwen2", (m) => m.set("general.architecture", gv.str("qwen2moe")), /general\.architecture "qwen2moe" is not supported/],
      ["qwen3", (m) => m.set("qwen3.expert_count", gv.u32(8)), /mixture-of-experts qwen3/],
    ];
    for (const [name, edit, re] of cases) {
      const file = join(tmp, `${name}.gguf`), bad = join(tmp, `${name}-bad.gguf`);
      exportGguf(hfSource(join(FIXTURES, name)), file, "f32");
      rewrite(file, bad, edit);
      await assert.rejects(LLM.load(bad, { threads: 1 }), (e: Error) => e instanceof UnsupportedArchitectureError && re.test(e.message), name);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
