/** Generation API on the embedded model: sampling, stopping, streaming, abort, timings, options. */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AbortError, ContextOverflowError, InvalidOptionError, LLM, StateError } from "../src/index.js";
import { EMBEDDED_MODEL } from "./helpers/paths.js";

const ref = JSON.parse(readFileSync(join(EMBEDDED_MODEL, "reference.json"), "utf8")) as {
  prompts: { prompt: string; input_ids: number[]; greedy_ids: number[] }[];
};
let model: LLM;
before(async () => {
  model = await LLM.load(undefined, { dtype: "f32", threads: 2 });
});
after(async () => {
  await model.dispose();
});

test("string prompt and id prompt give the reference greedy ids; text decodes the ids", async () => {
  const p = ref.prompts[0]!;
  const a = await model.generate(p.prompt, { maxNewTokens: 48, temperature: 0, stopAtEos: false });
  model.resetCache();
  const b = await model.generate(p.input_ids, { maxNewTokens: 48, temperature: 0, stopAtEos: false });
  assert.deepEqual(a.ids, p.greedy_ids);
  assert.deepEqual(b.ids, p.greedy_ids);
  assert.equal(a.text, model.tokenizer.decode(p.greedy_ids));
  assert.equal(a.finishReason, "length");
  assert.deepEqual(a.promptIds, p.input_ids);
});

test("timings are consistent", async () => {
  model.resetCache();
  const r = await model.generate(ref.prompts[1]!.input_ids, { maxNewTokens: 16, temperature: 0, stopAtEos: false });
  const t = r.timings;
  assert.equal(t.generatedTokens, 16);
  assert.equal(t.promptTokens, ref.prompts[1]!.input_ids.length);
  assert.equal(t.prefillTokens, t.promptTokens);
  assert.ok(t.ttftMs > 0 && t.tpotMs > 0 && t.totalMs >= t.ttftMs);
  assert.ok(Math.abs(t.ttftMs + 15 * t.tpotMs - t.totalMs) < 1, "ttft + 15 tpot = total");
  assert.ok(t.overheadMsPerToken >= 0 && t.overheadMsPerToken < t.tpotMs);
  assert.ok(Math.abs(t.genTokensPerSec - 1000 / t.tpotMs) < 1e-6);
});

test("the same seed reproduces a sampled continuation; another seed differs", async () => {
  const o = { maxNewTokens: 32, temperature: 1.0, topK: 50, topP: 0.95, stopAtEos: false };
  const a = await model.generate("def ", { ...o, seed: 7 });
  const b = await model.generate("def ", { ...o, seed: 7 });
  const c = await model.generate("def ", { ...o, seed: 8 });
  assert.deepEqual(a.ids, b.ids);
  assert.notDeepEqual(a.ids, c.ids);
});

test("stream yields chunks that join to the result text", async () => {
  const s = model.stream(ref.prompts[2]!.prompt, { maxNewTokens: 40, temperature: 0, stopAtEos: false });
  const chunks: string[] = [];
  for await (const c of s) chunks.push(c);
  const r = await s.result;
  assert.ok(chunks.length > 1);
  assert.equal(chunks.join(""), r.text);
  assert.deepEqual(r.ids, ref.prompts[2]!.greedy_ids.slice(0, 40));
});

test("stop strings end generation and are not part of the text", async () => {
  const p = ref.prompts[0]!;
  const full = model.tokenizer.decode(p.greedy_ids);
  const stop = full.slice(10, 14); // a stop string the greedy continuation really contains
  const r = await model.generate(p.input_ids, { maxNewTokens: 48, temperature: 0, stop: [stop], stopAtEos: false });
  assert.equal(r.finishReason, "stop");
  assert.equal(r.stop, stop);
  assert.equal(r.text, full.slice(0, full.indexOf(stop)));
  assert.ok(r.ids.length < 48);
});

test("EOS stops generation when stopAtEos (default) and not otherwise", async () => {
  // The end of a script: greedy decoding emits EOS (id 0) right away.
  const eos = model.config.eosTokenIds[0]!;
  const ids = model.encode('if __name__ == "__main__":\n    main()\n');
  const r = await model.generate(ids, { maxNewTokens: 20, temperature: 0, stopAtEos: false });
  const at = r.ids.indexOf(eos);
  assert.ok(at >= 0, "this prompt's greedy continuation contains EOS");
  assert.equal(r.ids.length, 20, "without stopAtEos generation continues past EOS");
  const s = await model.generate(ids, { maxNewTokens: 20, temperature: 0 });
  assert.equal(s.finishReason, "eos");
  assert.deepEqual(s.ids, r.ids.slice(0, at + 1));
});

test("an aborted signal rejects with AbortError, mid-generation too", async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(model.generate("x", { signal: ac.signal }), AbortError);
  const ac2 = new AbortController();
  const s = model.stream("def f():", { maxNewTokens: 500, temperature: 0, stopAtEos: false, signal: ac2.signal });
  let n = 0;
  await assert.rejects(
    (async () => {
      for await (const _ of s) if (++n === 3) ac2.abort();
    })(),
    AbortError,
  );
  await assert.rejects(s.result, AbortError);
  // the model still works afterwards
  const r = await model.generate(ref.prompts[0]!.input_ids, { maxNewTokens: 4, temperature: 0 });
  assert.deepEqual(r.ids, ref.prompts[0]!.greedy_ids.slice(0, 4));
});

test("concurrent generate calls are serialised and both correct", async () => {
  const [a, b] = await Promise.all([
    model.generate(ref.prompts[0]!.input_ids, { maxNewTokens: 8, temperature: 0, stopAtEos: false }),
    model.generate(ref.prompts[1]!.input_ids, { maxNewTokens: 8, temperature: 0, stopAtEos: false }),
  ]);
  assert.deepEqual(a.ids, ref.prompts[0]!.greedy_ids.slice(0, 8));
  assert.deepEqual(b.ids, ref.prompts[1]!.greedy_ids.slice(0, 8));
});

test("invalid options and prompts are typed errors", async () => {
  const bad: [object, RegExp][] = [
    [{ temperature: -1 }, /temperature/],
    [{ topP: 0 }, /topP/],
    [{ topK: 1.5 }, /topK/],
    [{ minP: 1 }, /minP/],
    [{ repetitionPenalty: 0 }, /repetitionPenalty/],
    [{ seed: 0.5 }, /seed/],
    [{ maxNewTokens: -1 }, /maxNewTokens/],
    [{ stop: [""] }, /stop/],
  ];
  for (const [o, re] of bad) {
    await assert.rejects(async () => model.generate("x", o), (e: unknown) => e instanceof InvalidOptionError && re.test((e as Error).message));
  }
  await assert.rejects(async () => model.generate("", {}), InvalidOptionError);
  await assert.rejects(async () => model.generate([1, 99999], {}), /outside/);
  await assert.rejects(async () => model.generate([1.5], {}), InvalidOptionError);
});

test("a prompt longer than the context is a ContextOverflowError; generation stops at the context end", async () => {
  const small = await LLM.load(undefined, { dtype: "f32", threads: 1, contextLength: 16 });
  try {
    await assert.rejects(async () => small.generate(Array(16).fill(5)), ContextOverflowError);
    const r = await small.generate(ref.prompts[0]!.input_ids, { maxNewTokens: 100, temperature: 0, stopAtEos: false });
    assert.equal(r.finishReason, "context");
    assert.equal(r.ids.length, 16 - ref.prompts[0]!.input_ids.length + 1);
    assert.deepEqual(r.ids, ref.prompts[0]!.greedy_ids.slice(0, r.ids.length));
  } finally {
    await small.dispose();
  }
});

test("a disposed model refuses work with StateError", async () => {
  const m = await LLM.load(undefined, { threads: 1 });
  await m.dispose();
  await assert.rejects(async () => m.generate("x"), StateError);
});
