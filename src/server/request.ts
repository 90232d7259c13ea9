/**
 * OpenAI request bodies (POST /v1/completions, /v1/chat/completions) to generate options.
 * Every field is checked; a bad one is a RequestError naming it (HTTP 400, OpenAI's
 * `error.param`). Parameters lowbit cannot honour (n > 1, echo, penalties, ...)
 * are refused rather than ignored, so a client never gets a silently different answer.
 * Structured output (response_format, grammar) and tools: response-format.ts, tools.ts.
 * Unknown fields are ignored, as OpenAI-compatible servers do (clients send extras).
 *
 * Defaults follow OpenAI: temperature 1, top_p 1; max_tokens 16 for completions and, for
 * chat, whatever fits the context. Extensions (llama.cpp server names): top_k, min_p,
 * repeat_penalty (or repetition_penalty), ignore_eos.
 */
import { InvalidOptionError, RequestError } from "../errors.js";
import type { GenerateOptions } from "../generate/generate.js";
import { checkGenerationNumber, GENERATION_NUMBERS, shownValue as shown, type GenerationNumberKey } from "../generate/config.js";
import { CHAT_ROLES, type ChatMessage, type ChatRole } from "../chat/template.js";
import { responseFormatOptions } from "./response-format.js";
import { parseTools, toolConstraint, type ToolsRequest } from "./tools.js";
import type { ToolCall } from "../chat/tools.js";

export interface ParsedRequest {
  /** completions: text or token ids; chat: undefined (the messages are rendered by the template) */
  prompt?: string | number[];
  messages?: ChatMessage[];
  /** sampling and stopping; maxNewTokens unset means "until the context is full" */
  gen: GenerateOptions;
  stream: boolean;
  includeUsage: boolean;
  model: string | null;
  /** chat: the tools the model may call (tools.ts); absent without tools or with tool_choice "none" */
  tools?: ToolsRequest;
}

type Body = Record<string, unknown>;

const isObj = (x: unknown): x is Body => typeof x === "object" && x !== null && !Array.isArray(x);

/** A generation field from the body under `key` (its ranges: generate/config.ts), as a RequestError naming `key`. */
function genNum(b: Body, field: GenerationNumberKey, key: string): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  try {
    return checkGenerationNumber(GENERATION_NUMBERS[field], v, key, true);
  } catch (e) {
    if (e instanceof InvalidOptionError) throw new RequestError(e.message, key);
    throw e;
  }
}

function bool(b: Body, key: string): boolean | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw new RequestError(`${key} must be a boolean, got ${shown(v)}`, key);
  return v;
}

/** Refuses a parameter set to anything but its neutral value. */
function refuse(b: Body, key: string, neutral: (v: unknown) => boolean, why: string): void {
  const v = b[key];
  if (v === undefined || v === null || neutral(v)) return;
  throw new RequestError(`${key} ${why}`, key);
}

function stops(b: Body): string[] {
  const v = b.stop;
  if (v === undefined || v === null) return [];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length > 16 || !list.every((s) => typeof s === "string" && s.length > 0)) {
    throw new RequestError("stop must be a non-empty string or an array of at most 16 non-empty strings", "stop");
  }
  return list as string[];
}

function content(v: unknown, i: number): string {
  if (typeof v === "string") return v;
  // [{ type: "text", text }]: the text parts joined (no images or audio here)
  if (Array.isArray(v) && v.every((p) => isObj(p) && p.type === "text" && typeof p.text === "string")) {
    return v.map((p) => (p as { text: string }).text).join("");
  }
  throw new RequestError(`messages[${i}].content must be a string or an array of text parts`, `messages[${i}].content`);
}

function messages(b: Body): ChatMessage[] {
  const v = b.messages;
  if (!Array.isArray(v) || v.length === 0) throw new RequestError("messages must be a non-empty array of { role, content }", "messages");
  return v.map((m, i) => {
    if (!isObj(m)) throw new RequestError(`messages[${i}] must be an object { role, content }`, `messages[${i}]`);
    // "developer" is OpenAI's newer name for the system role
    const role = m.role === "developer" ? "system" : m.role;
    if (typeof role !== "string" || !CHAT_ROLES.includes(role as ChatRole)) {
      throw new RequestError(`messages[${i}].role must be one of ${[...CHAT_ROLES, "developer"].join(", ")}, got ${shown(m.role)}`, `messages[${i}].role`);
    }
    // an assistant's tool calls (content may then be null) and a tool's result
    if (role === "assistant" && m.tool_calls !== undefined && m.tool_calls !== null) {
      return { role: "assistant", content: m.content === null || m.content === undefined ? "" : content(m.content, i), tool_calls: toolCalls(m.tool_calls, i) };
    }
    if (role === "tool") {
      if (m.tool_call_id !== undefined && typeof m.tool_call_id !== "string") throw new RequestError(`messages[${i}].tool_call_id must be a string`, `messages[${i}].tool_call_id`);
      return { role: "tool", content: content(m.content, i), ...(typeof m.tool_call_id === "string" ? { tool_call_id: m.tool_call_id } : {}) };
    }
    return { role: role as ChatRole, content: content(m.content, i) };
  });
}

function toolCalls(v: unknown, i: number): ToolCall[] {
  const at = `messages[${i}].tool_calls`;
  if (!Array.isArray(v)) throw new RequestError(`${at} must be an array`, at);
  return v.map((c, k) => {
    const f = isObj(c) ? c.function : undefined;
    if (!isObj(c) || !isObj(f) || typeof f.name !== "string" || typeof f.arguments !== "string") {
      throw new RequestError(`${at}[${k}] must be { id, type: "function", function: { name, arguments: JSON text } }`, `${at}[${k}]`);
    }
    return { id: typeof c.id === "string" ? c.id : `call_${k}`, type: "function", function: { name: f.name, arguments: f.arguments } };
  });
}

function prompt(b: Body): string | number[] {
  let v = b.prompt;
  // a batch of one is the one prompt; larger batches are refused (n and batches are 1 here)
  if (Array.isArray(v) && v.length === 1 && (typeof v[0] === "string" || Array.isArray(v[0]))) v = v[0];
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.length > 0 && v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) return v as number[];
  throw new RequestError("prompt must be a string, an array of token ids, or a batch of one of them", "prompt");
}

/**
 * The alternatives per token asked for, or undefined for none. Completions: `logprobs: n`
 * (0..20; OpenAI documents up to 5). Chat: `logprobs: true` with `top_logprobs: n` (0..20; default 0),
 * top_logprobs only with logprobs true.
 */
function logprobs(b: Body, chat: boolean): number | undefined {
  if (!chat) return genNum(b, "logprobs", "logprobs");
  const on = bool(b, "logprobs") ?? false;
  const top = genNum(b, "logprobs", "top_logprobs");
  if (top !== undefined && !on) throw new RequestError("top_logprobs needs logprobs: true", "top_logprobs");
  return on ? (top ?? 0) : undefined;
}

/** Parses a request body; `chat` selects /v1/chat/completions. */
export function parseRequest(body: unknown, chat: boolean): ParsedRequest {
  if (!isObj(body)) throw new RequestError("the request body must be a JSON object");
  const b = body;
  if (b.model !== undefined && typeof b.model !== "string") throw new RequestError("model must be a string", "model");
  refuse(b, "n", (v) => v === 1, "must be 1: one choice per request");
  refuse(b, "best_of", (v) => v === 1, "must be 1");
  refuse(b, "echo", (v) => v === false, "is not supported");
  refuse(b, "suffix", (v) => v === "", "is not supported (no fill-in-the-middle)");
  refuse(b, "presence_penalty", (v) => v === 0, "is not supported (repeat_penalty is)");
  refuse(b, "frequency_penalty", (v) => v === 0, "is not supported (repeat_penalty is)");
  refuse(b, "logit_bias", (v) => isObj(v) && Object.keys(v).length === 0, "is not supported");
  const so = b.stream_options;
  if (so !== undefined && so !== null && !isObj(so)) throw new RequestError("stream_options must be an object", "stream_options");
  const includeUsage = so ? bool(so, "include_usage") ?? false : false;

  const maxKey = chat && b.max_completion_tokens !== undefined ? "max_completion_tokens" : "max_tokens";
  const max = genNum(b, "maxNewTokens", maxKey);
  const repeat = b.repeat_penalty !== undefined ? "repeat_penalty" : "repetition_penalty";
  const gen: GenerateOptions = {
    temperature: genNum(b, "temperature", "temperature") ?? 1,
    stop: stops(b),
    stopAtEos: !(bool(b, "ignore_eos") ?? false),
  };
  const set = <K extends keyof GenerateOptions>(k: K, v: GenerateOptions[K] | undefined) => {
    if (v !== undefined) gen[k] = v;
  };
  set("maxNewTokens", max ?? (chat ? undefined : 16));
  set("topP", genNum(b, "topP", "top_p"));
  set("topK", genNum(b, "topK", "top_k"));
  set("minP", genNum(b, "minP", "min_p"));
  set("repetitionPenalty", genNum(b, "repetitionPenalty", repeat));
  set("seed", genNum(b, "seed", "seed"));
  const lp = logprobs(b, chat);
  set("logprobs", lp);
  // response_format / grammar (response-format.ts); tools (tools.ts): "required" or a named tool constrain the answer
  Object.assign(gen, responseFormatOptions(b));
  const tools = parseTools(b, chat);
  if (tools && tools.choice !== "auto") {
    if (gen.grammar !== undefined || gen.responseFormat !== undefined) throw new RequestError("tool_choice required or a named function cannot be combined with response_format or grammar", "tool_choice");
    Object.assign(gen, toolConstraint(tools));
  }
  return {
    ...(chat ? { messages: messages(b) } : { prompt: prompt(b) }),
    gen,
    stream: bool(b, "stream") ?? false,
    includeUsage,
    model: typeof b.model === "string" ? b.model : null,
    ...(tools ? { tools } : {}),
  };
}
