/**
 * A request's prompt to token ids, within bounds. A prompt cannot hold more tokens than the
 * context, so a text far longer than the context could ever take is refused by its size, in
 * characters, before anything renders or tokenizes it (both run in JS and cost time in
 * proportion: a 1 MiB prompt took 20 s to tokenize). The bounds:
 *
 *   maxChars     the prompt's characters (chat: the messages' contents, then the rendered
 *                prompt); default 32 per token of the context
 *   maxMessages  chat messages; default one per token of the context
 *
 * Past either: ContextOverflowError (400, code context_length_exceeded). promptIds is what
 * the prompt worker (prompt-worker.ts) runs, and the server itself when it has no worker.
 */
import { ContextOverflowError, InvalidOptionError } from "../errors.js";
import type { ChatMessage, ChatTemplate } from "../chat/template.js";
import type { ToolSpec } from "../chat/tools.js";
import type { Tokenizer } from "../tokenizer.js";

/** Characters a prompt may have per token of the context unless the server is told otherwise. */
export const PROMPT_CHARS_PER_TOKEN = 32;

/** Text whose ids the prompt worker's tokenizer must give as the model's does. */
export const PROBE = "def f(x):\n    return x ** 2  # é, 中文, 🚀\t<|endoftext|><|im_start|>user\n";

export type PromptJob = { kind: "text"; text: string } | { kind: "chat"; messages: ChatMessage[]; tools?: ToolSpec[] };

export interface PromptLimits {
  maxChars: number;
  maxMessages: number;
}

export function promptLimits(contextLength: number, maxChars?: number): PromptLimits {
  if (maxChars !== undefined && !(Number.isSafeInteger(maxChars) && maxChars >= 1)) throw new InvalidOptionError(`maxPromptChars must be an integer >= 1, got ${String(maxChars)}`);
  return { maxChars: maxChars ?? contextLength * PROMPT_CHARS_PER_TOKEN, maxMessages: contextLength };
}

function checkChars(what: string, n: number, limits: PromptLimits): void {
  if (n > limits.maxChars) {
    throw new ContextOverflowError(`${what} has ${n} characters; the server reads at most ${limits.maxChars} (a prompt cannot hold more tokens than the context)`);
  }
}

/** The cheap checks, before a prompt is rendered or tokenized. */
export function checkPromptSize(job: PromptJob, limits: PromptLimits): void {
  if (job.kind === "text") return checkChars("the prompt", job.text.length, limits);
  const n = job.messages.length;
  if (n > limits.maxMessages) throw new ContextOverflowError(`messages has ${n} entries; the server reads at most ${limits.maxMessages} (one per token of the context)`);
  let chars = 0;
  for (const m of job.messages) chars += m.content.length + (m.tool_calls ? JSON.stringify(m.tool_calls).length : 0);
  if (job.tools) chars += JSON.stringify(job.tools).length;
  checkChars("the messages' content", chars, limits);
}

/** The prompt's token ids: chat messages rendered by the template, then encoded. */
export function promptIds(tokenizer: Tokenizer, template: ChatTemplate, job: PromptJob, limits: PromptLimits): number[] {
  checkPromptSize(job, limits);
  if (job.kind === "text") return tokenizer.encode(job.text);
  const text = template.render(job.messages, job.tools);
  checkChars("the rendered chat prompt", text.length, limits);
  return tokenizer.encode(text);
}
