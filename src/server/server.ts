/**
 * An OpenAI-compatible HTTP server over one loaded model (node:http, no framework):
 *
 *   GET  /health                 { status: "ok" }
 *   GET  /v1/models              the one model
 *   POST /v1/completions         text or token-id prompt
 *   POST /v1/chat/completions    messages rendered by the model's chat template (chat/template.ts)
 *
 * `stream: true` answers with server-sent events (`data: {chunk}` ... `data: [DONE]`).
 * Requests run one at a time in arrival order (the model's own queue); the KV cache keeps
 * the last request's tokens, so a chat that resends its history with one more message
 * computes only the new tokens. A client that disconnects aborts its generation, queued or
 * running. Prompts are rendered and tokenized on a worker thread (prompt-tokenizer.ts), after
 * a bound on their size (prompt.ts), so a long one delays no other request. Bad requests get
 * OpenAI's error body with HTTP 400 (413 for a body over the limit, 404 / 405 for unknown
 * routes and methods); nothing a client sends can stop the server.
 */
import { createServer as httpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { AbortError, ContextOverflowError, InvalidOptionError, LowbitError, RequestError } from "../errors.js";
import type { ContextShiftOptions } from "../generate/context-shift.js";
import type { GenerateOptions, GenerateResult } from "../generate/generate.js";
import type { LLM } from "../llm.js";
import { ChatTemplate } from "../chat/template.js";
import { readJsonBody } from "./json-body.js";
import { promptLimits, type PromptJob } from "./prompt.js";
import { PromptTokenizer, tokenizerDir } from "./prompt-tokenizer.js";
import { parseRequest, type ParsedRequest } from "./request.js";
import { chunk, envelope, errorBody, response, usageChunk, type Kind } from "./responses.js";

export interface ServerOptions {
  model: LLM;
  /** the id /v1/models reports and responses echo */
  modelId: string;
  /** assisted generation for every request */
  draft?: LLM;
  draftTokens?: number;
  draftConfidence?: number;
  /** StreamingLLM context shift for every request (generation runs past the context) */
  contextShift?: ContextShiftOptions;
  /** request body limit in bytes (default 1 MiB) */
  maxBodyBytes?: number;
  /** longest prompt read, in characters (default 32 per token of the context; prompt.ts) */
  maxPromptChars?: number;
  /** render and tokenize prompts on a worker thread when the model's tokenizer directory allows (default true) */
  promptWorker?: boolean;
}

const JSON_TYPE = { "content-type": "application/json" };

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, JSON_TYPE).end(JSON.stringify(body));
}

/** HTTP status and OpenAI error body for an error thrown while serving a request. */
export function errorFor(e: unknown): [number, ReturnType<typeof errorBody>] {
  if (e instanceof RequestError) return [e.status, errorBody(e.message, "invalid_request_error", e.param)];
  if (e instanceof ContextOverflowError) return [400, errorBody(e.message, "invalid_request_error", null, "context_length_exceeded")];
  if (e instanceof InvalidOptionError) return [400, errorBody(e.message, "invalid_request_error")];
  if (e instanceof LowbitError) return [500, errorBody(e.message, "server_error", null, e.code)];
  return [500, errorBody(e instanceof Error ? e.message : String(e), "server_error")];
}

/** The path of a request target, without trailing slashes; null for one that is not a URL path (`//x:99999`). */
function pathOf(url: string | undefined): string | null {
  try {
    return new URL(url ?? "/", "http://localhost").pathname.replace(/\/+$/, "") || "/";
  } catch {
    return null;
  }
}

export function createServer(o: ServerOptions): Server {
  const llm = o.model;
  const template = new ChatTemplate(llm.tokenizer);
  const limit = o.maxBodyBytes ?? 1 << 20;
  const prompts = new PromptTokenizer(llm, template, promptLimits(llm.contextLength, o.maxPromptChars), o.promptWorker === false ? null : tokenizerDir(llm));

  /** The prompt's token ids: token ids as sent, text and chat rendered and tokenized off the event loop. */
  const promptOf = (kind: Kind, p: ParsedRequest): Promise<number[]> | number[] => {
    if (kind !== "chat" && typeof p.prompt !== "string") return p.prompt!;
    const job: PromptJob = kind === "chat" ? { kind: "chat", messages: p.messages! } : { kind: "text", text: p.prompt as string };
    return prompts.ids(job);
  };

  /** The generate options of a parsed request, with the server's draft and context shift. */
  const options = (kind: Kind, p: ParsedRequest, signal: AbortSignal): GenerateOptions => ({
      ...p.gen,
      // chat without max_tokens: until EOS, a stop string or the context
      maxNewTokens: p.gen.maxNewTokens ?? llm.contextLength,
      stop: kind === "chat" ? [...(p.gen.stop ?? []), ...template.stops] : p.gen.stop,
      signal,
      ...(o.draft ? { draft: o.draft, ...(o.draftTokens !== undefined ? { draftTokens: o.draftTokens } : {}), ...(o.draftConfidence !== undefined ? { draftConfidence: o.draftConfidence } : {}) } : {}),
      ...(o.contextShift ? { contextShift: o.contextShift } : {}),
  });

  const complete = async (kind: Kind, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const p = parseRequest(await readJsonBody(req, limit, (b, depth) => prompts.parseBody(b, depth)), kind === "chat");
    // a client gone before its answer aborts the generation (queued or running)
    const ac = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) ac.abort();
    });
    const prompt = await promptOf(kind, p);
    if (ac.signal.aborted) return; // left while the prompt was tokenized
    const gen = options(kind, p, ac.signal);
    const env = envelope(kind, o.modelId);
    if (!p.stream) {
      const r = await llm.generate(prompt, gen);
      send(res, 200, response(kind, env, r));
      return;
    }
    const s = llm.stream(prompt, gen);
    const write = (x: unknown) => res.write(`data: ${JSON.stringify(x)}\n\n`);
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
      if (kind === "chat") write(chunk(kind, env, { role: true, text: "" }));
    };
    let r: GenerateResult;
    try {
      for await (const text of s) {
        start();
        write(chunk(kind, env, { text }));
      }
      r = await s.result;
    } catch (e) {
      if (!started) throw e; // nothing sent yet: an ordinary error response
      if (!(e instanceof AbortError)) write(errorFor(e)[1]);
      res.end();
      return;
    }
    start();
    write(chunk(kind, env, { finish: r.finishReason }));
    if (p.includeUsage) write(usageChunk(kind, env, r));
    res.end("data: [DONE]\n\n");
  };

  const routes: Record<string, Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void> | void>> = {
    "/health": { GET: (_q, res) => send(res, 200, { status: "ok" }) },
    "/v1/models": {
      GET: (_q, res) =>
        send(res, 200, { object: "list", data: [{ id: o.modelId, object: "model", created: Math.floor(Date.now() / 1000), owned_by: "lowbit", context_length: llm.contextLength }] }),
    },
    "/v1/completions": { POST: (q, res) => complete("completion", q, res) },
    "/v1/chat/completions": { POST: (q, res) => complete("chat", q, res) },
  };

  const server = httpServer((req, res) => {
    const path = pathOf(req.url);
    if (path === null) return send(res, 400, errorBody(`the request target is not a valid path: ${req.url?.slice(0, 40)}`, "invalid_request_error"));
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    const method = req.method ?? "GET";
    const handler = route && Object.hasOwn(route, method) ? route[method] : undefined;
    if (!route) return send(res, 404, errorBody(`no route ${req.method} ${path}`, "invalid_request_error", null, "not_found"));
    if (!handler) {
      res.setHeader("allow", Object.keys(route).join(", "));
      return send(res, 405, errorBody(`${req.method} is not allowed on ${path}`, "invalid_request_error", null, "method_not_allowed"));
    }
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((e: unknown) => {
        if (e instanceof AbortError) return; // the client left
        const [status, body] = errorFor(e);
        send(res, status, body);
      });
  });
  server.on("close", () => prompts.close());
  return server;
}
