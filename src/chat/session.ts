/**
 * A chat session over one model (like node-llama-cpp's LlamaChatSession): it keeps the
 * conversation, renders it with the model's chat template on every turn (LLM.chat, the same
 * rendering as the server's /v1/chat/completions), and counts tokens. Each turn's prompt is the
 * whole conversation, so the answer is exactly what rendering it from scratch gives; the model's KV
 * cache still holds the previous turn's tokens, so only the new part is computed (the longest
 * cached prefix is reused: `result.timings.prefillTokens` says how many tokens were computed).
 * Another generation on the same model between turns only costs recomputation.
 *
 *   const chat = new ChatSession(model, { system: "You are terse." });
 *   const a = await chat.send("def add(a, b):", { maxNewTokens: 64 });
 *   for await (const piece of chat.stream("And multiply?")) process.stdout.write(piece);
 */
import { InvalidOptionError, StateError } from "../errors.js";
import type { GenerateOptions } from "../generate/generate.js";
import type { ChatResult, LLM } from "../llm.js";
import type { ChatMessage } from "./template.js";

export interface ChatSessionOptions {
  /** a system message first in the conversation (kept by clear()) */
  system?: string;
  /** generation options of every turn (a turn's own options override them) */
  defaults?: GenerateOptions;
  /**
   * When the conversation and the room for the answer (maxNewTokens, at most half the context)
   * do not fit the context, drop the oldest user/assistant turns (the system message stays) before
   * the turn, instead of failing with a ContextOverflowError. Default false.
   */
  trimHistory?: boolean;
}

/** Tokens over the session's turns. */
export interface ChatUsage {
  turns: number;
  /** the prompts' tokens (each turn's prompt is the whole conversation) */
  promptTokens: number;
  /** prompt tokens actually computed (the rest came from the KV cache) */
  prefillTokens: number;
  completionTokens: number;
  /** user/assistant turns dropped to fit the context (trimHistory) */
  droppedTurns: number;
}

export class ChatSession {
  private readonly messages: ChatMessage[] = [];
  private busy = false;
  private readonly system: string | undefined;
  private readonly defaults: GenerateOptions;
  private readonly trim: boolean;
  readonly usage: ChatUsage = { turns: 0, promptTokens: 0, prefillTokens: 0, completionTokens: 0, droppedTurns: 0 };

  constructor(readonly model: LLM, o: ChatSessionOptions = {}) {
    if (o.system !== undefined && typeof o.system !== "string") throw new InvalidOptionError("system must be a string");
    this.system = o.system;
    this.defaults = o.defaults ?? {};
    this.trim = !!o.trimHistory;
    this.clear();
  }

  /** The conversation so far (a copy): the system message, then user and assistant turns. */
  get history(): ChatMessage[] {
    return this.messages.map((m) => ({ ...m }));
  }

  /** Forgets the turns (the system message stays); the usage counts stay. */
  clear(): void {
    if (this.busy) throw new StateError("a turn is in progress");
    this.messages.length = 0;
    if (this.system !== undefined) this.messages.push({ role: "system", content: this.system });
  }

  /** Sends a user message; resolves with the answer, which joins the history. */
  async send(content: string, opts: GenerateOptions = {}): Promise<ChatResult> {
    const conversation = this.begin(content, opts);
    try {
      return this.end(content, await this.model.chat(conversation, { ...this.defaults, ...opts }));
    } finally {
      this.busy = false;
    }
  }

  /** send(), streamed: the answer's text chunks, then `result`. The history changes once it is complete. */
  stream(content: string, opts: GenerateOptions = {}): AsyncIterable<string> & { result: Promise<ChatResult> } {
    const conversation = this.begin(content, opts);
    let s: ReturnType<LLM["chatStream"]>;
    try {
      s = this.model.chatStream(conversation, { ...this.defaults, ...opts });
    } catch (e) {
      this.busy = false;
      throw e;
    }
    const result = s.result.then(
      (r) => {
        this.busy = false;
        return this.end(content, r);
      },
      (e: unknown) => {
        this.busy = false;
        throw e;
      },
    );
    result.catch(() => undefined);
    return { result, [Symbol.asyncIterator]: () => s[Symbol.asyncIterator]() };
  }

  private begin(content: string, opts: GenerateOptions): ChatMessage[] {
    if (typeof content !== "string") throw new InvalidOptionError("a chat message must be a string");
    if (this.busy) throw new StateError("a turn is in progress: wait for its answer before sending the next message");
    if (this.trim) this.fit(content, opts.maxNewTokens ?? this.defaults.maxNewTokens ?? 128);
    this.busy = true;
    return [...this.history, { role: "user", content }];
  }

  /** Drops the oldest user/assistant pairs until the conversation with `content` leaves room for the answer. */
  private fit(content: string, maxNew: number): void {
    const m = this.model;
    const budget = m.contextLength - Math.min(Math.max(maxNew, 1), Math.floor(m.contextLength / 2));
    const first = this.messages[0]?.role === "system" ? 1 : 0;
    const tokens = () => m.encode(m.chatTemplate.render([...this.messages, { role: "user", content }])).length;
    while (this.messages.length - first >= 2 && tokens() > budget) {
      this.messages.splice(first, 2);
      this.usage.droppedTurns++;
    }
  }

  private end(content: string, r: ChatResult): ChatResult {
    this.messages.push({ role: "user", content }, { ...r.message });
    this.usage.turns++;
    this.usage.promptTokens += r.timings.promptTokens;
    this.usage.prefillTokens += r.timings.prefillTokens;
    this.usage.completionTokens += r.ids.length;
    return r;
  }
}
