/**
 * Rope scalings that change per forward step or per layer, on the family fixtures' weights
 * (scripts/oracle/rope_variants_reference.py, transformers 5.18 + torch 2.13 CPU):
 *
 * - phi3-longrope (Phi-3 128k, Phi-3.5): original_max_position_embeddings 16, max 64.
 *   transformers picks the short or the long factors per forward step from its last position and
 *   multiplies cos / sin by the attention factor sqrt(1 + ln 4 / ln 16); lowbit does the same.
 *   Prompt 0 has 10 tokens (short factors, then long ones once decoding passes position 16, cached
 *   keys keeping their rotation); prompt 1 has 30 (long from the prefill on). From the HF directory
 *   and from llama.cpp's own conversion of it (rope_factors_long / rope_factors_short tensors).
 * - gemma3-linear (Gemma 3 4B and larger): linear scaling (factor 8) of the global layers' rope
 *   only. From the HF directory against transformers, and lowbit's GGUF export of it
 *   (rope.scaling.type linear, the window pattern) against llama.cpp on the same file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../src/index.js";
import { parseConfig } from "../src/config.js";
import { InvalidOptionError } from "../src/errors.js";
import { LlamaCppModel } from "../src/llamacpp/oracle.js";
import { exportGguf } from "../src/formats/gguf-export.js";
import { hfSource } from "../src/models/source.js";
import { pinCpuVariant, prebuiltCpuVariants } from "../src/llamacpp/prebuilt-variant.js";
import { agreeOnPrompt, maxAbs, maxAbsDiff } from "./helpers/llamacpp-agree.js";
import { REPO } from "./helpers/paths.js";

if (prebuiltCpuVariants().includes("haswell")) pinCpuVariant("haswell");

const DIR = join(REPO, "test", "fixtures", "families", "phi3-longrope");
const GEMMA = join(REPO, "test", "fixtures", "families", "gemma3-linear");
interface Ref { prompts: { text: string; input_ids: number[]; last_logits: number[]; greedy_ids: number[]; final_logits: number[] }[] }
const ref = (dir: string) => JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as Ref;
const REF = ref(DIR);
/** f32 both sides, other summation orders (the families' bound) */
const RTOL = 1e-5;


const CASES: [string, string, Ref, string][] = [
  ["longrope from the HF directory", DIR, REF, "longrope"],
  ["longrope from the GGUF (llama.cpp's converter)", join(DIR, "model.gguf"), REF, "longrope"],
  ["Gemma 3 global-layer linear scaling from the HF directory", GEMMA, ref(GEMMA), "linear"],
];
for (const [what, path, R, type] of CASES) {
  test(`${what}: prefill logits, cached greedy decoding, last step's logits equal transformers'`, async (t) => {
    const m = await LLM.load(path, { dtype: "f32", threads: 2 });
    try {
      assert.equal(m.config.ropeScaling?.type, type);
      const lines: string[] = [];
      for (const p of R.prompts) {
        m.resetCache();
        // the prefill, then greedy one token at a time through the cache, as transformers' reference decoded
        const { first, got, logits, positions } = await m.withStepper(async (s) => {
          s.clear();
          let l = Float32Array.from((await s.step(p.input_ids, 0)).logits);
          const first = l, got: number[] = [];
          let pos = p.input_ids.length;
          for (let i = 0; i < p.greedy_ids.length; i++) {
            const next = l.indexOf(Math.max(...l));
            got.push(next);
            l = Float32Array.from((await s.step([next], pos++)).logits);
          }
          s.clear();
          return { first, got, logits: l, positions: pos };
        });
        const e1 = maxAbsDiff(first, p.last_logits) / maxAbs(p.last_logits);
        assert.ok(e1 <= RTOL, `${what} ${JSON.stringify(p.text)}: prefill logits ${e1}`);
        assert.deepEqual(got, p.greedy_ids, `${what} ${JSON.stringify(p.text)}: greedy ids`);
        const e2 = maxAbsDiff(logits, p.final_logits) / maxAbs(p.final_logits);
        assert.ok(e2 <= RTOL, `${what}: logits after ${positions} positions ${e2}`);
        lines.push(`${p.input_ids.length} tokens: prefill ${e1.toExponential(1)}, after ${positions} ${e2.toExponential(1)}, greedy 16/16`);
      }
      t.diagnostic(`${what}: ${lines.join("; ")}`);
    } finally {
      await m.dispose();
    }
  });
}

test("Gemma 3 global-layer linear scaling in GGUF: lowbit's export of the directory (rope.scaling, window pattern) runs in llama.cpp as in lowbit", async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-gemma-export-"));
  const file = join(tmp, "model.gguf");
  exportGguf(hfSource(GEMMA), file, "f32");
  const hf = await LLM.load(GEMMA, { dtype: "f32", threads: 2 });
  const ours = await LLM.load(file, { threads: 2 });
  const theirs = await LlamaCppModel.load(file, { threads: 2, contextSize: 64, kvCache: "F32" });
  try {
    assert.deepEqual(ours.config.ropeScaling, hf.config.ropeScaling);
    assert.deepEqual(ours.config.family?.windows, hf.config.family?.windows, "the global layer stays global");
    const lines: string[] = [];
    for (const p of ref(GEMMA).prompts) {
      const { err, scale, mine, theirs: ids, prefix } = await agreeOnPrompt(ours, theirs, p.input_ids, 16);
      lines.push(`${(err / scale).toExponential(1)}, greedy ${prefix ? "equal" : "differ"}`);
      // llama.cpp's table GELU (families.test.ts's GGUF bound)
      assert.ok(err <= 1e-3 * scale, `gemma3-linear GGUF: ${err} > 1e-3 x ${scale}`);
      assert.ok(prefix, `greedy lowbit ${mine} llama.cpp ${ids}`);
    }
    t.diagnostic(`gemma3-linear, lowbit's GGUF export, lowbit vs llama.cpp: ${lines.join("; ")}`);
  } finally {
    await theirs.dispose();
    await ours.dispose();
    await hf.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("a Phi-3.5-style config.json (rope_scaling with type longrope, original_max_position_embeddings at the top) reads as the fixture's", async () => {
  const cfg = JSON.parse(readFileSync(join(DIR, "config.json"), "utf8")) as Record<string, unknown> & { rope_parameters: Record<string, unknown> };
  const rp = cfg.rope_parameters;
  const v4 = { ...cfg, rope_parameters: undefined, rope_theta: 10000, rope_scaling: { type: "longrope", short_factor: rp.short_factor, long_factor: rp.long_factor } };
  const a = parseConfig(cfg, "fixture"), b = parseConfig(v4, "v4-style");
  assert.deepEqual(b.ropeScaling, a.ropeScaling);
  assert.equal(a.ropeScaling?.type === "longrope" && a.ropeScaling.attentionFactor, Math.sqrt(1 + Math.log(4) / Math.log(16)));
  assert.throws(() => parseConfig({ ...v4, rope_scaling: { type: "longrope", short_factor: [1, 2], long_factor: [1] } }, "bad"), /differ in length/);
  assert.throws(() => parseConfig({ ...v4, original_max_position_embeddings: undefined, rope_scaling: { type: "longrope", short_factor: [1], long_factor: [1] } }, "bad"), /must be a positive number/);
});

test("without longrope or without Gemma 3's scaling the logits are not transformers' (the tests can fail); longrope's context shift past the original context is refused", async () => {
  // the same weights with plain RoPE: prompt 1 (long factors from its prefill) moves far off
  const cfg = JSON.parse(readFileSync(join(DIR, "config.json"), "utf8")) as Record<string, unknown>;
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-longrope-"));
  try {
    cpSync(DIR, tmp, { recursive: true });
    writeFileSync(join(tmp, "config.json"), JSON.stringify({ ...cfg, rope_parameters: { rope_type: "default", rope_theta: 10000 } }));
    const plain = await LLM.load(tmp, { dtype: "f32", threads: 1 });
    try {
      const p = REF.prompts[1]!;
      const e = maxAbsDiff(await plain.logits(p.input_ids), p.last_logits) / maxAbs(p.last_logits);
      assert.ok(e > 100 * RTOL, `plain RoPE is as close as ${e}`);
    } finally {
      await plain.dispose();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  // the Gemma 3 weights without the global layers' scaling miss transformers' scaled logits by far more
  const unscaled = await LLM.load(join(REPO, "test", "fixtures", "families", "gemma3"), { dtype: "f32", threads: 1 });
  try {
    for (const p of ref(GEMMA).prompts) {
      const e = maxAbsDiff(await unscaled.logits(p.input_ids), p.last_logits) / maxAbs(p.last_logits);
      assert.ok(e > 100 * RTOL, `unscaled Gemma 3 is as close as ${e}`);
    }
  } finally {
    await unscaled.dispose();
  }
  const m = await LLM.load(DIR, { dtype: "f32", threads: 1 });
  try {
    await assert.rejects(async () => m.generate("def f():", { maxNewTokens: 4, contextShift: {} }), (e: Error) => e instanceof InvalidOptionError && /longrope.*at most 16/.test(e.message));
  } finally {
    await m.dispose();
  }
  const small = await LLM.load(DIR, { dtype: "f32", threads: 1, contextLength: 16 });
  try {
    const r = await small.generate("def f():", { maxNewTokens: 20, temperature: 0, stopAtEos: false, contextShift: {} });
    assert.equal(r.ids.length, 20);
  } finally {
    await small.dispose();
  }
});
