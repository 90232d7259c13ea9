/**
 * The server's tokenizer routes (issue 20, point 8, the tokenize/detokenize part), as llama.cpp's
 * server has them: POST /tokenize { content, add_special, with_pieces } -> { tokens } and
 * POST /detokenize { tokens } -> { content }, with the model tokenizer's ids, on the prompt worker and
 * without it.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { LLM } from "../src/llm.js";
import { TestServers } from "./helpers/test-servers.js";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let llm: LLM;
const servers = new TestServers(() => llm);
before(async () => {
  llm = await LLM.load(undefined, { threads: 2, contextLength: 256 });
});
after(async () => {
  await servers.closeAll();
  await llm.dispose();
});

const post = (base: string, path: string, body: unknown) => fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

test("/tokenize and /detokenize: the model tokenizer's ids and text, round trip; pieces; on the worker and off it", async () => {
  const text = "def f(x):\n    return x ** 2  # é, 中文, 🚀";
  for (const promptWorker of [true, false]) {
    const base = await servers.start({ promptWorker });
    const t = (await (await post(base, "/tokenize", { content: text })).json()) as Json;
    assert.deepEqual(t.tokens, llm.encode(text), `promptWorker ${promptWorker}`);
    const d = (await (await post(base, "/detokenize", { tokens: t.tokens })).json()) as Json;
    assert.equal(d.content, text);
    const p = (await (await post(base, "/tokenize", { content: "def f", with_pieces: true })).json()) as Json;
    assert.deepEqual(p.tokens, llm.encode("def f").map((id) => ({ id, piece: llm.tokenizer.decode([id]) })));
    assert.equal(p.tokens.map((x: Json) => x.piece).join(""), "def f");
    assert.deepEqual(((await (await post(base, "/tokenize", { content: "" })).json()) as Json).tokens, []);
    const bos = llm.tokenizer.bosTokenId;
    const special = (await (await post(base, "/tokenize", { content: "x", add_special: true })).json()) as Json;
    assert.deepEqual(special.tokens, [...(bos !== null ? [bos] : []), ...llm.encode("x")]);
    assert.deepEqual(((await (await post(base, "/detokenize", { tokens: [] })).json()) as Json).content, "");
  }
});

test("/tokenize and /detokenize refuse bad bodies with 400 naming the field; they need the API key like the rest", async () => {
  const base = await servers.start();
  const V = llm.config.vocabSize;
  const cases: [string, unknown, string, RegExp][] = [
    ["/tokenize", {}, "content", /content must be a string/],
    ["/tokenize", { content: 5 }, "content", /content must be a string/],
    ["/tokenize", { content: "x", with_pieces: "yes" }, "with_pieces", /with_pieces must be a boolean/],
    ["/tokenize", { content: "x".repeat(256 * 32 + 1) }, null as unknown as string, /characters/],
    ["/detokenize", { tokens: [1, V] }, "tokens", new RegExp(`\\[0, ${V}\\)`)],
    ["/detokenize", { tokens: "1,2" }, "tokens", /array of token ids/],
    ["/detokenize", { tokens: Array(4 * 256 + 1).fill(1) }, "tokens", /at most 1024/],
  ];
  for (const [path, body, param, re] of cases) {
    const r = await post(base, path, body);
    assert.equal(r.status, 400, `${path} ${JSON.stringify(body).slice(0, 60)}`);
    const e = ((await r.json()) as Json).error;
    assert.match(e.message, re);
    assert.equal(e.param, param);
  }
  assert.equal((await fetch(`${base}/tokenize`)).status, 405);
  const locked = await servers.start({ apiKeys: ["k"] });
  assert.equal((await post(locked, "/tokenize", { content: "x" })).status, 401);
  const ok = await fetch(`${locked}/tokenize`, { method: "POST", headers: { authorization: "Bearer k" }, body: JSON.stringify({ content: "x" }) });
  assert.deepEqual(((await ok.json()) as Json).tokens, llm.encode("x"));
});
