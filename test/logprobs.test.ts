/**
 * Log-probabilities (issue 20, point 7): the library's `logprobs` option against a direct
 * log-softmax of the model's logits at every step, the stable computation on extreme logits, and the
 * server's OpenAI shapes (completions `logprobs: n`, chat `logprobs: true, top_logprobs: n`).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { LLM } from "../src/llm.js";
import { stepLogprobs, logSumExp } from "../src/generate/logprobs.js";
import { InvalidOptionError } from "../src/errors.js";
import { TestServers } from "./helpers/test-servers.js";
import { ChatTemplate } from "../src/chat/template.js";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let llm: LLM;
const servers = new TestServers(() => llm);
let base: string;
before(async () => {
  llm = await LLM.load(undefined, { dtype: "f32", threads: 2, contextLength: 256 });
  base = await servers.start();
});
after(async () => {
  await servers.closeAll();
  await llm.dispose();
});

const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** log p of every token after `ids`, computed directly (float64 softmax of a fresh forward's logits). */
async function direct(ids: number[]): Promise<Float64Array> {
  const x = await llm.logits(ids);
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  let z = 0;
  for (const v of x) z += Math.exp(v - m);
  return Float64Array.from(x, (v) => Math.log(Math.exp(v - m) / z));
}

const order = (lp: Float64Array, k: number) => Array.from(lp.keys()).sort((a, b) => lp[b]! - lp[a]! || a - b).slice(0, k);

test("generate({ logprobs: k }): each token's log-probability and the k most likely, as a direct log-softmax of the logits gives", async () => {
  const prompt = llm.encode("def fibonacci(n):\n");
  for (const opts of [{ temperature: 0 }, { temperature: 0.9, seed: 5, repetitionPenalty: 1.3, topK: 20 }]) {
    const r = await llm.generate(prompt, { ...opts, maxNewTokens: 12, stopAtEos: false, logprobs: 5 });
    const plain = await llm.generate(prompt, { ...opts, maxNewTokens: 12, stopAtEos: false });
    assert.deepEqual(r.ids, plain.ids, "asking for logprobs does not change what is generated");
    assert.equal(r.logprobs!.length, r.ids.length);
    for (let i = 0; i < r.ids.length; i++) {
      const e = r.logprobs![i]!;
      const want = await direct([...prompt, ...r.ids.slice(0, i)]);
      assert.equal(e.id, r.ids[i]);
      assert.equal(e.token, llm.tokenizer.decode([e.id]));
      assert.ok(Math.abs(e.logprob - want[e.id]!) < 1e-4, `step ${i}: ${e.logprob} vs ${want[e.id]}`);
      assert.deepEqual(e.top.map((t) => t.id), order(want, 5), `step ${i}`);
      for (const t of e.top) assert.ok(Math.abs(t.logprob - want[t.id]!) < 1e-4);
      if (opts.temperature === 0) assert.equal(e.top[0]!.id, e.id, "greedy picks the most likely");
    }
  }
  // k = 0: the chosen token's only
  const z = await llm.generate(prompt, { maxNewTokens: 3, temperature: 0, logprobs: 0 });
  assert.deepEqual(z.logprobs!.map((e) => e.top.length), [0, 0, 0]);
  assert.equal((await llm.generate(prompt, { maxNewTokens: 2, temperature: 0 })).logprobs, undefined);
});

test("stepLogprobs: stable on huge logits, -Infinity and NaN skipped, ties to the lower id", () => {
  const x = Float32Array.of(1000, 999, -Infinity, 1000, NaN);
  const lse = 1000 + Math.log(2 + Math.exp(-1));
  assert.ok(Math.abs(logSumExp(Float32Array.of(1000, 999, -Infinity, 1000)) - lse) < 1e-12);
  const s = stepLogprobs(Float32Array.of(1000, 999, -Infinity, 1000), 1, 3);
  assert.ok(Number.isFinite(s.logprob) && Math.abs(s.logprob - (999 - lse)) < 1e-9);
  assert.deepEqual(s.top.map((t) => t.id), [0, 3, 1]);
  assert.deepEqual(stepLogprobs(x.slice(0, 4), 2, 4).top.map((t) => t.id), [0, 3, 1, 2]);
  assert.equal(stepLogprobs(x.slice(0, 4), 2, 4).logprob, -Infinity);
  assert.deepEqual(stepLogprobs(Float32Array.of(-1e30, -1e30), 0, 0), { id: 0, logprob: -Math.LN2, top: [] });
  assert.ok(stepLogprobs(x, 0, 2).top.every((t) => t.id !== 4));
});

test("logprobs out of range or with a draft model: InvalidOptionError", async () => {
  await assert.rejects(async () => llm.generate("x", { logprobs: 21 }), InvalidOptionError);
  await assert.rejects(async () => llm.generate("x", { logprobs: 1.5 }), InvalidOptionError);
  const draft = await LLM.load(undefined, { threads: 1 });
  try {
    await assert.rejects(async () => llm.generate("x", { logprobs: 1, draft }), /logprobs with a draft model/);
  } finally {
    await draft.dispose();
  }
});

test("server completions logprobs: n: tokens, token_logprobs, top_logprobs and text_offset as OpenAI gives them", async () => {
  const prompt = "import os\n";
  const want = await llm.generate(prompt, { maxNewTokens: 8, temperature: 0, logprobs: 3 });
  const r = await post("/v1/completions", { prompt, max_tokens: 8, temperature: 0, logprobs: 3 });
  assert.equal(r.status, 200);
  const j = (await r.json()) as Json;
  const lp = j.choices[0].logprobs;
  assert.equal(j.choices[0].finish_reason, "length");
  assert.deepEqual(lp.tokens, want.logprobs!.map((e) => e.token));
  assert.equal(lp.tokens.join(""), j.choices[0].text);
  // the same numbers up to float rounding (the server's request reads the prompt's prefix from the KV cache)
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-5;
  assert.ok(lp.token_logprobs.every((x: number, i: number) => near(x, want.logprobs![i]!.logprob)), JSON.stringify(lp.token_logprobs));
  assert.deepEqual(lp.top_logprobs.map((d: Json) => Object.keys(d)), want.logprobs!.map((e) => e.top.map((t) => t.token)));
  for (const [i, d] of (lp.top_logprobs as Json[]).entries()) for (const t of want.logprobs![i]!.top) assert.ok(near(d[t.token], t.logprob));
  let at = 0;
  assert.deepEqual(lp.text_offset, lp.tokens.map((t: string) => ((at += t.length), at - t.length)));
  // without logprobs: null, as before
  assert.equal(((await (await post("/v1/completions", { prompt, max_tokens: 2 })).json()) as Json).choices[0].logprobs, null);
});

test("server chat logprobs: true, top_logprobs: n: content[] with token, logprob, bytes, top_logprobs; the EOS/stop token left out", async () => {
  const messages = [{ role: "user" as const, content: "def add(a, b):" }];
  const r = await post("/v1/chat/completions", { messages, max_tokens: 24, temperature: 0, logprobs: true, top_logprobs: 2 });
  assert.equal(r.status, 200);
  const j = (await r.json()) as Json;
  const c = j.choices[0];
  const content = c.logprobs.content as Json[];
  assert.equal(c.logprobs.refusal, null);
  assert.equal(content.map((e) => e.token).join("").startsWith(c.message.content), true);
  if (c.finish_reason === "length") assert.equal(content.map((e) => e.token).join(""), c.message.content);
  const prompt = new ChatTemplate(llm.tokenizer).render(messages);
  const want = await llm.generate(prompt, { maxNewTokens: 24, temperature: 0, logprobs: 2, stop: ["<|im_end|>"], stopAtEos: true });
  for (const [i, e] of content.entries()) {
    assert.equal(e.token, want.logprobs![i]!.token);
    assert.ok(Math.abs(e.logprob - want.logprobs![i]!.logprob) < 1e-5);
    assert.deepEqual(e.bytes, Array.from(Buffer.from(e.token, "utf8")));
    assert.equal(e.top_logprobs.length, 2);
    assert.ok(e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob);
  }
  // logprobs: true alone: the chosen tokens, no alternatives
  const alone = (await (await post("/v1/chat/completions", { messages, max_tokens: 3, temperature: 0, logprobs: true })).json()) as Json;
  assert.deepEqual(alone.choices[0].logprobs.content.map((e: Json) => e.top_logprobs.length), [0, 0, 0]);
});

test("server logprobs errors: top_logprobs without logprobs, out of range: 400 naming the field", async () => {
  const messages = [{ role: "user", content: "x" }];
  const cases: [string, unknown, string, RegExp][] = [
    ["/v1/chat/completions", { messages, top_logprobs: 2 }, "top_logprobs", /needs logprobs: true/],
    ["/v1/chat/completions", { messages, logprobs: true, top_logprobs: 21 }, "top_logprobs", /top_logprobs must be an integer in \[0, 20\]/],
    ["/v1/chat/completions", { messages, logprobs: 1 }, "logprobs", /logprobs must be a boolean/],
    ["/v1/completions", { prompt: "x", logprobs: -1 }, "logprobs", /logprobs must be an integer in \[0, 20\]/],
  ];
  for (const [path, body, param, re] of cases) {
    const r = await post(path, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    const e = ((await r.json()) as Json).error;
    assert.equal(e.param, param);
    assert.match(e.message, re);
  }
});

/** The `data:` payloads of a server-sent-event body, parsed, without [DONE]. */
async function events(r: Response): Promise<Json[]> {
  const text = await r.text();
  return text.trim().split("\n\n").map((e) => e.slice(6)).filter((e) => e !== "[DONE]").map((e) => JSON.parse(e) as Json);
}

test("stream().pieces(): each chunk's logprobs entries are those of the tokens it completes; all of them are the result's", async () => {
  const prompt = llm.encode("def fibonacci(n):\n");
  const s = llm.stream(prompt, { maxNewTokens: 16, temperature: 0, stopAtEos: false, logprobs: 2 });
  const pieces = [];
  for await (const p of s.pieces()) pieces.push(p);
  const r = await s.result;
  assert.equal(pieces.map((p) => p.text).join(""), r.text);
  assert.deepEqual(pieces.flatMap((p) => p.logprobs!), r.logprobs);
  for (const p of pieces) assert.equal(p.logprobs!.map((e) => e.token).join(""), p.text, "ASCII code: each chunk is its tokens' text");
  // EOS ends the answer: its entry is in the result, in no chunk (it has no text)
  // (this prompt's greedy continuation is EOS at once)
  const e = llm.stream(llm.encode("if __name__ == '__main__':\n    main()\n"), { maxNewTokens: 64, temperature: 0, logprobs: 0 });
  const got = [];
  for await (const p of e.pieces()) got.push(...(p.logprobs ?? []));
  const er = await e.result;
  assert.equal(er.finishReason, "eos");
  assert.equal(er.logprobs!.length, 1);
  assert.ok(llm.config.eosTokenIds.includes(er.logprobs![0]!.id));
  assert.deepEqual(got, []);
});

test("server streamed logprobs: each chunk carries its tokens' entries; together they are the non-streamed answer's", async () => {
  const prompt = "import os\n";
  const plain = (await (await post("/v1/completions", { prompt, max_tokens: 10, temperature: 0, logprobs: 2 })).json()) as Json;
  const chunks = await events(await post("/v1/completions", { prompt, max_tokens: 10, temperature: 0, logprobs: 2, stream: true }));
  const withText = chunks.filter((c) => c.choices[0].logprobs);
  assert.deepEqual(withText.flatMap((c) => c.choices[0].logprobs.tokens), plain.choices[0].logprobs.tokens);
  assert.deepEqual(withText.flatMap((c) => c.choices[0].logprobs.text_offset), plain.choices[0].logprobs.text_offset);
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-5;
  const streamed = withText.flatMap((c) => c.choices[0].logprobs.token_logprobs as number[]);
  assert.ok(streamed.every((x, i) => near(x, plain.choices[0].logprobs.token_logprobs[i])));
  for (const c of withText) assert.equal(c.choices[0].logprobs.tokens.join(""), c.choices[0].text);
  const messages = [{ role: "user", content: "return" }];
  const chatPlain = (await (await post("/v1/chat/completions", { messages, max_tokens: 10, temperature: 0, logprobs: true, top_logprobs: 1 })).json()) as Json;
  const chat = await events(await post("/v1/chat/completions", { messages, max_tokens: 10, temperature: 0, logprobs: true, top_logprobs: 1, stream: true }));
  const content = chat.filter((c) => c.choices[0]?.logprobs).flatMap((c) => c.choices[0].logprobs.content as Json[]);
  assert.deepEqual(content.map((e) => e.token), chatPlain.choices[0].logprobs.content.map((e: Json) => e.token));
  assert.ok(content.every((e) => e.top_logprobs.length === 1 && Array.isArray(e.bytes)));
  // without logprobs the chunks say null, as before
  const none = await events(await post("/v1/completions", { prompt, max_tokens: 3, stream: true }));
  assert.ok(none.every((c) => c.choices[0].logprobs === null));
});
