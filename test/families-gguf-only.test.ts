/**
 * The architectures lowbit reads from GGUF files only (their Hugging Face
 * code needs trust_remote_code): Baichuan (7B: RoPE; 13B: ALiBi), Qwen (v1)
 * and ChatGLM2/3. Random-weight files in llama.cpp's layout
 * (helpers/family-gguf.ts); lowbit on each against llama.cpp (node-llama-cpp's
 * CPU build, pinned to its haswell variant, f32 KV cache) on the same file:
 * full next-token logits and 16 greedy tokens for three prompts. Then every
 * weight format on the file, lowbit's own GGUF export read back by llama.cpp,
 * `lowbit info` and `lowbit generate`, and the depths llama.cpp gives Baichuan no positions for.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../src/index.js";
import { StateError, UnsupportedArchitectureError } from "../src/errors.js";
import { exportGguf } from "../src/formats/gguf-export.js";
import { LlamaCppModel } from "../src/llamacpp/oracle.js";
import { loadedCpuVariant, pinCpuVariant, prebuiltCpuVariants } from "../src/llamacpp/prebuilt-variant.js";
import { ggufSource } from "../src/models/gguf-source.js";
import { writeGgufOnlyModel, type ArchShape } from "./helpers/family-gguf.js";
import { agreeOnPrompt, maxAbs, maxAbsDiff } from "./helpers/llamacpp-agree.js";
import { REPO } from "./helpers/paths.js";

if (prebuiltCpuVariants().includes("haswell")) pinCpuVariant("haswell");

const VOCAB = join(REPO, "test", "fixtures", "families", "qwen2", "model.gguf");
const BIN = join(REPO, "bin", "lowbit.js");
const PROMPTS = [
  "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
  "The quick brown fox, 12345 jumps over 67 lazy dogs!",
  "import numpy as np\nx = np.arange(10)\nprint(x.sum())",
];
const GREEDY = 16;
/** f32 in both engines, other summation orders: measured <= 1e-6 of the logit scale */
const LOGIT_RTOL = 1e-5;

const CASES: { name: string; family: string; shape: ArchShape }[] = [
  { name: "baichuan 7B-style (32 layers, RoPE)", family: "baichuan", shape: { arch: "baichuan", layers: 32, hidden: 64, heads: 4, kvHeads: 4, ff: 128 } },
  { name: "baichuan 13B-style (40 layers, ALiBi)", family: "baichuan_alibi", shape: { arch: "baichuan", layers: 40, hidden: 64, heads: 4, kvHeads: 4, ff: 128 } },
  { name: "qwen (v1)", family: "qwen", shape: { arch: "qwen", layers: 2, hidden: 64, heads: 4, kvHeads: 4, ff: 128 } },
  { name: "chatglm (2 KV groups, tied head)", family: "chatglm", shape: { arch: "chatglm", layers: 2, hidden: 64, heads: 4, kvHeads: 2, ff: 128, tied: true } },
];

let tmp: string;
before(() => { tmp = mkdtempSync(join(tmpdir(), "lowbit-gguf-only-")); });
after(() => rmSync(tmp, { recursive: true, force: true }));


/** lowbit on `file` against llama.cpp on it: tokens, logits, greedy; returns lowbit's f32 last logits per prompt. */
async function againstLlamaCpp(file: string, label: string, diag: (s: string) => void): Promise<Float32Array[]> {
  const ours = await LLM.load(file, { threads: 2 });
  const theirs = await LlamaCppModel.load(file, { threads: 2, contextSize: 256, kvCache: "F32" });
  const out: Float32Array[] = [];
  try {
    const lines: string[] = [];
    for (const text of PROMPTS) {
      const ids = ours.encode(text);
      assert.deepEqual(ids, theirs.tokenize(text), `${label}: tokenizer ids of ${JSON.stringify(text)}`);
      const a = await agreeOnPrompt(ours, theirs, ids, GREEDY);
      out.push(Float32Array.from(a.ours));
      lines.push(`logits max |diff| ${a.err.toExponential(1)} (max |logit| ${a.scale.toFixed(2)}), greedy ${a.prefix ? "equal" : "differ"}`);
      assert.ok(a.err <= LOGIT_RTOL * a.scale, `${label} ${JSON.stringify(text)}: logits differ from llama.cpp's by ${a.err} > ${LOGIT_RTOL} x ${a.scale}`);
      assert.ok(a.theirs.length > 0 && a.prefix, `${label}: greedy lowbit ${a.mine} llama.cpp ${a.theirs}`);
      if (a.theirs.length < GREEDY) assert.ok(ours.config.eosTokenIds.includes(a.mine[a.theirs.length]!), `${label}: llama.cpp stopped where lowbit has no eos`);
    }
    diag(`${label} [llama.cpp ${loadedCpuVariant()}]: ${lines.join("; ")}`);
  } finally {
    await theirs.dispose();
    await ours.dispose();
  }
  return out;
}

for (const c of CASES) {
  test(`${c.name}: lowbit matches llama.cpp on the file; every weight format runs; the export loads in llama.cpp`, async (t) => {
    const file = join(tmp, `${c.family}.gguf`);
    writeGgufOnlyModel(file, c.shape, VOCAB);
    const f32 = await againstLlamaCpp(file, c.name, (s) => t.diagnostic(s));

    // every weight format on this family: near the f32 model (random weights: 8-bit <= 0.1, 4-bit <= 0.8 of the scale, as families.test.ts)
    const formats: [string, number][] = [["q8_0", 0.1], ["w8a8", 0.1], ["w4a16-g32", 0.8], ["w4a8-g32", 0.8], ["q4_0", 0.8]];
    const lines: string[] = [];
    for (const [quant, bound] of formats) {
      const m = await LLM.load(file, { threads: 2, quant: quant as never });
      try {
        assert.equal(m.config.architecture, c.family);
        let worst = 0;
        for (const [i, text] of PROMPTS.entries()) {
          m.resetCache();
          const l = await m.logits(m.encode(text));
          worst = Math.max(worst, maxAbsDiff(l, f32[i]!) / maxAbs(f32[i]!));
        }
        lines.push(`${quant} ${worst.toFixed(3)}`);
        assert.ok(worst <= bound, `${c.name} ${quant}: ${worst} > ${bound}`);
        assert.ok(worst > 0, `${c.name} ${quant}: identical to f32, so the format did not apply`);
      } finally {
        await m.dispose();
      }
    }
    t.diagnostic(`${c.name} formats vs f32: ${lines.join(", ")}`);

    // lowbit's GGUF export of the loaded file: llama.cpp runs it as it runs the original
    const again = join(tmp, `${c.family}-export.gguf`);
    exportGguf(ggufSource(file), again, "f32");
    const f32Again = await againstLlamaCpp(again, `${c.name} (lowbit's export)`, (s) => t.diagnostic(s));
    for (const [i, l] of f32Again.entries()) assert.deepEqual(l, f32[i], `${c.name}: the export computes what the file does`);

    const info = spawnSync(process.execPath, [BIN, "info", "--model", file, "--threads", "1", "--json"], { cwd: REPO, encoding: "utf8" });
    assert.equal(info.status, 0, info.stderr);
    assert.equal((JSON.parse(info.stdout) as { config: { architecture: string } }).config.architecture, c.family);
    // lowbit generate (greedy) prints what the library generates
    const m = await LLM.load(file, { threads: 1 });
    let want: string;
    try {
      want = (await m.generate(PROMPTS[0]!, { maxNewTokens: 8, temperature: 0, stopAtEos: false })).text;
    } finally {
      await m.dispose();
    }
    const gen = spawnSync(process.execPath, [BIN, "generate", "--model", file, "--threads", "1", "--prompt", PROMPTS[0]!, "--max-new-tokens", "8", "--temperature", "0", "--no-stop-at-eos"], { cwd: REPO, encoding: "utf8" });
    assert.equal(gen.status, 0, gen.stderr);
    assert.ok(gen.stdout.includes(want), `lowbit generate printed ${JSON.stringify(gen.stdout)}, the library ${JSON.stringify(want)}`);
  });
}

for (const c of CASES) {
  test(`${c.name}: assisted generation and context shift; save() refused by name`, async () => {
    const file = join(tmp, `${c.family}-gen.gguf`);
    writeGgufOnlyModel(file, c.shape, VOCAB, 2);
    const ids = (await LLM.load(file, { threads: 1 }).then(async (m) => { try { return m.encode(PROMPTS[0]!); } finally { await m.dispose(); } }));
    // the saved format is an HF directory's companion: a GGUF-loaded model says so instead of writing a directory it cannot load
    const q = await LLM.load(file, { quant: "w8a8", threads: 1 });
    const out = mkdtempSync(join(tmpdir(), `lowbit-save-${c.family}-`));
    try {
      await assert.rejects(q.save(out), (e: Error) => e instanceof StateError && /GGUF file is not supported.*lowbit convert/.test(e.message));
    } finally {
      await q.dispose();
      rmSync(out, { recursive: true, force: true });
    }
    const target = await LLM.load(file, { threads: 2 });
    const draft = await LLM.load(file, { quant: "q8_0", threads: 2 });
    try {
      const plain = (await target.generate(ids, { maxNewTokens: 16, temperature: 0, stopAtEos: false })).ids;
      const assisted = (await target.generate(ids, { maxNewTokens: 16, temperature: 0, stopAtEos: false, draft, draftTokens: 4 })).ids;
      assert.deepEqual(assisted, plain, `${c.name}: assisted greedy`);
    } finally {
      await draft.dispose();
      await target.dispose();
    }
    const small = await LLM.load(file, { threads: 2, contextLength: 24 });
    try {
      const r = await small.generate(ids.slice(0, 12), { maxNewTokens: 40, temperature: 0, stopAtEos: false, contextShift: { nKeep: 4 } });
      assert.equal(r.ids.length, 40, `${c.name}: 40 tokens past a 24-token context`);
      assert.ok((r.contextShifts ?? 0) >= 2, `${c.name}: the cache was shifted`);
    } finally {
      await small.dispose();
    }
  });
}

test("baichuan at a depth llama.cpp gives no positions to is refused by name; an HF config of a GGUF-only family too", async () => {
  const file = join(tmp, "baichuan-2.gguf");
  writeGgufOnlyModel(file, { arch: "baichuan", layers: 2, hidden: 64, heads: 4, kvHeads: 4, ff: 128 }, VOCAB);
  await assert.rejects(LLM.load(file, { threads: 1 }), (e: Error) => e instanceof UnsupportedArchitectureError && /baichuan with 2 layers.*32 layers.*40/.test(e.message));
  const { parseConfig } = await import("../src/config.js");
  for (const mt of ["baichuan", "qwen", "chatglm"]) {
    assert.throws(() => parseConfig({ model_type: mt, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 384 }, "config.json"),
      (e: Error) => e instanceof UnsupportedArchitectureError && /baichuan, qwen, chatglm from GGUF files only/.test(e.message), mt);
  }
});
