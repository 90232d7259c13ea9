/**
 * `lowbit info` and `lowbit generate` on every family's fixture
 * (test/fixtures/families, see families.test.ts): the HF directory and, where
 * there is one, model.gguf. info names the family; generate (f32, greedy,
 * the reference prompt's ids) gives transformers' 16 greedy tokens on the HF
 * directory, and on a GGUF that computes as the HF model does.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/paths.js";

const BIN = join(REPO, "bin", "lowbit.js");
const FIXTURES = join(REPO, "test", "fixtures", "families");
const NAMES = ["qwen2", "mistral", "qwen3", "starcoder2", "gpt_bigcode", "phi3", "gemma2", "gemma3", "falcon", "falcon_gqa", "gpt_neox", "gptj", "mpt", "bloom", "opt"];
/** GGUF files that compute what the HF model does (no table GELU, no window dropped; families.test.ts) */
const GGUF_AS_HF = new Set(["qwen2", "qwen3", "phi3"]);

function lowbit(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: REPO, encoding: "utf8", maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const name of NAMES) {
  const dir = join(FIXTURES, name);
  test(`lowbit info / generate: ${name}`, { skip: existsSync(join(dir, "reference.json")) ? false : `no fixture ${dir}` }, () => {
    const ref = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as { prompts: { input_ids: number[]; greedy_ids: number[] }[] };
    const p = ref.prompts[0]!;
    const gguf = join(dir, "model.gguf");
    const models = [dir, ...(existsSync(gguf) && name !== "gpt_bigcode" ? [gguf] : [])];
    for (const model of models) {
      const info = lowbit("info", "--model", model, "--threads", "1", "--json");
      assert.equal(info.code, 0, `info ${model}: ${info.stderr}`);
      const arch = (JSON.parse(info.stdout) as { config: { architecture: string } }).config.architecture;
      // llama.cpp's converter writes Mistral as a llama GGUF
      assert.equal(arch, model === gguf && name === "mistral" ? "llama" : name, `info ${model}`);
      const gen = lowbit("generate", "--model", model, "--prompt-ids", p.input_ids.join(","), "--max-new-tokens", "16", "--dtype", "f32", "--no-stop-at-eos", "--threads", "1", "--json");
      assert.equal(gen.code, 0, `generate ${model}: ${gen.stderr}`);
      const ids = (JSON.parse(gen.stdout) as { ids: number[] }).ids;
      assert.equal(ids.length, 16, `generate ${model}: 16 tokens`);
      if (model === dir || GGUF_AS_HF.has(name)) assert.deepEqual(ids, p.greedy_ids, `generate ${model}: transformers' greedy ids`);
    }
  });
}
