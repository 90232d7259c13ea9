/**
 * The server against hostile input (issue 16, item 6): JSON nested 100,000 deep, a request
 * target that is no URL, mistyped fields with a megabyte in them. Every one is a 400 with
 * OpenAI's error body, and the server goes on.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { LLM } from "../src/llm.js";
import { createServer } from "../src/server/server.js";
import { jsonDepth, parseJsonBody } from "../src/server/json-body.js";
import { RequestError } from "../src/errors.js";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let llm: LLM;
const servers: Server[] = [];
async function start(o: Partial<Parameters<typeof createServer>[0]> = {}): Promise<string> {
  const s = createServer({ model: llm, modelId: "tinycode-7m", ...o });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

let base: string;
before(async () => {
  llm = await LLM.load(undefined, { dtype: "f32", threads: 2, contextLength: 256 });
  base = await start();
});
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
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
    ["/v1/chat/completions", { messages: [{ role: { a: [huge] }, content: "x" }] }, /^messages\[0\]\.role must be one of system, user, assistant, developer, got \{"a":\["x{33}\.\.\.$/, "messages[0].role"],
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
