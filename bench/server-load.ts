/**
 * A load on lowbit's server (docs/SERVER.md, "Under load"): `streams` clients, each with one
 * request in flight at all times for `seconds`, against a loopback URL. The mix, in a fixed
 * order per client: streamed completions and chats (most), plain completions, streams the
 * client drops after its first chunk, and malformed requests (bad JSON, JSON nested 100,000
 * deep, mistyped fields, an unknown route, an oversized prompt). A prober asks /health every
 * 100 ms meanwhile. Everything the server sends is checked:
 *
 *   server errors   a 5xx, an error chunk inside a stream, a connection that failed (not one
 *                   the client dropped), the server process gone
 *   ill-formed      a stream whose events are not `data: <JSON>\n\n` ending with `data: [DONE]`,
 *                   a malformed request answered other than 4xx with OpenAI's error body
 *
 * and the server's RSS is read at the start, after `warmupSeconds` and at the end.
 * Used by test/server-load.test.ts (short) and bench/soak-server.ts (npm run soak:server).
 */

export interface LoadOptions {
  /** http://127.0.0.1:PORT */
  url: string;
  streams: number;
  seconds: number;
  /** of the `seconds`, the first ones, after which the "warm" RSS is read */
  warmupSeconds: number;
  /** max_tokens of the generating requests */
  maxTokens: number;
  /** the server's resident set size in bytes (null: gone) */
  rss: () => number | null;
}

export interface Percentiles {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export interface LoadReport {
  streams: number;
  seconds: number;
  requests: number;
  /** requests per kind */
  kinds: Record<string, number>;
  serverErrors: number;
  illFormed: number;
  /** the first problems seen, for the message of a failed run */
  problems: string[];
  /** ms from sending a streamed request to its `data: [DONE]` (queueing behind the others included) */
  streamMs: Percentiles;
  /** ms to the first event of a stream */
  firstEventMs: Percentiles;
  healthMs: Percentiles;
  /** bytes */
  rss: { start: number; warm: number; end: number; peak: number };
}

type Kind = "stream" | "chat-stream" | "plain" | "disconnect" | "malformed";
/** one client's cycle of request kinds: 11 requests */
const CYCLE: Kind[] = ["stream", "chat-stream", "malformed", "stream", "plain", "chat-stream", "disconnect", "stream", "malformed", "chat-stream", "stream"];

const MALFORMED: Array<{ path: string; body: string; status: number }> = [
  { path: "/v1/completions", body: "{not json", status: 400 },
  { path: "/v1/chat/completions", body: `{"messages":[{"role":${"[".repeat(100_000)}${"]".repeat(100_000)},"content":"x"}]}`, status: 400 },
  { path: "/v1/completions", body: JSON.stringify({ prompt: "x", temperature: "hot" }), status: 400 },
  { path: "/v1/chat/completions", body: JSON.stringify({ messages: [{ role: "robot", content: "x" }] }), status: 400 },
  { path: "/v1/nothing", body: "{}", status: 404 },
  { path: "/v1/completions", body: JSON.stringify({ prompt: "y".repeat(300_000) }), status: 400 },
];

const PROMPTS = ["def fibonacci(n):\n", "import os\n", "class Stack:\n", "for i in range(10):\n", "# sort a list\n", "x = [1, 2, 3]\n"];

export function percentiles(xs: number[]): Percentiles {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN);
  return { n: s.length, p50: at(50), p99: at(99), max: s.length ? s[s.length - 1]! : NaN };
}

/** The problem with an SSE body, or null: `data: <JSON>` events, the last `data: [DONE]`, no error chunk. */
export function sseProblem(text: string, chat: boolean): string | null {
  if (!text.endsWith("\n\n")) return "the stream does not end with a blank line";
  const events = text.slice(0, -2).split("\n\n");
  if (events.at(-1) !== "data: [DONE]") return `the last event is ${JSON.stringify(events.at(-1)?.slice(0, 60))}, not data: [DONE]`;
  const chunks = events.slice(0, -1);
  if (chunks.length === 0) return "no chunk before [DONE]";
  for (const [i, e] of chunks.entries()) {
    if (!e.startsWith("data: ")) return `event ${i} is not a data line: ${JSON.stringify(e.slice(0, 60))}`;
    let j: { error?: unknown; choices?: Array<{ delta?: { role?: string } }> };
    try {
      j = JSON.parse(e.slice(6)) as typeof j;
    } catch {
      return `event ${i} is not JSON: ${JSON.stringify(e.slice(0, 60))}`;
    }
    if (j.error !== undefined) return `error chunk: ${JSON.stringify(j.error).slice(0, 200)}`;
    if (!Array.isArray(j.choices)) return `chunk ${i} has no choices`;
  }
  if (chat && JSON.parse(chunks[0]!.slice(6)).choices[0]?.delta?.role !== "assistant") return "the first chat chunk does not carry the role";
  return null;
}

export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const kinds: Record<string, number> = {};
  const problems: string[] = [];
  let serverErrors = 0, illFormed = 0, requests = 0;
  const streamMs: number[] = [], firstEventMs: number[] = [], healthMs: number[] = [];
  const problem = (server: boolean, what: string) => {
    if (server) serverErrors++;
    else illFormed++;
    if (problems.length < 10) problems.push(what);
  };
  const rssNow = () => o.rss() ?? NaN;
  const rss = { start: rssNow(), warm: NaN, end: NaN, peak: 0 };
  const t0 = performance.now();
  const until = t0 + o.seconds * 1000;
  const running = () => performance.now() < until;

  const post = (path: string, body: string, signal?: AbortSignal) =>
    fetch(`${o.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body, ...(signal ? { signal } : {}) });

  const generate = async (kind: "stream" | "chat-stream" | "plain" | "disconnect", n: number) => {
    const prompt = PROMPTS[n % PROMPTS.length]!;
    const chat = kind === "chat-stream";
    const body = {
      ...(chat ? { messages: [{ role: "user", content: prompt }] } : { prompt }),
      max_tokens: kind === "disconnect" ? 4 * o.maxTokens : o.maxTokens,
      temperature: n % 3 === 0 ? 0 : 0.8,
      seed: n,
      stream: kind !== "plain",
      ...(n % 2 ? { stream_options: { include_usage: true } } : {}),
    };
    const ac = new AbortController();
    const start = performance.now();
    const r = await post(chat ? "/v1/chat/completions" : "/v1/completions", JSON.stringify(body), ac.signal);
    if (r.status >= 500) return problem(true, `${kind}: ${r.status} ${(await r.text()).slice(0, 200)}`);
    if (r.status !== 200) return problem(false, `${kind}: ${r.status} ${(await r.text()).slice(0, 200)}`);
    if (kind === "plain") {
      const j = (await r.json()) as { choices?: unknown[] };
      if (!Array.isArray(j.choices) || j.choices.length !== 1) problem(false, `plain: ${JSON.stringify(j).slice(0, 200)}`);
      return;
    }
    if (r.headers.get("content-type") !== "text/event-stream") return problem(false, `${kind}: content-type ${r.headers.get("content-type")}`);
    const reader = r.body!.getReader();
    const dec = new TextDecoder();
    let text = "";
    for (let first = true; ; first = false) {
      const { done, value } = await reader.read();
      if (done) break;
      if (first) firstEventMs.push(performance.now() - start);
      text += dec.decode(value, { stream: true });
      if (kind === "disconnect") {
        ac.abort(); // the client leaves after the first piece
        return;
      }
    }
    streamMs.push(performance.now() - start);
    const p = sseProblem(text, chat);
    if (p) problem(/error chunk/.test(p), `${kind}: ${p}`);
  };

  const malformed = async (n: number) => {
    const m = MALFORMED[n % MALFORMED.length]!;
    const r = await post(m.path, m.body);
    const text = await r.text();
    if (r.status >= 500) return problem(true, `malformed ${m.path}: ${r.status} ${text.slice(0, 200)}`);
    let type: unknown;
    try {
      type = (JSON.parse(text) as { error?: { type?: unknown } }).error?.type;
    } catch {
      type = undefined;
    }
    if (r.status !== m.status || type !== "invalid_request_error") problem(false, `malformed ${m.path}: ${r.status} ${text.slice(0, 200)}`);
  };

  const client = async (c: number) => {
    for (let i = 0; running(); i++) {
      const kind = CYCLE[(c + i) % CYCLE.length]!;
      const n = c * 1000 + i;
      kinds[kind] = (kinds[kind] ?? 0) + 1;
      requests++;
      try {
        await (kind === "malformed" ? malformed(n) : generate(kind, n));
      } catch (e) {
        problem(true, `${kind}: ${(e as Error).message} ${String((e as { cause?: unknown }).cause ?? "")}`);
      }
    }
  };

  const prober = async () => {
    while (running()) {
      const s = performance.now();
      try {
        const r = await fetch(`${o.url}/health`);
        await r.text();
        if (r.status !== 200) problem(true, `/health: ${r.status}`);
        else healthMs.push(performance.now() - s);
      } catch (e) {
        problem(true, `/health: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const sampler = setInterval(() => (rss.peak = Math.max(rss.peak, rssNow())), 250);
  const warm = setTimeout(() => (rss.warm = rssNow()), o.warmupSeconds * 1000);
  try {
    await Promise.all([...Array.from({ length: o.streams }, (_, c) => client(c)), prober()]);
  } finally {
    clearInterval(sampler);
    clearTimeout(warm);
  }
  rss.end = rssNow();
  rss.peak = Math.max(rss.peak, rss.end);
  if (Number.isNaN(rss.end)) problem(true, "the server process is gone");
  return {
    streams: o.streams,
    seconds: (performance.now() - t0) / 1000,
    requests,
    kinds,
    serverErrors,
    illFormed,
    problems,
    streamMs: percentiles(streamMs),
    firstEventMs: percentiles(firstEventMs),
    healthMs: percentiles(healthMs),
    rss,
  };
}

/** One line of figures, as docs/SERVER.md records them. */
export function summary(r: LoadReport): string {
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MB`;
  const ms = (p: Percentiles) => `p50 ${p.p50.toFixed(0)} / p99 ${p.p99.toFixed(0)} ms`;
  return (
    `${r.streams} streams, ${r.seconds.toFixed(1)} s: ${r.requests} requests (${Object.entries(r.kinds).map(([k, v]) => `${k} ${v}`).join(", ")}); ` +
    `server errors ${r.serverErrors}, ill-formed ${r.illFormed}; stream to [DONE] ${ms(r.streamMs)}, first event ${ms(r.firstEventMs)}; ` +
    `/health ${ms(r.healthMs)}, max ${r.healthMs.max.toFixed(0)} ms; RSS start ${mb(r.rss.start)}, after warm-up ${mb(r.rss.warm)}, end ${mb(r.rss.end)}, peak ${mb(r.rss.peak)}`
  );
}
