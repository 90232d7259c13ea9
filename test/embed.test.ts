/**
 * Embeddings: the final hidden states the native graph returns in its "hidden" output mode are
 * those the logits come from (the LM head, here tinycode-7m's tied bf16 embedding matrix applied in
 * float64 in TS, gives the logits the model returns), pooling and normalization, generation
 * unchanged after an embed call, and /v1/embeddings with the openai client (float and base64).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import { LLM, DEFAULT_MODEL_DIR } from "../src/llm.js";
import { createServer } from "../src/server/server.js";
import { parseSafetensorsHeader, readTensorBytes } from "../src/formats/safetensors.js";
import { InvalidOptionError, ContextOverflowError } from "../src/errors.js";

let llm: LLM;
before(async () => {
  llm = await LLM.load(undefined, { dtype: "f32", threads: 2, contextLength: 256 });
});
after(async () => {
  await llm.dispose();
});

/** tinycode-7m's LM head: the tied embedding matrix [V, d], bf16 widened to f32. */
function lmHead(): Float32Array {
  const info = parseSafetensorsHeader(join(DEFAULT_MODEL_DIR, "model.safetensors")).find((t) => t.name === "model.embed_tokens.weight")!;
  assert.equal(info.dtype, "BF16");
  const raw = readTensorBytes(info);
  const u16 = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
  const u32 = new Uint32Array(u16.length);
  for (let i = 0; i < u16.length; i++) u32[i] = u16[i]! << 16;
  return new Float32Array(u32.buffer);
}

test("hidden states: the LM head applied to them gives the logits the model returns", async () => {
  const ids = llm.encode("def fibonacci(n):\n    if n < 2:\n        return n");
  const d = llm.config.hiddenSize, V = llm.config.vocabSize;
  const h = await llm.hiddenStates(ids);
  assert.equal(h.length, ids.length * d);
  const logits = await llm.logitsAll(ids);
  const W = lmHead();
  assert.equal(W.length, V * d);
  let worst = 0;
  for (let r = 0; r < ids.length; r++) {
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += W[v * d + j]! * h[r * d + j]!;
      worst = Math.max(worst, Math.abs(s - logits[r * V + v]!) / (1 + Math.abs(s)));
    }
  }
  assert.ok(worst < 1e-4, `worst relative difference ${worst}`);
  // not a constant: rows differ, and the final norm's output has the scale of its weight
  assert.notDeepEqual(h.subarray(0, d), h.subarray(d, 2 * d));
});

test("embed: mean / last / cls pooling of the hidden states, L2-normalized by default; generation unchanged after", async () => {
  const prompt = "def add(a, b):\n";
  const before = await llm.generate(prompt, { maxNewTokens: 12, temperature: 0 });
  const ids = llm.tokenizer.encode("import os", { addSpecialTokens: true });
  const d = llm.config.hiddenSize;
  const h = await llm.hiddenStates(ids);
  const [mean] = await llm.embed("import os", { normalize: false });
  const want = new Float32Array(d);
  for (let j = 0; j < d; j++) {
    let s = 0;
    for (let r = 0; r < ids.length; r++) s += h[r * d + j]!;
    want[j] = s / ids.length;
  }
  assert.deepEqual(mean, want);
  const [last] = await llm.embed(ids, { pooling: "last", normalize: false });
  assert.deepEqual(last, h.slice((ids.length - 1) * d));
  const [cls] = await llm.embed([ids], { pooling: "cls", normalize: false });
  assert.deepEqual(cls, h.slice(0, d));
  const [unit, other] = await llm.embed(["import os", "SELECT * FROM t"]);
  const norm = Math.hypot(...unit!);
  assert.ok(Math.abs(norm - 1) < 1e-6);
  const n0 = Math.hypot(...want);
  for (let j = 0; j < d; j++) assert.ok(Math.abs(unit![j]! - want[j]! / n0) < 1e-6);
  assert.notDeepEqual(unit, other);
  const after = await llm.generate(prompt, { maxNewTokens: 12, temperature: 0 });
  assert.deepEqual(after.ids, before.ids);
  assert.throws(() => llm.embed("x", { pooling: "max" as never }), InvalidOptionError);
  assert.throws(() => llm.embed([]), InvalidOptionError);
  assert.throws(() => llm.embed([[99999]]), /outside/);
  assert.throws(() => llm.embed("x ".repeat(400)), ContextOverflowError);
});

test("/v1/embeddings: the openai client's vectors (base64 by default, and float) are LLM.embed's", async () => {
  const server: Server = createServer({ model: llm, modelId: "tinycode-7m" });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    const client = new OpenAI({ baseURL: base, apiKey: "unused", maxRetries: 0 });
    const input = ["def f(x):", "print('hi')"];
    const want = await llm.embed(input);
    const r = await client.embeddings.create({ model: "tinycode-7m", input });
    assert.equal(r.data.length, 2);
    r.data.forEach((e, i) => assert.deepEqual(Float32Array.from(e.embedding), want[i]));
    assert.equal(r.usage.prompt_tokens, input.reduce((a, t) => a + llm.tokenizer.encode(t, { addSpecialTokens: true }).length, 0));
    const f = await client.embeddings.create({ model: "tinycode-7m", input: "def f(x):", encoding_format: "float" });
    assert.deepEqual(Float32Array.from(f.data[0]!.embedding), want[0]);
    const bad = await fetch(`${base}/embeddings`, { method: "POST", body: JSON.stringify({ input: [] }) });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { param: string } }).error.param, "input");
    const missing = await fetch(`${base}/embeddings`, { method: "POST", body: JSON.stringify({ input: "x", model: "gpt-4" }) });
    assert.equal(missing.status, 404);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
