/**
 * OpenAI response objects: completions, chat completions, their streamed chunks, errors.
 * Each carries, beside OpenAI's fields, a `timings` object as llama.cpp's server does
 * (prompt_n, prompt_ms, predicted_n, predicted_ms, ...), from lowbit's own measurements.
 */
import { randomBytes } from "node:crypto";
import type { FinishReason, GenerateResult } from "../generate/generate.js";
import type { TokenLogprob } from "../generate/logprobs.js";
import type { ToolCall } from "../chat/tools.js";

export type Kind = "completion" | "chat";

/** OpenAI's finish_reason: EOS and stop strings are "stop"; the token limit and the context are "length". */
export function finishReason(f: FinishReason): "stop" | "length" {
  return f === "eos" || f === "stop" ? "stop" : "length";
}

export interface Envelope {
  id: string;
  created: number;
  model: string;
}

/** A request's id: 24 hex digits (x-request-id, the log line; a response's id is cmpl-/chatcmpl- and it). */
export const requestId = (): string => randomBytes(12).toString("hex");

export function envelope(kind: Kind, model: string, id = requestId()): Envelope {
  return { id: `${kind === "chat" ? "chatcmpl" : "cmpl"}-${id}`, created: Math.floor(Date.now() / 1000), model };
}

export function usage(r: GenerateResult) {
  return { prompt_tokens: r.promptIds.length, completion_tokens: r.ids.length, total_tokens: r.promptIds.length + r.ids.length };
}

const fin = (x: number) => (Number.isFinite(x) ? x : null);

/** llama.cpp server's timings object, plus TTFT/TPOT and assisted generation's counts. */
export function timings(r: GenerateResult) {
  const t = r.timings;
  return {
    prompt_n: t.prefillTokens,
    prompt_ms: fin(t.ttftMs),
    prompt_per_second: fin(t.promptTokensPerSec),
    predicted_n: t.generatedTokens,
    predicted_ms: fin(t.totalMs - t.ttftMs),
    predicted_per_second: fin(t.genTokensPerSec),
    ttft_ms: fin(t.ttftMs),
    tpot_ms: fin(t.tpotMs),
    ...(r.assisted ? { draft_n: r.assisted.proposed, draft_n_accepted: r.assisted.accepted } : {}),
    ...(r.contextShifts !== undefined ? { context_shifts: r.contextShifts } : {}),
  };
}

/**
 * The logprobs entries of the tokens that make up `r.text`: an EOS that ended the answer is not
 * part of it, nor are tokens after the start of a stop string.
 */
export function shownLogprobs(r: GenerateResult): { entries: TokenLogprob[]; offsets: number[] } {
  const all = r.logprobs ?? [];
  const entries: TokenLogprob[] = [], offsets: number[] = [];
  let at = 0;
  for (let i = 0; i < all.length; i++) {
    if (r.finishReason === "eos" && i === all.length - 1) break;
    if (r.finishReason === "stop" && at >= r.text.length) break;
    entries.push(all[i]!);
    offsets.push(at);
    at += all[i]!.token.length;
  }
  return { entries, offsets };
}

const bytes = (s: string) => Array.from(Buffer.from(s, "utf8"));

/** OpenAI's completions logprobs object of `entries`, their text starting at offset `from`. */
export function completionLogprobsOf(entries: TokenLogprob[], from: number) {
  let at = from;
  return {
    tokens: entries.map((e) => e.token),
    token_logprobs: entries.map((e) => e.logprob),
    top_logprobs: entries.map((e) => Object.fromEntries(e.top.map((t) => [t.token, t.logprob]))),
    text_offset: entries.map((e) => ((at += e.token.length), at - e.token.length)),
  };
}

/** OpenAI's chat logprobs object of `entries`: content[] of { token, logprob, bytes, top_logprobs[] }. */
export function chatLogprobsOf(entries: TokenLogprob[]) {
  return {
    content: entries.map((e) => ({
      token: e.token, logprob: e.logprob, bytes: bytes(e.token),
      top_logprobs: e.top.map((t) => ({ token: t.token, logprob: t.logprob, bytes: bytes(t.token) })),
    })),
    refusal: null,
  };
}

/** OpenAI's completions logprobs object: tokens, token_logprobs, top_logprobs (token -> logprob), text_offset. */
export const completionLogprobs = (r: GenerateResult) => completionLogprobsOf(shownLogprobs(r).entries, 0);

/** OpenAI's chat logprobs object of a whole answer. */
export const chatLogprobs = (r: GenerateResult) => chatLogprobsOf(shownLogprobs(r).entries);

/** The whole (non-streamed) response; `calls`: the answer read as tool calls (tools.ts), content null then. */
export function response(kind: Kind, env: Envelope, r: GenerateResult, calls?: ToolCall[] | null) {
  const choice =
    kind === "chat"
      ? calls
        ? { index: 0, message: { role: "assistant", content: null, tool_calls: calls }, logprobs: r.logprobs ? chatLogprobs(r) : null, finish_reason: "tool_calls" }
        : { index: 0, message: { role: "assistant", content: r.text }, logprobs: r.logprobs ? chatLogprobs(r) : null, finish_reason: finishReason(r.finishReason) }
      : { index: 0, text: r.text, logprobs: r.logprobs ? completionLogprobs(r) : null, finish_reason: finishReason(r.finishReason) };
  return { ...env, object: kind === "chat" ? "chat.completion" : "text_completion", choices: [choice], usage: usage(r), timings: timings(r) };
}

/**
 * One streamed chunk. Chat: the first carries the role, then `content` deltas, the last an
 * empty delta with finish_reason. Completions: `text` pieces, the last with finish_reason.
 */
export function chunk(kind: Kind, env: Envelope, piece: { text?: string; role?: boolean; finish?: FinishReason; logprobs?: { entries: TokenLogprob[]; offset: number } }) {
  const finish_reason = piece.finish ? finishReason(piece.finish) : null;
  const lp = piece.logprobs;
  if (kind === "chat") {
    const delta = { ...(piece.role ? { role: "assistant" } : {}), ...(piece.text !== undefined ? { content: piece.text } : {}) };
    return { ...env, object: "chat.completion.chunk", choices: [{ index: 0, delta, logprobs: lp ? chatLogprobsOf(lp.entries) : null, finish_reason }] };
  }
  return { ...env, object: "text_completion", choices: [{ index: 0, text: piece.text ?? "", logprobs: lp ? completionLogprobsOf(lp.entries, lp.offset) : null, finish_reason }] };
}

/**
 * A streamed tool call, as OpenAI streams one: the first chunk has its index, id, type, name and
 * empty arguments, the next the arguments' text; a last chunk (chunk() with finish) says "tool_calls".
 */
export function toolCallChunks(env: Envelope, calls: ToolCall[]) {
  const c = (delta: object) => ({ ...env, object: "chat.completion.chunk", choices: [{ index: 0, delta, logprobs: null, finish_reason: null }] });
  return calls.flatMap((call, index) => [
    c({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } }] }),
    c({ tool_calls: [{ index, function: { arguments: call.function.arguments } }] }),
  ]);
}

/** The last chunk of a streamed tool call. */
export function toolCallsFinish(env: Envelope) {
  return { ...env, object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "tool_calls" }] };
}

/** stream_options.include_usage: a last chunk with no choices and the usage. */
export function usageChunk(kind: Kind, env: Envelope, r: GenerateResult) {
  return { ...env, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", choices: [], usage: usage(r), timings: timings(r) };
}

/** OpenAI's error body. */
export function errorBody(message: string, type: string, param: string | null = null, code: string | null = null) {
  return { error: { message, type, param, code } };
}
