/**
 * The server for deployments (issue 20, point 9): API keys (401 in OpenAI's shape, /health open),
 * CORS, one log line per request, Prometheus /metrics, /v1/models/{id}, and a request naming
 * another model a 404 model_not_found. In process on the embedded tinycode-7m, and the CLI flags
 * through `lowbit serve` in a child process.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { LLM } from "../src/llm.js";
import type { ServerOptions } from "../src/server/server.js";
import { ApiKeys, Cors, readApiKeyFile } from "../src/server/access.js";
import { Histogram } from "../src/server/metrics.js";
import { TestServers } from "./helpers/test-servers.js";
import { serveChild } from "../bench/serve-child.js";
import { REPO } from "./helpers/paths.js";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let llm: LLM;
const servers = new TestServers(() => llm);
const start = (o: Partial<ServerOptions> = {}) => servers.start(o);
before(async () => {
  llm = await LLM.load(undefined, { dtype: "f32", threads: 2, contextLength: 256 });
});
after(async () => {
  await servers.closeAll();
  await llm.dispose();
});

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

/** Prometheus text: `name{labels}` -> value, HELP/TYPE lines checked for every family. */
function parseMetrics(text: string): Map<string, number> {
  const m = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("# TYPE ")) typed.add(line.split(" ")[2]!);
    if (line.startsWith("#")) continue;
    const r = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    assert.ok(r, `not a sample line: ${line}`);
    const family = r[1]!.replace(/_(bucket|sum|count)$/, "");
    assert.ok(typed.has(r[1]!) || typed.has(family), `no # TYPE for ${r[1]}`);
    m.set(r[1]! + (r[2] ?? ""), Number(r[3]));
  }
  return m;
}

test("ApiKeys: only the configured keys pass, compared through equal-length digests; key files; bad keys refused", () => {
  const k = new ApiKeys(["sk-one", "sk-two-longer"]);
  assert.equal(k.accepts("sk-one"), true);
  assert.equal(k.accepts("sk-two-longer"), true);
  for (const bad of [null, "", "sk-on", "sk-one ", "sk-onee", "SK-ONE", "sk-two"]) assert.equal(k.accepts(bad), false, String(bad));
  assert.equal(new ApiKeys([]).accepts(""), false);
  const dir = mkdtempSync(join(tmpdir(), "keys-"));
  try {
    const f = join(dir, "keys.txt");
    writeFileSync(f, "# deploy keys\nsk-a\n\n  sk-b  \r\n");
    assert.deepEqual(readApiKeyFile(f), ["sk-a", "sk-b"]);
    writeFileSync(f, "# none\n\n");
    assert.throws(() => readApiKeyFile(f), /holds no key/);
    assert.throws(() => readApiKeyFile(join(dir, "missing")), /missing: not found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => new ApiKeys([" sk"]), /API key/);
  assert.throws(() => new Cors(["example.com"]), /CORS origin/);
  assert.throws(() => new Cors(["http://a.example/path"]), /CORS origin/);
});

test("API keys: 401 invalid_api_key in OpenAI's shape without the right Bearer key; /health stays open", async () => {
  const base = await start({ apiKeys: ["sk-one", "sk-two"] });
  for (const headers of [{}, { authorization: "Bearer sk-three" }, { authorization: "sk-one" }, { authorization: "Basic c2stb25l" }] as Record<string, string>[]) {
    for (const [method, path] of [["GET", "/v1/models"], ["GET", "/metrics"], ["POST", "/v1/completions"], ["GET", "/v1/models/tinycode-7m"], ["GET", "/nothing"]]) {
      const r = await fetch(`${base}${path}`, { method, headers, ...(method === "POST" ? { body: JSON.stringify({ prompt: "x", max_tokens: 1 }) } : {}) });
      assert.equal(r.status, 401, `${method} ${path} ${JSON.stringify(headers)}`);
      assert.equal(r.headers.get("www-authenticate"), "Bearer");
      const j = (await r.json()) as Json;
      assert.deepEqual(Object.keys(j.error).sort(), ["code", "message", "param", "type"]);
      assert.equal(j.error.code, "invalid_api_key");
      assert.equal(j.error.type, "invalid_request_error");
    }
  }
  assert.deepEqual(await (await fetch(`${base}/health`)).json(), { status: "ok" });
  for (const key of ["sk-one", "sk-two"]) {
    const r = await post(`${base}/v1/completions`, { prompt: "def f(x):", max_tokens: 4, temperature: 0 }, { authorization: `Bearer ${key}` });
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as Json).usage.completion_tokens, 4);
  }
  assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: "bearer sk-two" } })).status, 200);
});

test("CORS: allowed origins get Access-Control-Allow-Origin and preflights a 204; others and servers without --cors get none", async () => {
  const base = await start({ cors: ["http://app.example:3000"], apiKeys: ["sk"] });
  const auth = { authorization: "Bearer sk" };
  const ok = await fetch(`${base}/v1/models`, { headers: { origin: "http://app.example:3000", ...auth } });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("access-control-allow-origin"), "http://app.example:3000");
  assert.match(ok.headers.get("vary") ?? "", /Origin/);
  const other = await fetch(`${base}/v1/models`, { headers: { origin: "http://evil.example", ...auth } });
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  // a preflight carries no key (browsers send none): answered before the key check
  const pre = await fetch(`${base}/v1/chat/completions`, {
    method: "OPTIONS",
    headers: { origin: "http://app.example:3000", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "http://app.example:3000");
  assert.match(pre.headers.get("access-control-allow-methods")!, /\bPOST\b/);
  assert.match(pre.headers.get("access-control-allow-headers")!, /authorization/);
  // a 401 still carries the header, so the browser shows the error body
  const noKey = await fetch(`${base}/v1/models`, { headers: { origin: "http://app.example:3000" } });
  assert.equal(noKey.status, 401);
  assert.equal(noKey.headers.get("access-control-allow-origin"), "http://app.example:3000");
  const any = await start({ cors: ["*"] });
  assert.equal((await fetch(`${any}/health`, { headers: { origin: "http://x.example" } })).headers.get("access-control-allow-origin"), "*");
  const plain = await start();
  const r = await fetch(`${plain}/v1/models`, { headers: { origin: "http://app.example:3000" } });
  assert.equal(r.headers.get("access-control-allow-origin"), null);
  assert.equal((await fetch(`${plain}/v1/chat/completions`, { method: "OPTIONS" })).status, 405);
});

test("one log line per request: its id (x-request-id, the response id), method, path, status, tokens and ms", async () => {
  const lines: string[] = [];
  const base = await start({ log: (l) => lines.push(l) });
  const r = await post(`${base}/v1/completions`, { prompt: "def f(x):", max_tokens: 5, temperature: 0 });
  const j = (await r.json()) as Json;
  const id = r.headers.get("x-request-id")!;
  assert.match(id, /^[0-9a-f]{24}$/);
  assert.equal(j.id, `cmpl-${id}`);
  const c = await post(`${base}/v1/chat/completions`, { messages: [{ role: "user", content: "hi" }], max_tokens: 3, temperature: 0, stream: true });
  await c.text();
  await fetch(`${base}/nowhere`);
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(lines.length, 3, lines.join("\n"));
  const fields = (l: string) => Object.fromEntries([...l.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map((m) => [m[1], m[2]!.replace(/^"|"$/g, "")]));
  const a = fields(lines[0]!);
  assert.deepEqual([a.id, a.method, a.path, a.status, a.prompt_tokens, a.completion_tokens], [id, "POST", "/v1/completions", "200", String(j.usage.prompt_tokens), "5"]);
  assert.ok(Number(a.ms) > 0);
  assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z /);
  const b = fields(lines[1]!);
  assert.deepEqual([b.id, b.path, b.status, b.completion_tokens], [c.headers.get("x-request-id"), "/v1/chat/completions", "200", "3"]);
  const d = fields(lines[2]!);
  assert.deepEqual([d.method, d.path, d.status, d.prompt_tokens], ["GET", "/nowhere", "404", "0"]);
});

test("/metrics: requests by route and status, token totals, TTFT/TPOT histograms, queue depth while requests wait", async () => {
  const base = await start();
  let prompt = 0, completion = 0;
  for (const n of [3, 6]) {
    const j = (await (await post(`${base}/v1/completions`, { prompt: "import os\n", max_tokens: n, temperature: 0 })).json()) as Json;
    prompt += j.usage.prompt_tokens;
    completion += j.usage.completion_tokens;
  }
  await post(`${base}/v1/completions`, { prompt: "x", temperature: "hot" });
  const m = parseMetrics(await (await fetch(`${base}/metrics`)).text());
  assert.equal(m.get('lowbit_requests_total{path="/v1/completions",status="200"}'), 2);
  assert.equal(m.get('lowbit_requests_total{path="/v1/completions",status="400"}'), 1);
  assert.equal(m.get("lowbit_prompt_tokens_total"), prompt);
  assert.equal(m.get("lowbit_completion_tokens_total"), completion);
  assert.equal(m.get("lowbit_queue_depth"), 0);
  assert.equal(m.get("lowbit_ttft_seconds_count"), 2);
  assert.equal(m.get("lowbit_tpot_seconds_count"), 2);
  assert.equal(m.get('lowbit_ttft_seconds_bucket{le="+Inf"}'), 2);
  assert.ok(m.get("lowbit_ttft_seconds_sum")! > 0);
  // two long generations at once: one runs, one waits
  const gens = [0, 1].map(() => post(`${base}/v1/completions`, { prompt: "def f(x):", max_tokens: 200, temperature: 0, ignore_eos: true }));
  let deepest = 0;
  for (let i = 0; i < 200 && deepest < 2; i++) {
    deepest = Math.max(deepest, parseMetrics(await (await fetch(`${base}/metrics`)).text()).get("lowbit_queue_depth")!);
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(gens.map(async (g) => (await g).json()));
  assert.equal(deepest, 2);
  const after = parseMetrics(await (await fetch(`${base}/metrics`)).text());
  assert.equal(after.get("lowbit_queue_depth"), 0);
  assert.equal(after.get("lowbit_completion_tokens_total"), completion + 400);
  assert.equal(after.get('lowbit_requests_total{path="/metrics",status="200"}')! >= 2, true);
});

test("Histogram: cumulative buckets, sum and count", () => {
  const h = new Histogram([0.1, 1]);
  for (const x of [0.05, 0.1, 0.5, 3, NaN]) h.observe(x);
  assert.deepEqual(h.lines("t"), ['t_bucket{le="0.1"} 2', 't_bucket{le="1"} 3', 't_bucket{le="+Inf"} 4', "t_sum 3.65", "t_count 4"]);
});

test("/v1/models/{id} and the request's model: the served id and the model's own name; anything else 404 model_not_found", async () => {
  const base = await start({ modelId: "tc7" });
  for (const id of ["tc7", "tinycode-7m"]) {
    const r = await fetch(`${base}/v1/models/${id}`);
    assert.equal(r.status, 200, id);
    const j = (await r.json()) as Json;
    assert.equal(j.id, "tc7");
    assert.equal(j.object, "model");
  }
  // an id with a slash, escaped or not; a malformed escape is a 404 too, not a 500
  for (const id of ["org/tc7", "org%2Ftc7", "%E0%A4%A"]) {
    const r = await fetch(`${base}/v1/models/${id}`);
    assert.equal(r.status, 404, id);
    assert.equal(((await r.json()) as Json).error.code, "model_not_found");
  }
  const slashed = await start({ modelId: "org/tc7" });
  for (const id of ["org/tc7", "org%2Ftc7"]) assert.equal((await fetch(`${slashed}/v1/models/${id}`)).status, 200, id);
  const missing = await fetch(`${base}/v1/models/gpt-4o`);
  assert.equal(missing.status, 404);
  const e = ((await missing.json()) as Json).error;
  assert.equal(e.code, "model_not_found");
  assert.equal(e.type, "invalid_request_error");
  assert.match(e.message, /gpt-4o/);
  for (const model of ["tc7", "tinycode-7m", undefined]) {
    const r = await post(`${base}/v1/completions`, { ...(model ? { model } : {}), prompt: "x", max_tokens: 1 });
    assert.equal(r.status, 200, String(model));
  }
  for (const [path, body] of [["/v1/completions", { prompt: "x" }], ["/v1/chat/completions", { messages: [{ role: "user", content: "x" }] }]] as const) {
    const r = await post(`${base}${path}`, { model: "gpt-4o", ...body, max_tokens: 1 });
    assert.equal(r.status, 404, path);
    const j = (await r.json()) as Json;
    assert.deepEqual(j.error, { message: "The model `gpt-4o` does not exist", type: "invalid_request_error", param: "model", code: "model_not_found" });
  }
  // custom aliases replace the default ones
  const aliased = await start({ modelId: "tc7", modelAliases: ["coder"] });
  assert.equal((await fetch(`${aliased}/v1/models/coder`)).status, 200);
  assert.equal((await fetch(`${aliased}/v1/models/tinycode-7m`)).status, 404);
});

test("CLI: serve --api-key-file, --api-key, --cors and --log FILE; bad values exit 2", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "serve-deploy-"));
  try {
    const keys = join(dir, "keys"), log = join(dir, "requests.log");
    writeFileSync(keys, "# keys\nsk-file\n");
    const srv = await serveChild(["--api-key-file", keys, "--api-key", "sk-flag", "--cors", "http://app.example", "--log", log]);
    try {
      assert.match(srv.stderr(), /2 API keys; CORS http:\/\/app\.example/);
      assert.equal((await fetch(`${srv.url}/v1/models`)).status, 401);
      for (const k of ["sk-file", "sk-flag"]) {
        const r = await fetch(`${srv.url}/v1/models`, { headers: { authorization: `Bearer ${k}`, origin: "http://app.example" } });
        assert.equal(r.status, 200, k);
        assert.equal(r.headers.get("access-control-allow-origin"), "http://app.example");
      }
      assert.equal((await fetch(`${srv.url}/health`)).status, 200);
    } finally {
      assert.equal(await srv.stop("SIGINT"), 0, srv.stderr());
    }
    const lines = readFileSync(log, "utf8").trimEnd().split("\n");
    assert.deepEqual(lines.map((l) => /path="([^"]*)" status=(\d+)/.exec(l)!.slice(1).join(" ")), ["/v1/models 401", "/v1/models 200", "/v1/models 200", "/health 200"]);
    assert.doesNotMatch(srv.stderr(), /path=/, "with --log FILE the lines go to the file only");
    for (const [args, re] of [
      [["--api-key-file", join(dir, "nope")], /nope: not found/],
      [["--cors", "app.example"], /CORS origin/],
      [["--api-key", " "], /API key/],
    ] as const) {
      const r = spawnSync(process.execPath, [join(REPO, "bin", "lowbit.js"), "serve", ...args], { cwd: REPO, encoding: "utf8" });
      assert.equal(r.status, 2, args.join(" "));
      assert.match(r.stderr, re);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
