/**
 * The model families (src/models/family.ts) against the real implementations,
 * on tiny random-weight checkpoints (hidden 64, 2 layers, 4 heads, 2 KV heads
 * where the family has GQA, sliding windows of 8 tokens, a 384-token
 * byte-level BPE with the family's pre-tokenizer; test/fixtures/families/<name>,
 * made by scripts/oracle/families_reference.py):
 *   - lowbit on the HF directory (bf16 weights, computed in f32) against
 *     transformers' f32 eager forward (reference.json): the last position's
 *     full logits, the teacher-forced NLL of every prompt token, 16 greedy
 *     tokens (transformers: a full forward per token; lowbit: the KV cache);
 *     the prompt ids from lowbit's tokenizer equal transformers';
 *   - lowbit on model.gguf (f32, llama.cpp's own convert_hf_to_gguf.py)
 *     against llama.cpp (node-llama-cpp's CPU build, pinned to its haswell
 *     variant, f32 KV cache) on the same file: next-token logits after each
 *     prompt and 16 greedy tokens; and the GGUF's prompt tokens.
 * Measured errors are printed as diagnostics (docs/MODELS.md has them).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LLM } from "../src/index.js";
import { LlamaCppModel } from "../src/llamacpp/oracle.js";
import { loadedCpuVariant, pinCpuVariant, prebuiltCpuVariants } from "../src/llamacpp/prebuilt-variant.js";
import { REPO } from "./helpers/paths.js";

const PIN = "haswell";
if (prebuiltCpuVariants().includes(PIN)) pinCpuVariant(PIN);

interface RefPrompt { text: string; input_ids: number[]; last_logits: number[]; nll: number[]; greedy_ids: number[] }
interface Ref { family: string; model_type: string; pre_tokenizer: string; prompts: RefPrompt[] }

const FIXTURES = join(REPO, "test", "fixtures", "families");
/** the families lowbit runs, in the issue's order; `gguf`: llama.cpp's converter writes it */
const FAMILIES: { name: string; gguf: boolean }[] = [
  { name: "qwen2", gguf: true },
  { name: "mistral", gguf: true },
  { name: "qwen3", gguf: true },
  { name: "starcoder2", gguf: true },
  { name: "gpt_bigcode", gguf: true },
  { name: "phi3", gguf: true },
  { name: "gemma2", gguf: true },
  { name: "gemma3", gguf: true },
  { name: "falcon", gguf: true },
  { name: "gpt_neox", gguf: true },
  { name: "gptj", gguf: false },
  { name: "mpt", gguf: true },
  { name: "bloom", gguf: true },
  { name: "opt", gguf: false },
];
const GREEDY = 16;
/**
 * f32 logits of the same weights in lowbit and in PyTorch differ by rounding
 * only (other summation orders; llama.cpp's rope cache): bounds relative to
 * the prompt's largest |logit|.
 */
const HF_LOGIT_RTOL = 1e-4;
const HF_NLL_ATOL = 1e-4;
/** lowbit and llama.cpp on the f32 GGUF: f32 matmuls in other orders (as gguf-llamacpp.test.ts's F32 bound) */
const GGUF_LOGIT_RTOL = 1e-4;

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const exp = (v: number) => v.toExponential(2);

function ref(name: string): Ref {
  return JSON.parse(readFileSync(join(FIXTURES, name, "reference.json"), "utf8")) as Ref;
}

for (const fam of FAMILIES) {
  const dir = join(FIXTURES, fam.name);
  const skip = existsSync(join(dir, "reference.json")) ? false : `no fixture ${dir}`;

  test(`${fam.name}: lowbit on the HF directory matches transformers (f32)`, { skip }, async (t) => {
    const r = ref(fam.name);
    const m = await LLM.load(dir, { dtype: "f32", threads: 2 });
    try {
      assert.equal(m.config.architecture, fam.name);
      const lines: string[] = [];
      for (const p of r.prompts) {
        assert.deepEqual(m.encode(p.text), p.input_ids, `${fam.name}: tokenizer ids of ${JSON.stringify(p.text)}`);
        m.resetCache();
        const logits = await m.logits(p.input_ids);
        const scale = maxAbs(p.last_logits), err = maxDiff(logits, p.last_logits);
        const nll = await m.nll(p.input_ids), nllErr = maxDiff(nll, p.nll);
        m.resetCache();
        const g = (await m.generate(p.input_ids, { maxNewTokens: GREEDY, temperature: 0, stopAtEos: false })).ids;
        lines.push(`logits max |diff| ${exp(err)} (max |logit| ${scale.toFixed(2)}), nll max |diff| ${exp(nllErr)}, greedy ${g.filter((v, i) => v === p.greedy_ids[i]).length}/${GREEDY}`);
        assert.ok(err <= HF_LOGIT_RTOL * scale, `${fam.name} ${JSON.stringify(p.text)}: logits differ by ${err} > ${HF_LOGIT_RTOL} x ${scale}`);
        assert.ok(nllErr <= HF_NLL_ATOL, `${fam.name}: nll differs by ${nllErr}`);
        assert.deepEqual(g, p.greedy_ids, `${fam.name} ${JSON.stringify(p.text)}: greedy ids`);
      }
      t.diagnostic(`${fam.name} HF vs transformers: ${lines.join("; ")}`);
    } finally {
      await m.dispose();
    }
  });

  const gguf = join(dir, "model.gguf");
  const skipGguf = skip || (!fam.gguf ? "llama.cpp's converter does not write this family" : !existsSync(gguf) ? `no ${gguf}` : false);
  test(`${fam.name}: lowbit on model.gguf matches llama.cpp on the same file (f32)`, { skip: skipGguf }, async (t) => {
    const r = ref(fam.name);
    const ours = await LLM.load(gguf, { threads: 2 });
    const theirs = await LlamaCppModel.load(gguf, { threads: 2, contextSize: 256, kvCache: "F32" });
    try {
      const lines: string[] = [];
      for (const p of r.prompts) {
        assert.deepEqual(ours.encode(p.text), theirs.tokenize(p.text), `${fam.name}: GGUF tokenizer ids of ${JSON.stringify(p.text)}`);
        ours.resetCache();
        const mine = await ours.logits(p.input_ids);
        const run = await theirs.greedy(p.input_ids, GREEDY);
        const their = new Float32Array(mine.length).fill(Number.NaN);
        for (const [id, v] of run.logits) their[id] = v;
        const scale = maxAbs(their), err = maxDiff(mine, their);
        ours.resetCache();
        const g = (await ours.generate(p.input_ids, { maxNewTokens: GREEDY, temperature: 0, stopAtEos: false })).ids;
        // llama.cpp stops at an end-of-generation token: the ids it gave are a prefix of lowbit's, which has eos next
        const same = run.ids.every((v, i) => v === g[i]);
        lines.push(`logits max |diff| ${exp(err)} (max |logit| ${scale.toFixed(2)}), greedy ${run.ids.length === GREEDY ? "" : `${run.ids.length} (llama.cpp stopped at eos) `}${same ? "equal" : "differ"}`);
        assert.ok(err <= GGUF_LOGIT_RTOL * scale, `${fam.name} ${JSON.stringify(p.text)}: logits differ from llama.cpp's by ${err} > ${GGUF_LOGIT_RTOL} x ${scale}`);
        assert.ok(same, `${fam.name} ${JSON.stringify(p.text)}: greedy ids lowbit ${g} llama.cpp ${run.ids}`);
        if (run.ids.length < GREEDY) assert.ok(ours.config.eosTokenIds.includes(g[run.ids.length]!), `${fam.name}: llama.cpp stopped where lowbit has no eos`);
      }
      t.diagnostic(`${fam.name} GGUF [llama.cpp ${loadedCpuVariant()}]: ${lines.join("; ")}`);
    } finally {
      await theirs.dispose();
      await ours.dispose();
    }
  });
}

/**
 * Every weight format runs on every family (the graph never names a format):
 * each family's HF directory in the 8-bit and 4-bit formats (g32 groups: the
 * rows are 64 and 128 wide), next-token logits after each prompt against the
 * f32 model's. Bounds relative to the largest |logit|, from the measured errors
 * (docs/MODELS.md) with a margin: quantization moves these random-weight
 * models' logits by a few percent (8-bit) to ~20% (4-bit).
 */
const QUANTS = [["w8a8", 0.05], ["q8_0", 0.05], ["w4a16-g32", 0.3], ["w4a8-g32", 0.3], ["q4_0", 0.3]] as const;
for (const fam of FAMILIES) {
  const dir = join(FIXTURES, fam.name);
  const skip = existsSync(join(dir, "reference.json")) ? false : `no fixture ${dir}`;
  test(`${fam.name}: every quantized format runs (logits near f32's)`, { skip }, async (t) => {
    const r = ref(fam.name);
    const f32 = await LLM.load(dir, { dtype: "f32", threads: 2 });
    const base: Float32Array[] = [];
    for (const p of r.prompts) {
      f32.resetCache();
      base.push(await f32.logits(p.input_ids));
    }
    await f32.dispose();
    const lines: string[] = [];
    for (const [quant, rtol] of QUANTS) {
      const m = await LLM.load(dir, { dtype: "f32", quant, threads: 2 });
      try {
        let worst = 0;
        for (const [i, p] of r.prompts.entries()) {
          m.resetCache();
          const l = await m.logits(p.input_ids);
          assert.ok(l.every(Number.isFinite), `${fam.name} ${quant}: finite logits`);
          worst = Math.max(worst, maxDiff(l, base[i]!) / maxAbs(base[i]!));
        }
        lines.push(`${quant} ${exp(worst)}`);
        assert.ok(worst <= rtol, `${fam.name} ${quant}: logits differ from f32's by ${worst} of their scale > ${rtol}`);
      } finally {
        await m.dispose();
      }
    }
    t.diagnostic(`${fam.name} quantized vs f32 (max |diff| / max |logit|): ${lines.join(", ")}`);
  });
}
