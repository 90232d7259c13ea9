/**
 * The OpenAI-compatible server on every model family: for each family fixture (HF directory,
 * f32), /v1/completions with greedy decoding answers the tokens transformers generated
 * (reference.json's greedy ids), so the server runs whatever architecture the library loads.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LLM } from "../src/index.js";
import { REPO } from "./helpers/paths.js";
import { TestServers } from "./helpers/test-servers.js";

const FIXTURES = join(REPO, "test", "fixtures", "families");
const NAMES = ["qwen2", "mistral", "qwen3", "starcoder2", "gpt_bigcode", "phi3", "gemma2", "gemma3", "falcon", "falcon_gqa", "gpt_neox", "gptj", "mpt", "bloom", "opt"];

let model: LLM | undefined;
const servers = new TestServers(() => model!);
after(async () => {
  await servers.closeAll();
  await model?.dispose();
});

test("/v1/completions on every family's fixture gives transformers' greedy tokens", { skip: existsSync(join(FIXTURES, "qwen2", "reference.json")) ? false : "no fixtures" }, async (t) => {
  const done: string[] = [];
  for (const name of NAMES) {
    const dir = join(FIXTURES, name);
    const p = (JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as { prompts: { input_ids: number[]; greedy_ids: number[] }[] }).prompts[0]!;
    await model?.dispose();
    model = await LLM.load(dir, { dtype: "f32", threads: 2 });
    const base = await servers.start({ modelId: name });
    const res = await fetch(`${base}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      // the prompt as token ids (OpenAI's form), greedy, no stop at EOS (llama.cpp's ignore_eos)
      body: JSON.stringify({ model: name, prompt: p.input_ids, max_tokens: 8, temperature: 0, ignore_eos: true }),
    });
    assert.equal(res.status, 200, `${name}: ${await res.clone().text()}`);
    const body = (await res.json()) as { choices: { text: string }[]; usage: { completion_tokens: number } };
    assert.equal(body.usage.completion_tokens, 8, name);
    assert.equal(body.choices[0]!.text, model.tokenizer.decode(p.greedy_ids.slice(0, 8)), `${name}: the server's text`);
    await servers.closeAll();
    done.push(name);
  }
  t.diagnostic(`${done.length} families served: ${done.join(", ")}`);
});
