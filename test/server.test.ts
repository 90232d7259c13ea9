/**
 * The OpenAI-compatible server (src/server/) on the embedded tinycode-7m: every answer is what
 * LLM.generate computes for the same prompt and options (streamed or not, completions or chat),
 * a chat that resends its history reuses the KV cache, a client that leaves aborts its
 * generation, and bad requests get OpenAI's error body with the right status while the server
 * goes on answering.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { LLM } from "../src/llm.js";
import type { ServerOptions } from "../src/server/server.js";
import { TestServers } from "./helpers/test-servers.js";
import { ChatTemplate, CHATML_TEMPLATE } from "../src/chat/template.js";
import { spawnSync } from "node:child_process";
import { serveChild } from "../bench/serve-child.js";
import { join } from "node:path";
import { EMBEDDED_MODEL, REPO } from "./helpers/paths.js";
import { readFileSync } from "node:fs";
import { Tokenizer } from "../src/tokenizer.js";
import { InvalidOptionError, TokenizerError } from "../src/errors.js";

let llm: LLM, draft: LLM;
const servers = new TestServers(() => llm);
const start = (o: Partial<ServerOptions> = {}) => servers.start(o);

let base: string;
before(async () => {
  llm = await LLM.load(undefined, { dtype: "f32", threads: 2, contextLength: 256 });
  draft = await LLM.load(undefined, { threads: 2, quant: "w8a8" });
  base = await start();
});
after(async () => {
  await servers.closeAll();
  await llm.dispose();
  await draft.dispose();
});

const post = (url: string, body: unknown) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });

/** The `data:` payloads of a server-sent-event body. */
async function events(r: Response): Promise<string[]> {
  assert.equal(r.headers.get("content-type"), "text/event-stream");
  const text = await r.text();
  assert.ok(text.endsWith("\n\n"));
  return text.trim().split("\n\n").map((e) => {
    assert.ok(e.startsWith("data: "), e);
    return e.slice(6);
  });
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

test("completions: the text, finish reason and usage LLM.generate gives; streamed pieces add up to it", async () => {
  const prompt = "def fibonacci(n):\n";
  const want = await llm.generate(prompt, { maxNewTokens: 24, temperature: 0, stopAtEos: true });
  const r = await post(`${base}/v1/completions`, { model: "tinycode-7m", prompt, max_tokens: 24, temperature: 0 });
  assert.equal(r.status, 200);
  const j = (await r.json()) as Json;
  assert.equal(j.object, "text_completion");
  assert.match(j.id, /^cmpl-[0-9a-f]{24}$/);
  assert.equal(j.model, "tinycode-7m");
  assert.equal(j.choices[0].text, want.text);
  assert.equal(j.choices[0].finish_reason, want.finishReason === "length" ? "length" : "stop");
  assert.deepEqual(j.usage, { prompt_tokens: want.promptIds.length, completion_tokens: want.ids.length, total_tokens: want.promptIds.length + want.ids.length });
  assert.equal(j.timings.predicted_n, want.ids.length);

  // token-id prompt and a batch of one are the same request
  const ids = llm.encode(prompt);
  for (const p of [ids, [ids], [prompt]]) {
    const k = (await (await post(`${base}/v1/completions`, { prompt: p, max_tokens: 24, temperature: 0 })).json()) as Json;
    assert.equal(k.choices[0].text, want.text, JSON.stringify(p).slice(0, 30));
  }

  const s = await events(await post(`${base}/v1/completions`, { prompt, max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true } }));
  assert.equal(s.at(-1), "[DONE]");
  const chunks = s.slice(0, -1).map((x) => JSON.parse(x) as Json);
  const usage = chunks.pop()!;
  assert.deepEqual(usage.choices, []);
  assert.deepEqual(usage.usage, j.usage);
  assert.equal(chunks.map((c) => c.choices[0].text).join(""), want.text);
  assert.equal(chunks.at(-1)!.choices[0].finish_reason, j.choices[0].finish_reason);
  assert.ok(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null));
  assert.ok(chunks.every((c) => c.id === chunks[0]!.id));
});

test("completions: stop strings end the text, sampling with a seed repeats, EOS is a stop", async () => {
  const prompt = "def add(a, b):\n";
  const want = await llm.generate(prompt, { maxNewTokens: 40, temperature: 0, stop: ["\n"], stopAtEos: true });
  const j = (await (await post(`${base}/v1/completions`, { prompt, max_tokens: 40, temperature: 0, stop: "\n" })).json()) as Json;
  assert.equal(j.choices[0].text, want.text);
  assert.equal(want.finishReason, "stop");
  assert.equal(j.choices[0].finish_reason, "stop");
  const body = { prompt, max_tokens: 30, temperature: 0.9, top_p: 0.95, top_k: 40, seed: 11 };
  const a = (await (await post(`${base}/v1/completions`, body)).json()) as Json;
  const b = (await (await post(`${base}/v1/completions`, body)).json()) as Json;
  const w = await llm.generate(prompt, { maxNewTokens: 30, temperature: 0.9, topP: 0.95, topK: 40, seed: 11, stopAtEos: true });
  assert.equal(a.choices[0].text, w.text);
  assert.equal(b.choices[0].text, w.text);
});

test("chat: the ChatML prompt of a model without a template; streamed deltas add up to the message", async () => {
  const messages = [
    { role: "system", content: "You write Python." },
    { role: "user", content: [{ type: "text", text: "Write " }, { type: "text", text: "a function that adds two numbers." }] },
  ];
  const rendered = "<|im_start|>system\nYou write Python.<|im_end|>\n<|im_start|>user\nWrite a function that adds two numbers.<|im_end|>\n<|im_start|>assistant\n";
  const t = new ChatTemplate(llm.tokenizer);
  assert.equal(t.fallback, true);
  assert.equal(t.source, CHATML_TEMPLATE);
  assert.equal(t.render([{ role: "system", content: "You write Python." }, { role: "user", content: "Write a function that adds two numbers." }]), rendered);
  const want = await llm.generate(rendered, { maxNewTokens: 32, temperature: 0, stop: ["<|im_end|>"], stopAtEos: true });
  const j = (await (await post(`${base}/v1/chat/completions`, { messages, max_tokens: 32, temperature: 0 })).json()) as Json;
  assert.equal(j.object, "chat.completion");
  assert.match(j.id, /^chatcmpl-/);
  assert.deepEqual(j.choices[0].message, { role: "assistant", content: want.text });
  assert.equal(j.usage.prompt_tokens, llm.encode(rendered).length);

  const s = await events(await post(`${base}/v1/chat/completions`, { messages, max_tokens: 32, temperature: 0, stream: true }));
  assert.equal(s.pop(), "[DONE]");
  const chunks = s.map((x) => JSON.parse(x) as Json);
  assert.equal(chunks[0]!.object, "chat.completion.chunk");
  assert.deepEqual(chunks[0]!.choices[0].delta, { role: "assistant", content: "" });
  assert.equal(chunks.map((c) => c.choices[0].delta.content ?? "").join(""), want.text);
  assert.deepEqual(chunks.at(-1)!.choices[0].delta, {});
  assert.equal(chunks.at(-1)!.choices[0].finish_reason, j.choices[0].finish_reason);
});

test("chat with history: the resent conversation is read from the KV cache, the answer is a fresh computation's", async () => {
  const turn1 = [{ role: "user", content: "def square(x):" }];
  const a = (await (await post(`${base}/v1/chat/completions`, { messages: turn1, max_tokens: 16, temperature: 0 })).json()) as Json;
  const turn2 = [...turn1, { role: "assistant", content: a.choices[0].message.content }, { role: "user", content: "Now cube." }];
  const b = (await (await post(`${base}/v1/chat/completions`, { messages: turn2, max_tokens: 16, temperature: 0 })).json()) as Json;
  // at least the first turn's prompt comes from the cache
  assert.ok(b.timings.prompt_n <= b.usage.prompt_tokens - a.usage.prompt_tokens, `computed ${b.timings.prompt_n} of ${b.usage.prompt_tokens} prompt tokens`);
  llm.resetCache();
  const fresh = (await (await post(`${base}/v1/chat/completions`, { messages: turn2, max_tokens: 16, temperature: 0 })).json()) as Json;
  assert.equal(fresh.timings.prompt_n, fresh.usage.prompt_tokens);
  assert.equal(b.choices[0].message.content, fresh.choices[0].message.content);
});

test("a draft model and a context shift on the server: greedy answers unchanged; generation runs past the context", async () => {
  const prompt = "class Stack:\n";
  const plain = (await (await post(`${base}/v1/completions`, { prompt, max_tokens: 40, temperature: 0 })).json()) as Json;
  const withDraft = await start({ draft, draftTokens: 4 });
  const d = (await (await post(`${withDraft}/v1/completions`, { prompt, max_tokens: 40, temperature: 0 })).json()) as Json;
  assert.equal(d.choices[0].text, plain.choices[0].text);
  assert.ok(d.timings.draft_n > 0 && d.timings.draft_n_accepted > 0, JSON.stringify(d.timings));
  const shifting = await start({ contextShift: { nKeep: 4 } });
  const body = { prompt: "import os\n", max_tokens: 400, temperature: 0.8, seed: 3, repeat_penalty: 1.1, ignore_eos: true };
  const long = (await (await post(`${shifting}/v1/completions`, body)).json()) as Json;
  const want = await llm.generate("import os\n", { maxNewTokens: 400, temperature: 0.8, seed: 3, repetitionPenalty: 1.1, stopAtEos: false, contextShift: { nKeep: 4 } });
  assert.equal(long.usage.completion_tokens, 400);
  assert.equal(long.choices[0].finish_reason, "length");
  assert.equal(long.choices[0].text, want.text);
  assert.equal(long.timings.context_shifts, want.contextShifts);
  assert.ok(want.contextShifts! >= 2, `${want.contextShifts} shifts`);
});

test("a client that disconnects aborts its generation; the next request is answered", { timeout: 120_000 }, async () => {
  const shifting = await start({ contextShift: {} }); // would generate 10^6 tokens if not aborted
  const ac = new AbortController();
  const r = await fetch(`${shifting}/v1/completions`, {
    method: "POST",
    body: JSON.stringify({ prompt: "import os\n", max_tokens: 1_000_000, temperature: 1, seed: 1, ignore_eos: true, stream: true }),
    signal: ac.signal,
  });
  const reader = r.body!.getReader();
  await reader.read(); // the first piece has arrived: generation is running
  ac.abort();
  const j = (await (await post(`${shifting}/v1/completions`, { prompt: "x = ", max_tokens: 4, temperature: 0 })).json()) as Json;
  assert.equal(j.usage.completion_tokens, 4);
});

test("concurrent requests are answered in turn, each as if alone", async () => {
  const prompts = ["def a():\n", "import sys\n", "class B:\n", "for i in range(3):\n"];
  const alone = [];
  for (const p of prompts) alone.push((await llm.generate(p, { maxNewTokens: 12, temperature: 0, stopAtEos: true })).text);
  const got = await Promise.all(prompts.map(async (p) => ((await (await post(`${base}/v1/completions`, { prompt: p, max_tokens: 12, temperature: 0 })).json()) as Json).choices[0].text));
  assert.deepEqual(got, alone);
});

test("bad requests: OpenAI error bodies with 400/404/405/413; the server goes on", async () => {
  const cases: Array<[string, string, unknown, number, RegExp, string | null]> = [
    ["POST", "/v1/completions", "{not json", 400, /not valid JSON/, null],
    ["POST", "/v1/completions", [1, 2], 400, /must be a JSON object/, null],
    ["POST", "/v1/completions", {}, 400, /prompt must be a string/, "prompt"],
    ["POST", "/v1/completions", { prompt: "x", n: 2 }, 400, /n must be 1/, "n"],
    ["POST", "/v1/completions", { prompt: "x", temperature: "hot" }, 400, /temperature must be a number in \[0, 2\]/, "temperature"],
    ["POST", "/v1/completions", { prompt: "x", max_tokens: 1.5 }, 400, /max_tokens must be an integer >= 0/, "max_tokens"],
    ["POST", "/v1/completions", { prompt: "x", echo: true }, 400, /echo is not supported/, "echo"],
    ["POST", "/v1/completions", { prompt: "x", presence_penalty: 0.5 }, 400, /presence_penalty is not supported/, "presence_penalty"],
    ["POST", "/v1/completions", { prompt: "x", stop: [""] }, 400, /stop must be/, "stop"],
    ["POST", "/v1/completions", { prompt: [1, -1] }, 400, /prompt must be/, "prompt"],
    ["POST", "/v1/completions", { prompt: [999999] }, 400, /token id/, null],
    ["POST", "/v1/completions", { prompt: "x", stream: "yes" }, 400, /stream must be a boolean/, "stream"],
    ["POST", "/v1/chat/completions", { messages: [] }, 400, /messages must be a non-empty array/, "messages"],
    ["POST", "/v1/chat/completions", { messages: [{ role: "robot", content: "x" }] }, 400, /messages\[0\]\.role must be one of/, "messages[0].role"],
    ["POST", "/v1/chat/completions", { messages: [{ role: "user", content: [{ type: "image_url" }] }] }, 400, /text parts/, "messages[0].content"],
    ["POST", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], tools: [{}] }, 400, /tools\[0\] must be \{ type: "function"/, "tools[0]"],
    ["POST", "/v1/completions", { prompt: "x", tools: [{ type: "function", function: { name: "f" } }] }, 400, /tools are supported on \/v1\/chat\/completions only/, "tools"],
    ["GET", "/v1/completions", undefined, 405, /GET is not allowed/, null],
    ["POST", "/v1/nothing", {}, 404, /no route POST \/v1\/nothing/, null],
  ];
  for (const [method, path, body, status, re, param] of cases) {
    const r = await fetch(`${base}${path}`, { method, ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}) });
    const what = `${method} ${path} ${JSON.stringify(body)}`;
    assert.equal(r.status, status, what);
    const j = (await r.json()) as Json;
    assert.match(j.error.message, re, what);
    assert.equal(j.error.type, "invalid_request_error", what);
    assert.equal(j.error.param, param, what);
  }
  // a prompt past the context (256 tokens here)
  const long = await post(`${base}/v1/completions`, { prompt: "x = 1\n".repeat(200) });
  assert.equal(long.status, 400);
  assert.equal(((await long.json()) as Json).error.code, "context_length_exceeded");
  // a body over the limit
  const small = await start({ maxBodyBytes: 100 });
  const big = await post(`${small}/v1/completions`, { prompt: "x".repeat(1000) });
  assert.equal(big.status, 413);
  assert.match(((await big.json()) as Json).error.message, /exceeds 100 bytes/);
  // still serving
  assert.deepEqual(await (await fetch(`${base}/health`)).json(), { status: "ok" });
  const m = (await (await fetch(`${base}/v1/models`)).json()) as Json;
  assert.equal(m.data[0].id, "tinycode-7m");
  assert.equal(m.data[0].context_length, 256);
});

test("CLI: lowbit serve listens, answers, and stops on SIGINT with exit code 0; bad flags exit 2", { timeout: 120_000 }, async () => {
  const srv = await serveChild(["--model-id", "tc7", "--max-prompt-chars", "1000"]);
  const url = srv.url;
  const past = await post(`${url}/v1/completions`, { prompt: "y".repeat(1001) });
  assert.equal(past.status, 400);
  assert.match(((await past.json()) as Json).error.message, /^the prompt has 1001 characters; the server reads at most 1000 /);
  const models = (await (await fetch(`${url}/v1/models`)).json()) as Json;
  assert.equal(models.data[0].id, "tc7");
  const j = (await (await post(`${url}/v1/chat/completions`, { messages: [{ role: "user", content: "def f(x):" }], max_tokens: 8, temperature: 0 })).json()) as Json;
  // what the library computes with the same (default bf16) model
  const bf16 = await LLM.load(undefined, { threads: 2 });
  try {
    const prompt = new ChatTemplate(bf16.tokenizer).render([{ role: "user", content: "def f(x):" }]);
    const want = await bf16.generate(prompt, { maxNewTokens: 8, temperature: 0, stop: ["<|im_end|>"], stopAtEos: true });
    assert.equal(j.choices[0].message.content, want.text);
    assert.equal(j.usage.completion_tokens, want.ids.length);
  } finally {
    await bf16.dispose();
  }
  const code = await srv.stop("SIGINT");
  assert.equal(code, 0, srv.stderr());
  assert.match(srv.stderr(), /SIGINT, stopping/);

  for (const [args, re] of [
    [["--port", "70000"], /--port must be an integer in \[0, 65535\]/],
    [["--max-prompt-chars", "0"], /--max-prompt-chars must be an integer >= 1/],
    [["--keep", "4"], /--keep and --discard need --context-shift/],
    [["--draft-tokens", "3"], /--draft-tokens, --draft-confidence and --draft-quant need --draft/],
  ] as const) {
    const r = spawnSync(process.execPath, [join(REPO, "bin", "lowbit.js"), "serve", ...args], { cwd: REPO, encoding: "utf8" });
    assert.equal(r.status, 2, args.join(" "));
    assert.match(r.stderr, re);
  }
  // a port in use: the test server's
  const used = new URL(base).port;
  const r = spawnSync(process.execPath, [join(REPO, "bin", "lowbit.js"), "serve", "--port", used], { cwd: REPO, encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${used}: EADDRINUSE`));
});

test("a model's own chat template: rendered as transformers does, its raise_exception a 400, a broken one a TokenizerError", async () => {
  // Llama-2's template, shortened: system folded into the first user turn, roles must alternate
  const llama2 =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}" +
    "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}" +
    "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
    "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}" +
    "{% else %}{% set content = message['content'] %}{% endif %}" +
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
  const json = JSON.parse(readFileSync(join(EMBEDDED_MODEL, "tokenizer.json"), "utf8")) as object;
  const cfg = JSON.parse(readFileSync(join(EMBEDDED_MODEL, "tokenizer_config.json"), "utf8")) as object;
  const t = new ChatTemplate(Tokenizer.fromJSON(json, cfg, llama2));
  assert.equal(t.fallback, false);
  assert.deepEqual(t.stops, []);
  assert.equal(
    t.render([{ role: "system", content: "Be brief." }, { role: "user", content: " Hi " }, { role: "assistant", content: "Hello." }, { role: "user", content: "Bye" }]),
    // Python's str.strip on the folded first turn: the space before "Hi" is inside it
    "<|endoftext|>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n Hi [/INST] Hello. <|endoftext|><|endoftext|>[INST] Bye [/INST]",
  );
  assert.throws(() => t.render([{ role: "user", content: "a" }, { role: "user", content: "b" }]), (e: Error) => e instanceof InvalidOptionError && /roles must alternate/.test(e.message));
  assert.throws(() => new ChatTemplate(Tokenizer.fromJSON(json, cfg, "{% for %}")), TokenizerError);
});
