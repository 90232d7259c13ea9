/**
 * RoPE scaling (Llama 3.1+ "llama3", "linear" as in DeepSeek-Coder v1) against
 * the real implementations:
 *   - the HF directory (the embedded tinycode-7m weights with a rope scaling
 *     block in config.json) against transformers' LlamaForCausalLM in float32
 *     (test/fixtures/rope-scaling/*.json, made by
 *     scripts/oracle/rope_scaling_reference.py on the device machine):
 *     inv_freq, last-position logits, teacher-forced NLL, 32 greedy tokens;
 *   - the GGUF file lowbit writes from it (rope_freqs.weight for llama3, as
 *     llama.cpp's converter writes it; rope.scaling.* keys for linear) against
 *     lowbit on the HF directory (bit for bit) and against llama.cpp
 *     (node-llama-cpp's CPU build) on the same file: greedy tokens and top-10
 *     probabilities.
 * On b276a23 the HF configs were refused and a GGUF's rope_freqs.weight was
 * silently ignored (the GGUF case here then disagrees with llama.cpp).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../src/index.js";
import { exportGguf } from "../src/formats/gguf-export.js";
import { openGguf } from "../src/formats/gguf.js";
import { LlamaCppModel } from "../src/llamacpp/oracle.js";
import { hfSource } from "../src/models/source.js";
import { llama3FreqFactors, parseRopeScaling } from "../src/models/rope-scaling.js";
import { EMBEDDED_MODEL, REPO } from "./helpers/paths.js";

interface RefPrompt { input_ids: number[]; top_ids: number[]; top_logits: number[]; last_logsumexp: number; nll: number[]; greedy_ids: number[] }
interface Ref { rope_parameters: Record<string, unknown>; transformers: string; inv_freq: number[]; prompts: RefPrompt[] }

const FIXTURES = join(REPO, "test", "fixtures", "rope-scaling");
const VARIANTS = ["llama3", "linear"] as const;
const N_GEN = 32;
/** f32 logits of the same model in lowbit (llama.cpp's rope cache, f32 accumulation) and PyTorch differ by rounding only */
const LOGIT_ATOL = 2e-3;
const NLL_ATOL = 1e-3;
/** llama.cpp's top-10 probabilities on the f32 file, relative (as the f32 bound in gguf-llamacpp.test.ts) */
const PROB_RTOL = 1e-3;

/** The scaling blocks the fixtures were made with (scripts/oracle/rope_scaling_reference.py). */
const BLOCKS: Record<(typeof VARIANTS)[number], Record<string, unknown>> = {
  // original context 64: wavelengths above 64 divided by 8, 16..64 a ramp, below 16 kept
  llama3: { rope_type: "llama3", rope_theta: 10000.0, factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 64 },
  linear: { rope_type: "linear", rope_theta: 10000.0, factor: 4.0 },
};
const hasRef = (v: string) => existsSync(join(FIXTURES, `${v}.json`));
const SKIP_NO_REF = "the transformers fixture is missing (make it with scripts/oracle/rope_scaling_reference.py where torch is)";
const ref = (v: string): Ref => {
  const r = JSON.parse(readFileSync(join(FIXTURES, `${v}.json`), "utf8")) as Ref;
  assert.deepEqual(r.rope_parameters, BLOCKS[v as keyof typeof BLOCKS], "the fixture was made with this block");
  return r;
};
const prompts = (): { input_ids: number[] }[] => (JSON.parse(readFileSync(join(EMBEDDED_MODEL, "reference.json"), "utf8")) as { prompts: { input_ids: number[] }[] }).prompts;

/** tinycode-7m's files with `rope` as config.json's rope_parameters. */
function scaledDir(tmp: string, name: string, rope: Record<string, unknown>): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(EMBEDDED_MODEL, "config.json"), "utf8")) as Record<string, unknown>;
  cfg.rope_parameters = rope;
  for (const f of ["model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]) copyFileSync(join(EMBEDDED_MODEL, f), join(dir, f));
  writeFileSync(join(dir, "config.json"), JSON.stringify(cfg, null, 2));
  return dir;
}

function softmax(x: Float32Array): Float64Array {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  const p = new Float64Array(x.length);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += p[i] = Math.exp(x[i]! - m);
  for (let i = 0; i < x.length; i++) p[i]! /= s;
  return p;
}

function logsumexp(x: Float32Array): number {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  let s = 0;
  for (const v of x) s += Math.exp(v - m);
  return m + Math.log(s);
}

async function greedy(m: LLM, ids: number[]): Promise<number[]> {
  m.resetCache();
  return (await m.generate(ids, { maxNewTokens: N_GEN, temperature: 0, stopAtEos: false })).ids;
}

test("llama3 frequency factors equal transformers' inv_freq ratio (the formula llama.cpp's converter writes as rope_freqs)", { skip: !hasRef("llama3") && SKIP_NO_REF }, () => {
  const r = ref("llama3");
  const s = parseRopeScaling(r.rope_parameters, "fixture");
  assert.equal(s?.type, "llama3");
  const theta = r.rope_parameters.rope_theta as number, hd = 64;
  const f = llama3FreqFactors(s as Extract<typeof s, { type: "llama3" }>, theta, hd);
  assert.equal(f.length, hd / 2);
  let worst = 0;
  for (let i = 0; i < hd / 2; i++) {
    const base = Math.fround(1 / Math.fround(Math.pow(theta, i * 2 / hd)));
    worst = Math.max(worst, Math.abs(base / f[i]! - r.inv_freq[i]!) / r.inv_freq[i]!);
  }
  assert.ok(worst < 1e-6, `inv_freq / factors differs from transformers by ${worst} (relative)`);
  assert.ok(f.some((v) => v === 8) && f.some((v) => v === 1) && f.some((v) => v > 1 && v < 8), "the fixture covers all three bands");
});

for (const v of VARIANTS) {
  test(`${v} rope scaling: lowbit on the HF directory matches transformers (f32)`, { skip: !hasRef(v) && SKIP_NO_REF }, async (t) => {
    const r = ref(v);
    const tmp = mkdtempSync(join(tmpdir(), "lowbit-rope-"));
    const m = await LLM.load(scaledDir(tmp, v, r.rope_parameters), { dtype: "f32", threads: 2 });
    const plain = await LLM.load(EMBEDDED_MODEL, { dtype: "f32", threads: 2 });
    try {
      let worstLogit = 0, worstNll = 0, plainDiffers = 0;
      for (const p of r.prompts) {
        m.resetCache();
        const logits = await m.logits(p.input_ids);
        p.top_ids.forEach((id, k) => (worstLogit = Math.max(worstLogit, Math.abs(logits[id]! - p.top_logits[k]!))));
        worstLogit = Math.max(worstLogit, Math.abs(logsumexp(logits) - p.last_logsumexp));
        m.resetCache();
        const nll = await m.nll(p.input_ids);
        assert.equal(nll.length, p.nll.length);
        nll.forEach((x, i) => (worstNll = Math.max(worstNll, Math.abs(x - p.nll[i]!))));
        assert.deepEqual(await greedy(m, p.input_ids), p.greedy_ids, `${v}: greedy ids of ${JSON.stringify(p.input_ids)}`);
        if (JSON.stringify(await greedy(plain, p.input_ids)) !== JSON.stringify(p.greedy_ids)) plainDiffers++;
      }
      t.diagnostic(`${v}: max |logit - transformers| ${worstLogit.toExponential(2)}, max |nll - transformers| ${worstNll.toExponential(2)}; unscaled model differs on ${plainDiffers}/${r.prompts.length} prompts`);
      assert.ok(worstLogit <= LOGIT_ATOL, `${v}: logits differ from transformers by ${worstLogit}`);
      assert.ok(worstNll <= NLL_ATOL, `${v}: NLL differs from transformers by ${worstNll}`);
      // the fixture has teeth: ignoring the scaling changes the greedy output
      assert.ok(plainDiffers > 0, `${v}: the unscaled model gives transformers' scaled output: the fixture cannot tell`);
    } finally {
      await m.dispose();
      await plain.dispose();
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test(`${v} rope scaling: the GGUF file lowbit writes runs as the HF directory in lowbit and as llama.cpp runs it`, async (t) => {
    const tmp = mkdtempSync(join(tmpdir(), "lowbit-rope-"));
    const dir = scaledDir(tmp, v, BLOCKS[v]);
    const file = join(tmp, `${v}.gguf`);
    exportGguf(hfSource(dir), file, "f32");
    const g = openGguf(file);
    if (v === "llama3") {
      assert.deepEqual(g.tensors.get("rope_freqs.weight")?.dims, [32]);
      assert.equal(g.has("llama.rope.scaling.type"), false);
    } else {
      assert.equal(g.getString("llama.rope.scaling.type"), "linear");
      assert.equal(g.getFloat("llama.rope.scaling.factor"), 4);
      assert.equal(g.tensors.has("rope_freqs.weight"), false);
    }
    const a = await LLM.load(file, { dtype: "f32", threads: 2 });
    const b = await LLM.load(dir, { dtype: "f32", threads: 2 });
    const plain = await LLM.load(EMBEDDED_MODEL, { dtype: "f32", threads: 2 });
    const theirs = await LlamaCppModel.load(file, { threads: 2, contextSize: 256, kvCache: "F32" });
    try {
      assert.deepEqual(a.config.ropeScaling?.type, v === "llama3" ? "freq-factors" : "linear");
      let worst = 0, plainDiffers = 0;
      for (const p of prompts()) {
        a.resetCache();
        b.resetCache();
        const la = await a.logits(p.input_ids);
        assert.deepEqual(la, await b.logits(p.input_ids), `${v}: GGUF vs HF logits`);
        const mine = await greedy(a, p.input_ids);
        if (JSON.stringify(await greedy(plain, p.input_ids)) !== JSON.stringify(mine)) plainDiffers++;
        const ll = await theirs.greedy(p.input_ids, N_GEN);
        assert.deepEqual(ll.ids, mine, `${v}: llama.cpp vs lowbit greedy ids on the same GGUF`);
        const probs = softmax(la);
        for (const [id, q] of [...ll.probs.entries()].sort((x, y) => y[1] - x[1]).slice(0, 10)) worst = Math.max(worst, Math.abs(probs[id]! - q) / q);
      }
      t.diagnostic(`${v}: llama.cpp top-10 probabilities max rel diff ${worst.toExponential(2)}; the unscaled model differs on ${plainDiffers}/5 prompts`);
      assert.ok(worst <= PROB_RTOL, `${v}: llama.cpp's probabilities differ by ${worst}`);
      assert.ok(plainDiffers >= 3, `${v}: the scaling changes too few greedy outputs (${plainDiffers}/5) for this test to tell`);
    } finally {
      await plain.dispose();
      await theirs.dispose();
      await a.dispose();
      await b.dispose();
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}
