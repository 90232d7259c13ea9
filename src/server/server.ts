/**
 * An OpenAI-compatible HTTP server over one loaded model (node:http, no framework):
 *
 *   GET  /health                 { status: "ok" }
 *   GET  /v1/models              the one model
 *   POST /v1/completions         text or token-id prompt
 *   POST /v1/chat/completions    messages rendered by the model's chat template (chat/template.ts)
 *   POST /v1/embeddings          pooled final hidden states (embeddings.ts)
 *
 * `stream: true` answers with server-sent events (`data: {chunk}` ... `data: [DONE]`).
 * Requests run one at a time in arrival order (the model's own queue); the KV cache keeps
 * the last request's tokens, so a chat that resends its history with one more message
 * computes only the new tokens. A model loaded with `parallel` N (`lowbit serve --parallel N`)
 * runs up to N requests at once, their decode steps batched in one forward step, each in a KV
 * slot of its own (the free slot holding most of its prompt: runtime/batch.ts); requests past N
 * wait for a slot. A request with the draft model runs alone. A client that disconnects aborts its generation, queued or
 * running. Prompts are rendered and tokenized on a worker thread (prompt-tokenizer.ts), after
 * a bound on their size (prompt.ts), so a long one delays no other request. Bad requests get
 * OpenAI's error body with HTTP 400 (413 for a body over the limit, 404 / 405 for unknown
 * routes and methods); nothing a client sends can stop the server.
 */
import { createServer as httpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { basename } from "node:path";
import { AbortError, ContextOverflowError, InvalidOptionError, LowbitError, RequestError } from "../errors.js";
import type { ContextShiftOptions } from "../generate/context-shift.js";
import type { GenerateOptions, GenerateResult } from "../generate/generate.js";
import type { TokenLogprob } from "../generate/logprobs.js";
import type { LLM } from "../llm.js";
import { readJsonBody } from "./json-body.js";
import { promptLimits, type PromptJob } from "./prompt.js";
import { PromptTokenizer, tokenizerDir } from "./prompt-tokenizer.js";
import { parseRequest, type ParsedRequest } from "./request.js";
import { chunk, envelope, errorBody, requestId, response, toolCallChunks, toolCallsFinish, usageChunk, type Kind } from "./responses.js";
import { mayBeCall, toolCallsOf } from "./tools.js";
import { embeddingsResponse, parseEmbeddingsRequest, withSpecials } from "./embeddings.js";
import { ApiKeys, Cors } from "./access.js";
import { Metrics } from "./metrics.js";

export interface ServerOptions {
  model: LLM;
  /** the id /v1/models reports and responses echo */
  modelId: string;
  /** assisted generation for every request */
  draft?: LLM;
  draftTokens?: number;
  draftConfidence?: number;
  /** prompt-lookup decoding for every request that asks no logprobs (generate's promptLookup) */
  promptLookup?: number;
  promptLookupNgram?: number;
  /** StreamingLLM context shift for every request (generation runs past the context) */
  contextShift?: ContextShiftOptions;
  /** request body limit in bytes (default 1 MiB) */
  maxBodyBytes?: number;
  /** longest prompt read, in characters (default 32 per token of the context; prompt.ts) */
  maxPromptChars?: number;
  /** render and tokenize prompts on a worker thread when the model's tokenizer directory allows (default true) */
  promptWorker?: boolean;
  /** other names a request's `model` may give (default: the model directory's or file's name, with and without .gguf) */
  modelAliases?: string[];
  /** API keys: every route but /health needs `Authorization: Bearer KEY` (access.ts) */
  apiKeys?: string[];
  /** CORS: origins allowed (`*` for any) */
  cors?: string[];
  /** one line per request (id, method, path, status, tokens, ms); none when absent */
  log?: (line: string) => void;
}

/** Whether generate options carry a grammar (grammar/constraint.ts). */
const constrained = (g: GenerateOptions) => g.grammar !== undefined || (g.responseFormat !== undefined && g.responseFormat.type !== "text");

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/** A request's `model` that names no model served here: 404 model_not_found, as OpenAI answers. */
export class ModelNotFoundRequestError extends RequestError {
  constructor(model: string) {
    super(`The model \`${model}\` does not exist`, "model", 404);
  }
}

/** What a request did, for its log line and the metrics. */
interface RequestInfo {
  id: string;
  promptTokens?: number;
  completionTokens?: number;
}

/** The names a request's `model` may give: the id, the aliases, the model's file or directory name. */
export function servedModelNames(llm: LLM, modelId: string, aliases?: string[]): Set<string> {
  const names = new Set([modelId, ...(aliases ?? [])]);
  if (aliases === undefined && !llm.origin.synthetic) {
    const base = basename(llm.origin.dir);
    names.add(base);
    names.add(base.replace(/\.gguf$/i, ""));
  } else if (aliases === undefined) {
    names.add(llm.origin.dir); // synthetic:<shape>
  }
  return names;
}

const JSON_TYPE = { "content-type": "application/json" };

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, JSON_TYPE).end(JSON.stringify(body));
}

/** HTTP status and OpenAI error body for an error thrown while serving a request. */
export function errorFor(e: unknown): [number, ReturnType<typeof errorBody>] {
  if (e instanceof ModelNotFoundRequestError) return [404, errorBody(e.message, "invalid_request_error", e.param, "model_not_found")];
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
  const template = llm.chatTemplate; // the one LLM.chat and ChatSession render with
  const limit = o.maxBodyBytes ?? 1 << 20;
  const prompts = new PromptTokenizer(llm, template, promptLimits(llm.contextLength, o.maxPromptChars), o.promptWorker === false ? null : tokenizerDir(llm));

  /** The prompt's token ids: token ids as sent, text and chat rendered and tokenized off the event loop. */
  const promptOf = (kind: Kind, p: ParsedRequest): Promise<number[]> | number[] => {
    if (kind !== "chat" && typeof p.prompt !== "string") return p.prompt!;
    const job: PromptJob = kind === "chat" ? { kind: "chat", messages: p.messages!, ...(p.tools ? { tools: p.tools.tools } : {}) } : { kind: "text", text: p.prompt as string };
    return prompts.ids(job);
  };

  /** The generate options of a parsed request, with the server's draft and context shift. */
  const options = (kind: Kind, p: ParsedRequest, signal: AbortSignal): GenerateOptions => ({
      ...p.gen,
      // chat without max_tokens: until EOS, a stop string or the context
      maxNewTokens: p.gen.maxNewTokens ?? llm.contextLength,
      stop: kind === "chat" ? [...(p.gen.stop ?? []), ...template.stops] : p.gen.stop,
      signal,
      // (a constrained request decodes without the draft or prompt lookup: grammars and drafts do not combine)
      ...(o.draft && !constrained(p.gen) ? { draft: o.draft, ...(o.draftTokens !== undefined ? { draftTokens: o.draftTokens } : {}), ...(o.draftConfidence !== undefined ? { draftConfidence: o.draftConfidence } : {}) } : {}),
      ...(o.promptLookup !== undefined && p.gen.logprobs === undefined && !constrained(p.gen)
        ? { promptLookup: o.promptLookup, ...(o.promptLookupNgram !== undefined ? { promptLookupNgram: o.promptLookupNgram } : {}) }
        : {}),
      ...(o.contextShift ? { contextShift: o.contextShift } : {}),
  });

  const names = servedModelNames(llm, o.modelId, o.modelAliases);
  const metrics = new Metrics();
  const keys = o.apiKeys && o.apiKeys.length > 0 ? new ApiKeys(o.apiKeys) : null;
  const cors = o.cors && o.cors.length > 0 ? new Cors(o.cors) : null;
  const modelObject = () => ({ id: o.modelId, object: "model", created: Math.floor(Date.now() / 1000), owned_by: "lowbit", context_length: llm.contextLength });

  /** Generation through the model's queue, counted in the queue depth and, once done, the token metrics. */
  const counted = async (info: RequestInfo, run: () => Promise<GenerateResult>): Promise<GenerateResult> => {
    metrics.queueDepth++;
    try {
      const r = await run();
      info.promptTokens = r.promptIds.length;
      info.completionTokens = r.ids.length;
      metrics.generation(r.promptIds.length, r.ids.length, r.timings.ttftMs, r.timings.tpotMs);
      return r;
    } finally {
      metrics.queueDepth--;
    }
  };

  const complete = async (kind: Kind, req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> => {
    const p = parseRequest(await readJsonBody(req, limit, (b, depth) => prompts.parseBody(b, depth)), kind === "chat");
    if (p.model !== null && p.model !== "" && !names.has(p.model)) throw new ModelNotFoundRequestError(p.model);
    // a client gone before its answer aborts the generation (queued or running)
    const ac = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) ac.abort();
    });
    const prompt = await promptOf(kind, p);
    if (ac.signal.aborted) return; // left while the prompt was tokenized
    const gen = options(kind, p, ac.signal);
    const env = envelope(kind, o.modelId, info.id);
    const tools = p.tools;
    /** The answer as tool calls (tools.ts); none when it ran out of tokens or is no call. */
    const callsOf = (r: GenerateResult) => (tools && r.finishReason !== "length" && r.finishReason !== "context" ? toolCallsOf(r.text, tools) : null);
    if (!p.stream) {
      const r = await counted(info, () => llm.generate(prompt, gen));
      send(res, 200, response(kind, env, r, callsOf(r)));
      return;
    }
    const s = llm.stream(prompt, gen);
    const done = counted(info, () => s.result);
    done.catch(() => undefined);
    const write = (x: unknown) => res.write(`data: ${JSON.stringify(x)}\n\n`);
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
      if (kind === "chat") write(chunk(kind, env, { role: true, text: "" }));
    };
    let r: GenerateResult;
    // with tools, text that may be a call is held back until it is decided (tools.ts); "required"
    // or a named function: all of it (the grammar makes it a call)
    let held: string | null = tools ? "" : null;
    const heldLogprobs: TokenLogprob[] = [];
    try {
      let offset = 0; // completions' text_offset, across chunks
      for await (const piece of s.pieces()) {
        start();
        if (held !== null) {
          held += piece.text;
          heldLogprobs.push(...(piece.logprobs ?? []));
          if (tools!.choice !== "auto" || mayBeCall(held)) continue;
          piece.text = held;
          if (piece.logprobs) piece.logprobs = heldLogprobs;
          held = null;
        }
        const logprobs = piece.logprobs ? { entries: piece.logprobs, offset } : undefined;
        offset += piece.text.length;
        write(chunk(kind, env, { text: piece.text, ...(logprobs ? { logprobs } : {}) }));
      }
      r = await done;
    } catch (e) {
      if (!started) throw e; // nothing sent yet: an ordinary error response
      if (!(e instanceof AbortError)) write(errorFor(e)[1]);
      res.end();
      return;
    }
    start();
    const calls = held !== null ? callsOf(r) : null;
    if (calls) {
      for (const c of toolCallChunks(env, calls)) write(c);
      write(toolCallsFinish(env));
      if (p.includeUsage) write(usageChunk(kind, env, r));
      res.end("data: [DONE]\n\n");
      return;
    }
    if (held) write(chunk(kind, env, { text: held, ...(r.logprobs ? { logprobs: { entries: heldLogprobs, offset: 0 } } : {}) }));
    write(chunk(kind, env, { finish: r.finishReason }));
    if (p.includeUsage) write(usageChunk(kind, env, r));
    res.end("data: [DONE]\n\n");
  };

  type Handler = (req: IncomingMessage, res: ServerResponse, info: RequestInfo, path: string) => Promise<void> | void;
  const routes: Record<string, Record<string, Handler>> = {
    "/health": { GET: (_q, res) => send(res, 200, { status: "ok" }) },
    "/metrics": {
      GET: (_q, res) => void res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }).end(metrics.render(llm.slots)),
    },
    "/v1/models": { GET: (_q, res) => send(res, 200, { object: "list", data: [modelObject()] }) },
    // /v1/models/{id}: the model under any of its names (the id may contain slashes)
    "/v1/models/{id}": {
      GET: (_q, res, _i, path) => {
        const raw = path.slice("/v1/models/".length);
        let id: string;
        try {
          id = decodeURIComponent(raw);
        } catch {
          id = raw; // a malformed escape (%E0%A4%A) names no model
        }
        if (!names.has(id)) throw new ModelNotFoundRequestError(id);
        send(res, 200, modelObject());
      },
    },
    // llama.cpp server's tokenizer routes: { content, add_special?, with_pieces? } -> { tokens }; { tokens } -> { content }
    "/tokenize": {
      POST: async (q, res) => {
        const b = await readJsonBody(q, limit, (x, depth) => prompts.parseBody(x, depth));
        if (!isObject(b) || typeof b.content !== "string") throw new RequestError("content must be a string", "content");
        for (const k of ["add_special", "with_pieces"]) if (b[k] !== undefined && typeof b[k] !== "boolean") throw new RequestError(`${k} must be a boolean`, k);
        const bos = llm.tokenizer.bosTokenId;
        const ids = [...(b.add_special === true && bos !== null ? [bos] : []), ...(b.content === "" ? [] : await prompts.ids({ kind: "text", text: b.content }))];
        send(res, 200, { tokens: b.with_pieces === true ? ids.map((id) => ({ id, piece: llm.tokenizer.decode([id]) })) : ids });
      },
    },
    "/detokenize": {
      POST: async (q, res) => {
        const b = await readJsonBody(q, limit, (x, depth) => prompts.parseBody(x, depth));
        const t = isObject(b) ? b.tokens : undefined;
        const V = llm.config.vocabSize, most = 4 * llm.contextLength;
        if (!Array.isArray(t) || !t.every((x) => Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) < V)) {
          throw new RequestError(`tokens must be an array of token ids in [0, ${V})`, "tokens");
        }
        if (t.length > most) throw new RequestError(`tokens has ${t.length} ids; at most ${most} are decoded`, "tokens");
        send(res, 200, { content: llm.tokenizer.decode(t as number[]) });
      },
    },
    "/v1/embeddings": {
      POST: async (q, res, info) => {
        const e = parseEmbeddingsRequest(await readJsonBody(q, limit, (x, depth) => prompts.parseBody(x, depth)));
        if (e.model !== null && e.model !== "" && !names.has(e.model)) throw new ModelNotFoundRequestError(e.model);
        const idsList = await Promise.all(e.inputs.map(async (x) => (typeof x === "string" ? withSpecials(llm, await prompts.ids({ kind: "text", text: x })) : x)));
        const tokens = idsList.reduce((a, ids) => a + ids.length, 0);
        metrics.queueDepth++;
        let vectors: Float32Array[];
        try {
          vectors = await llm.embed(idsList, { pooling: e.pooling, normalize: e.normalize });
        } finally {
          metrics.queueDepth--;
        }
        info.promptTokens = tokens;
        send(res, 200, embeddingsResponse(o.modelId, vectors, tokens, e.base64));
      },
    },
    "/v1/completions": { POST: (q, res, info) => complete("completion", q, res, info) },
    "/v1/chat/completions": { POST: (q, res, info) => complete("chat", q, res, info) },
  };
  /** The route of a path: itself, or a pattern; null for none. */
  const routeOf = (path: string): string | null => {
    if (Object.hasOwn(routes, path)) return path;
    if (path.startsWith("/v1/models/")) return "/v1/models/{id}";
    return null;
  };

  const server = httpServer((req, res) => {
    const info: RequestInfo = { id: requestId() };
    const t0 = performance.now();
    const path = pathOf(req.url);
    const name = path === null ? null : routeOf(path);
    res.setHeader("x-request-id", info.id);
    res.on("close", () => {
      const ms = performance.now() - t0;
      const status = res.writableFinished ? res.statusCode : 499; // 499: the client left first (nginx's code)
      metrics.request(name ?? "other", status);
      o.log?.(
        `${new Date().toISOString()} id=${info.id} method=${req.method ?? "-"} path=${JSON.stringify(path ?? req.url?.slice(0, 80) ?? "")} status=${status}` +
          ` prompt_tokens=${info.promptTokens ?? 0} completion_tokens=${info.completionTokens ?? 0} ms=${ms.toFixed(1)}`,
      );
    });
    if (path === null) return send(res, 400, errorBody(`the request target is not a valid path: ${req.url?.slice(0, 40)}`, "invalid_request_error"));
    const route = name === null ? undefined : routes[name];
    const method = req.method ?? "GET";
    const handler = route && Object.hasOwn(route, method) ? route[method] : undefined;
    if (cors) {
      if (route && method === "OPTIONS") return cors.preflight(req, res, Object.keys(route));
      cors.apply(req, res);
    }
    if (keys && path !== "/health" && !keys.accepts(ApiKeys.presented(req))) {
      res.setHeader("www-authenticate", "Bearer");
      const sent = ApiKeys.presented(req) !== null;
      return send(res, 401, errorBody(sent ? "Incorrect API key provided." : "You didn't provide an API key: send it as Authorization: Bearer KEY.", "invalid_request_error", null, "invalid_api_key"));
    }
    if (!route) return send(res, 404, errorBody(`no route ${req.method} ${path}`, "invalid_request_error", null, "not_found"));
    if (!handler) {
      res.setHeader("allow", Object.keys(route).join(", "));
      return send(res, 405, errorBody(`${req.method} is not allowed on ${path}`, "invalid_request_error", null, "method_not_allowed"));
    }
    Promise.resolve()
      .then(() => handler(req, res, info, path))
      .catch((e: unknown) => {
        if (e instanceof AbortError) return; // the client left
        const [status, body] = errorFor(e);
        send(res, status, body);
      });
  });
  server.on("close", () => prompts.close());
  return server;
}
