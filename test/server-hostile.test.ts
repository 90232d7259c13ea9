/**
 * The server against hostile input (issue 16, items 6 and 7): JSON nested 100,000 deep, a
 * request target that is no URL, mistyped fields, a megabyte of prompt. Every one is a 400
 * with OpenAI's error body, the server goes on, and while a large prompt is tokenized (on the
 * prompt worker) /health keeps answering: measured from another process than the server's.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { LLM } from "../src/llm.js";
import { createServer, type ServerOptions } from "../src/server/server.js";
import { TestServers } from "./helpers/test-servers.js";
import { parseJsonBody } from "../src/server/json-body.js";
import { jsonDepth } from "../src/json-text.js";
import { promptLimits } from "../src/server/prompt.js";
import { PromptTokenizer, tokenizerDir } from "../src/server/prompt-tokenizer.js";
import { ChatTemplate } from "../src/chat/template.js";
import { InvalidOptionError, RequestError } from "../src/errors.js";
import { serveChild } from "../bench/serve-child.js";
import { mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EMBEDDED_MODEL } from "./helpers/paths.js";
import { exportGguf } from "../src/formats/gguf-export.js";
import { hfSource } from "../src/models/source.js";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let llm: LLM;
const servers = new TestServers(() => llm);
const start = (o: Partial<ServerOptions> = {}) => servers.start(o);

let base: string;
before(async () => {
  llm = await LLM.load(undefined, { dtype: "f32", threads: 2, contextLength: 256 });
  base = await start();
});
after(async () => {
  await servers.closeAll();
  await llm.dispose();
});

const post = (url: string, body: unknown) => fetch(url, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body) });

/** Status and error body of a request that must be refused. */
async function refused(path: string, body: unknown): Promise<[number, Json]> {
  const r = await post(`${base}${path}`, body);
  return [r.status, (await r.json()) as Json];
}

const deep = (n: number, leaf = "1") => "[".repeat(n) + leaf + "]".repeat(n);

test("JSON nested 100,000 deep in role or temperature: 400 invalid_request_error, not 500; 64 levels still parse", async () => {
  for (const [path, body] of [
    ["/v1/chat/completions", `{"messages":[{"role":${deep(100_000)},"content":"x"}]}`],
    ["/v1/completions", `{"prompt":"x","temperature":${deep(100_000)}}`],
    ["/v1/completions", `{"prompt":"x","extra":${"{\"a\":".repeat(100_000)}1${"}".repeat(100_000)}}`],
  ] as const) {
    const [status, j] = await refused(path, body);
    assert.equal(status, 400, path);
    assert.deepEqual(j, { error: { message: "the request body nests deeper than 64 levels", type: "invalid_request_error", param: null, code: null } });
  }
  // the body object plus 63 levels of an unknown (ignored) field: 64, accepted; one more is refused
  const ok = await post(`${base}/v1/completions`, `{"prompt":"x","max_tokens":1,"extra":${deep(63)}}`);
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as Json).usage.completion_tokens, 1);
  const [status] = await refused("/v1/completions", `{"prompt":"x","max_tokens":1,"extra":${deep(64)}}`);
  assert.equal(status, 400);
});

test("jsonDepth counts brackets outside strings only; parseJsonBody bounds the depth before JSON.parse", () => {
  assert.equal(jsonDepth(`{"a":"[[[{{\\"[[","b":[1,{"c":[]}]}`), 4);
  assert.equal(jsonDepth(`"\\\\"`), 0); // an escaped backslash ends nothing early
  assert.equal(jsonDepth(`["\\\\",[[]]]`), 3);
  assert.equal(jsonDepth(deep(1000), 10), 11); // stops once past the bound
  assert.deepEqual(parseJsonBody(deep(3), 3), [[[1]]]);
  assert.throws(() => parseJsonBody(deep(4), 3), (e: unknown) => e instanceof RequestError && e.status === 400 && /nests deeper than 3 levels/.test(e.message));
  assert.throws(() => parseJsonBody("{", 3), (e: unknown) => e instanceof RequestError && /not valid JSON/.test(e.message));
});

/** The status line the server answers a raw request line with. */
function rawStatus(port: number, requestLine: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, "127.0.0.1");
    let d = "";
    c.on("data", (b) => (d += b.toString()));
    c.on("close", () => resolve(d.split("\r\n")[0]!));
    c.on("error", reject);
    c.end(`${requestLine}\r\nHost: x\r\nConnection: close\r\n\r\n`);
  });
}

test("a request target that is not a URL path (//x:99999): 400, and the server goes on (it threw out of the handler)", async () => {
  const port = Number(new URL(base).port);
  assert.equal(await rawStatus(port, "GET //x:99999 HTTP/1.1"), "HTTP/1.1 400 Bad Request");
  assert.equal(await rawStatus(port, "POST //[ HTTP/1.1"), "HTTP/1.1 400 Bad Request");
  assert.deepEqual(await (await fetch(`${base}/health`)).json(), { status: "ok" });
});

test("wrong types and extreme values anywhere: 400 naming the field, messages cut short", async () => {
  const huge = "x".repeat(500_000);
  const cases: Array<[string, unknown, RegExp, string | null]> = [
    ["/v1/completions", { prompt: "x", temperature: huge }, /^temperature must be a number in \[0, 2\], got "x{39}\.\.\.$/, "temperature"],
    ["/v1/completions", { prompt: "x", temperature: [[[[1]]]] }, /temperature must be a number/, "temperature"],
    ["/v1/completions", { prompt: "x", max_tokens: 1e308 }, /max_tokens must be an integer >= 0, got 1e\+308/, "max_tokens"],
    ["/v1/completions", { prompt: "x", seed: 1.5 }, /seed must be an integer/, "seed"],
    ["/v1/completions", { prompt: "x", top_k: -1 }, /top_k must be an integer >= 0/, "top_k"],
    ["/v1/completions", { prompt: "x", n: "2" }, /n must be 1/, "n"],
    ["/v1/completions", { prompt: "x", n: 1e308 }, /n must be 1/, "n"],
    ["/v1/completions", { prompt: "x", logit_bias: [] }, /logit_bias is not supported/, "logit_bias"],
    ["/v1/completions", { prompt: "x", logit_bias: { "1": 5 } }, /logit_bias is not supported/, "logit_bias"],
    ["/v1/completions", { prompt: "x", stop: {} }, /stop must be/, "stop"],
    ["/v1/completions", { prompt: "x", stop: Array(17).fill("a") }, /at most 16/, "stop"],
    ["/v1/completions", { prompt: [[]] }, /prompt must be/, "prompt"],
    ["/v1/completions", { prompt: [1e300] }, /prompt must be/, "prompt"],
    ["/v1/completions", { prompt: "x", stream_options: { include_usage: 3 } }, /include_usage must be a boolean/, "include_usage"],
    ["/v1/completions", { prompt: "x", stream_options: [] }, /stream_options must be an object/, "stream_options"],
    ["/v1/completions", { prompt: "x", model: {} }, /model must be a string/, "model"],
    ["/v1/chat/completions", { messages: [null] }, /messages\[0\] must be an object/, "messages[0]"],
    ["/v1/chat/completions", { messages: [{ role: "user", content: null }] }, /text parts/, "messages[0].content"],
    ["/v1/chat/completions", { messages: [{ role: "user", content: [{ type: "text", text: 5 }] }] }, /text parts/, "messages[0].content"],
    ["/v1/chat/completions", { messages: [{ role: { a: [huge] }, content: "x" }] }, /^messages\[0\]\.role must be one of system, user, assistant, tool, developer, got \{"a":\["x{33}\.\.\.$/, "messages[0].role"],
    ["/v1/chat/completions", { messages: { 0: { role: "user", content: "x" } } }, /messages must be a non-empty array/, "messages"],
  ];
  for (const [path, body, re, param] of cases) {
    const what = `${path} ${JSON.stringify(body).slice(0, 60)}`;
    const [status, j] = await refused(path, body);
    assert.equal(status, 400, what);
    assert.match(j.error.message, re, what);
    assert.equal(j.error.type, "invalid_request_error", what);
    assert.equal(j.error.param, param, what);
  }
});

test("prompt size bounds: a megabyte of prompt, of chat content or 30,000 messages is a 400 context_length_exceeded at once", async () => {
  const mib = 1 << 20;
  const cases: Array<[string, unknown, RegExp]> = [
    ["/v1/completions", { prompt: "x".repeat(mib - 100) }, /^the prompt has 1048476 characters; the server reads at most 8192 /],
    ["/v1/completions", { prompt: "é".repeat(500_000) }, /^the prompt has 500000 characters/],
    ["/v1/chat/completions", { messages: [{ role: "user", content: "x ".repeat(500_000) }] }, /^the messages' content has 1000000 characters; the server reads at most 8192 /],
    ["/v1/chat/completions", { messages: Array.from({ length: 30_000 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: "" })) }, /^messages has 30000 entries; the server reads at most 256 /],
  ];
  for (const [path, body, re] of cases) {
    const t0 = performance.now();
    const [status, j] = await refused(path, body);
    const ms = performance.now() - t0;
    assert.equal(status, 400);
    assert.match(j.error.message, re);
    assert.equal(j.error.code, "context_length_exceeded");
    assert.ok(ms < 1000, `${ms.toFixed(0)} ms for ${j.error.message}`); // it was 20 s for a megabyte
  }
  // the bound is the server's maxPromptChars when given: 100 characters pass, 101 do not
  const small = await start({ maxPromptChars: 100 });
  const at = await post(`${small}/v1/completions`, { prompt: "y".repeat(100), max_tokens: 1 });
  assert.equal(at.status, 200);
  const past = await post(`${small}/v1/completions`, { prompt: "y".repeat(101), max_tokens: 1 });
  assert.equal(past.status, 400);
  assert.match(((await past.json()) as Json).error.message, /^the prompt has 101 characters; the server reads at most 100 /);
  assert.throws(() => createServer({ model: llm, modelId: "x", maxPromptChars: 0 }), InvalidOptionError);
});

test("the prompt worker gives the model tokenizer's ids, for text and chat, and parses large bodies; answers are the same without it", async () => {
  const template = new ChatTemplate(llm.tokenizer);
  assert.equal(tokenizerDir(llm), llm.origin.dir);
  const worker = new PromptTokenizer(llm, template, promptLimits(llm.contextLength), tokenizerDir(llm));
  const here = new PromptTokenizer(llm, template, promptLimits(llm.contextLength), null);
  try {
    assert.equal(await worker.offThread(), true);
    assert.equal(await here.offThread(), false);
    const text = "def f(x):\n    return 'é' * x  # 中文 <|endoftext|>\n";
    const messages = [{ role: "system" as const, content: "Be brief." }, { role: "user" as const, content: text }];
    const body = { prompt: "é".repeat(100_000), messages, n: [1, [2, { a: null }]] };
    for (const p of [worker, here]) {
      assert.deepEqual(await p.ids({ kind: "text", text }), llm.encode(text));
      assert.deepEqual(await p.ids({ kind: "chat", messages }), llm.encode(template.render(messages)));
      // large bodies are parsed there too, with the same depth bound and errors
      assert.deepEqual(await p.parseBody(Buffer.from(JSON.stringify(body)), 64), body);
      await assert.rejects(p.parseBody(Buffer.from(deep(65)), 64), (e: unknown) => e instanceof RequestError && e.status === 400 && /nests deeper than 64 levels/.test(e.message));
      await assert.rejects(p.parseBody(Buffer.from(`{"a":"${"x".repeat(70_000)}`), 64), (e: unknown) => e instanceof RequestError && /not valid JSON/.test(e.message));
    }
  } finally {
    worker.close();
    here.close();
  }
  const without = await start({ promptWorker: false });
  const body = { prompt: "class Queue:\n", max_tokens: 12, temperature: 0 };
  const a = (await (await post(`${base}/v1/completions`, body)).json()) as Json;
  const b = (await (await post(`${without}/v1/completions`, body)).json()) as Json;
  assert.equal(a.choices[0].text, b.choices[0].text);
  assert.deepEqual(a.usage, b.usage);
});

test("a template's refusal rendered on the prompt worker is still a 400 with its message", async () => {
  // the embedded model with a chat template that refuses two user turns in a row: chat_template.jinja beside links to its files
  const dir = mkdtempSync(join(tmpdir(), "lowbit-template-"));
  try {
    for (const f of readdirSync(EMBEDDED_MODEL)) symlinkSync(join(EMBEDDED_MODEL, f), join(dir, f));
    writeFileSync(join(dir, "chat_template.jinja"), "{% for m in messages %}{% if loop.index0 > 0 and m['role'] == messages[loop.index0 - 1]['role'] %}{{ raise_exception('roles must alternate') }}{% endif %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}assistant:");
    const model = await LLM.load(dir, { dtype: "f32", threads: 2, contextLength: 256 });
    const own = new TestServers(() => model);
    const probe = new PromptTokenizer(model, new ChatTemplate(model.tokenizer), promptLimits(256), tokenizerDir(model));
    try {
      assert.equal(await probe.offThread(), true); // the worker's copy has the template: the refusal comes from there
      const url = await own.start();
      const r = await post(`${url}/v1/chat/completions`, { messages: [{ role: "user", content: "a" }, { role: "user", content: "b" }], max_tokens: 1 });
      assert.equal(r.status, 400);
      assert.match(((await r.json()) as Json).error.message, /the chat template rejects these messages: roles must alternate/);
      const ok = await post(`${url}/v1/chat/completions`, { messages: [{ role: "user", content: "a" }], max_tokens: 1, temperature: 0 });
      assert.equal(ok.status, 200);
      assert.equal(((await ok.json()) as Json).usage.prompt_tokens, model.encode("user: a\nassistant:").length);
    } finally {
      probe.close();
      await own.closeAll();
      await model.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("/health answers within 1 s (measured from another process) while a large prompt is tokenized and a long prefill runs", { timeout: 180_000 }, async (t) => {
  const srv = await serveChild(["--threads", "1"]); // the embedded model, context 2048: prompts up to 65536 characters
  try {
    const health: number[] = [];
    /** /health every 20 ms until `work` settles; its answer and the latencies seen meanwhile */
    const whilst = async <T>(work: Promise<T>): Promise<[T, number[]]> => {
      let done = false;
      void work.finally(() => (done = true));
      const seen: number[] = [];
      while (!done) {
        const t0 = performance.now();
        const r = await fetch(`${srv.url}/health`);
        assert.deepEqual(await r.json(), { status: "ok" });
        seen.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 20));
      }
      health.push(...seen);
      return [await work, seen];
    };
    const ask = async (prompt: string) => {
      const t0 = performance.now();
      const r = await post(`${srv.url}/v1/completions`, { prompt, max_tokens: 1, temperature: 0 });
      return { status: r.status, j: (await r.json()) as Json, ms: performance.now() - t0 };
    };
    // 1 MiB: refused by its size
    const [mib, duringMib] = await whilst(ask("x".repeat((1 << 20) - 100)));
    assert.equal(mib.status, 400);
    assert.match(mib.j.error.message, /the server reads at most 65536/);
    // 65,536 characters: within the bound, seconds of tokenizing (on the prompt worker), then too many tokens
    const [big, during] = await whilst(ask("x".repeat(65_536)));
    assert.equal(big.status, 400);
    assert.match(big.j.error.message, /^prompt has 32768 tokens; the context holds 2048/);
    assert.ok(during.length >= 3, `${during.length} /health answers during ${big.ms.toFixed(0)} ms of tokenizing`);
    // a 2,000-token prompt: the prefill runs in native code
    const [prefill, duringPrefill] = await whilst(ask("x = 1\n".repeat(500)));
    assert.equal(prefill.status, 200, JSON.stringify(prefill.j));
    assert.equal(prefill.j.usage.prompt_tokens, 2000);
    const max = Math.max(...health);
    const top = (xs: number[]) => `${xs.length} answers, max ${Math.max(...xs).toFixed(1)} ms`;
    t.diagnostic(`/health during: 1 MiB refused in ${mib.ms.toFixed(0)} ms: ${top(duringMib)}; 65536 chars tokenized in ${big.ms.toFixed(0)} ms: ${top(during)}; 2000-token prefill in ${prefill.ms.toFixed(0)} ms: ${top(duringPrefill)}`);
    assert.ok(max < 1000, `/health took ${max.toFixed(0)} ms`);
  } finally {
    assert.equal(await srv.stop(), 0, srv.stderr());
  }
});

test("a GGUF model's prompts are tokenized on the worker too (its tokenizer read from the file), with the model's ids", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lowbit-gguf-worker-"));
  const file = join(dir, "m.gguf");
  exportGguf(hfSource(EMBEDDED_MODEL), file, "q8_0");
  const model = await LLM.load(file, { threads: 1, contextLength: 128 });
  const template = new ChatTemplate(model.tokenizer);
  const worker = new PromptTokenizer(model, template, promptLimits(model.contextLength), tokenizerDir(model));
  try {
    assert.equal(tokenizerDir(model), file);
    assert.equal(await worker.offThread(), true); // on b276a23's design a GGUF model had no worker
    const text = "import os\nprint('é 中文')  # <|endoftext|>\n";
    const messages = [{ role: "user" as const, content: text }];
    assert.deepEqual(await worker.ids({ kind: "text", text }), model.encode(text));
    assert.deepEqual(await worker.ids({ kind: "chat", messages }), model.encode(template.render(messages)));
  } finally {
    worker.close();
    await model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
