/**
 * Chat prompts. A model's Jinja chat template (tokenizer_config.json's `chat_template`,
 * `chat_template.jinja`, or GGUF `tokenizer.chat_template`) is rendered with
 * @huggingface/jinja as transformers' `apply_chat_template(messages, tools, add_generation_prompt=True)`
 * does: with `messages` (tool-call arguments as objects), `tools` and `documents` (none when not
 * given), `add_generation_prompt`, `bos_token`, `eos_token` and `strftime_now` (C-locale
 * strftime of the current time); a template's own check (its `raise_exception`) becomes an
 * InvalidOptionError with the template's message. The rendered text is then encoded without
 * adding BOS/EOS (the template writes them). test/chat-templates.test.ts compares the renderings
 * of llama.cpp's 70 shipped templates with transformers'.
 *
 * A model without a template (tinycode: base code models) gets ChatML, llama.cpp's fallback.
 * Its `<|im_end|>` is plain text to such a model, so it is also a stop string.
 */
import { Environment, Interpreter, Template } from "@huggingface/jinja";
import { InvalidOptionError, TokenizerError } from "../errors.js";
import type { Tokenizer } from "../tokenizer.js";
import { strftime } from "./strftime.js";
import { templateHasTools, toolCallJson, toolSystemPrompt, type ToolCall, type ToolSpec } from "./tools.js";

export type ChatRole = "system" | "user" | "assistant" | "tool";
export const CHAT_ROLES: readonly ChatRole[] = ["system", "user", "assistant", "tool"];

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** an assistant message's tool calls (chat/tools.ts) */
  tool_calls?: ToolCall[];
  /** a tool message: the call it answers */
  tool_call_id?: string;
}

/** ChatML, as llama.cpp falls back to when a model has no template. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export class ChatTemplate {
  /** the Jinja source in use */
  readonly source: string;
  /** true when the model had no template and ChatML is used */
  readonly fallback: boolean;
  /** strings that end an assistant turn besides EOS (ChatML's `<|im_end|>` when it is not a token) */
  readonly stops: string[];
  private readonly template: Template;
  private readonly bos: string;
  private readonly eos: string;

  constructor(tok: Tokenizer);
  /** a template given as Jinja source with its BOS / EOS texts (no tokenizer: no ChatML stop string) */
  constructor(source: string, specials: { bos: string; eos: string });
  constructor(tok: Tokenizer | string, specials?: { bos: string; eos: string }) {
    const chat = typeof tok === "string" ? tok : tok.chatTemplate;
    this.fallback = chat === null;
    this.source = chat ?? CHATML_TEMPLATE;
    try {
      this.template = new Template(this.source);
    } catch (e) {
      throw new TokenizerError(`the model's chat template does not parse: ${(e as Error).message}`, { cause: e });
    }
    if (typeof tok === "string") {
      this.bos = specials?.bos ?? "";
      this.eos = specials?.eos ?? "";
      this.stops = [];
      return;
    }
    const name = (id: number | null) => (id === null ? "" : (tok.idToToken(id) ?? ""));
    this.bos = name(tok.bosTokenId);
    this.eos = name(tok.eosTokenId);
    this.stops = this.fallback && tok.tokenToId("<|im_end|>") === undefined ? ["<|im_end|>"] : [];
  }

  /** Whether the template renders tools itself (else render() describes them in a system message: chat/tools.ts). */
  get hasTools(): boolean {
    return templateHasTools(this.source);
  }

  /**
   * The prompt text for `messages` (and the tools the model may call), ending where the assistant's
   * reply begins. A template that does not render tools gets them described in a system message.
   * `now`: the time `strftime_now` reads (default: now).
   */
  render(messages: ChatMessage[], tools?: ToolSpec[], opts: { now?: Date } = {}): string {
    if (tools && tools.length > 0 && !this.hasTools) return this.renderAsTransformers(describedTools(messages, tools, this.fallback), undefined, opts);
    return this.renderAsTransformers(messages, tools, opts);
  }

  /** What transformers' apply_chat_template(messages, tools, add_generation_prompt=True) renders. */
  renderAsTransformers(messages: ChatMessage[], tools?: ToolSpec[], opts: { now?: Date } = {}): string {
    const now = opts.now;
    try {
      // @huggingface/jinja provides raise_exception: it throws an Error with the template's message
      return renderTemplate(this.template, {
        messages: withParsedArguments(messages),
        tools: tools && tools.length > 0 ? tools : null,
        documents: null,
        add_generation_prompt: true,
        bos_token: this.bos,
        eos_token: this.eos,
      }, (format: string) => strftime(now ?? new Date(), format));
    } catch (e) {
      throw new InvalidOptionError(`the chat template rejects these messages: ${(e as Error).message}`);
    }
  }
}

/** Python's range(stop) / range(start, stop[, step]) as a list. */
function range(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error("range() arg 3 must not be zero");
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

/**
 * Template.render with the globals @huggingface/jinja sets (its setupGlobals), except
 * strftime_now, which is ours (C locale, and a clock the caller may fix): the library's own
 * declares it first and refuses a second declaration.
 */
function renderTemplate(t: Template, items: Record<string, unknown>, strftimeNow: (format: string) => string): string {
  const env = new Environment();
  const globals: Record<string, unknown> = {
    false: false, true: true, none: null, True: true, False: false, None: null,
    raise_exception: (msg: string) => { throw new Error(msg); },
    range, strftime_now: strftimeNow,
  };
  for (const [k, v] of Object.entries({ ...globals, ...items })) env.set(k, v);
  return new Interpreter(env).run(t.parsed).value as string;
}

/** Tool calls' arguments as objects, as transformers' templates expect them (OpenAI sends JSON text). */
function withParsedArguments(messages: ChatMessage[]): unknown[] {
  return messages.map((m) => {
    if (!m.tool_calls) return m;
    const tool_calls = m.tool_calls.map((c) => {
      let args: unknown = c.function.arguments;
      try {
        args = JSON.parse(c.function.arguments);
      } catch {
        // left as text
      }
      return { ...c, function: { name: c.function.name, arguments: args } };
    });
    return { ...m, tool_calls };
  });
}

/** For a template without tools: a system message describing them, tool calls and results as plain messages. */
function describedTools(messages: ChatMessage[], tools: ToolSpec[], chatml: boolean): ChatMessage[] {
  const prompt = toolSystemPrompt(tools);
  const out: ChatMessage[] = messages.map((m): ChatMessage => {
    if (m.role === "assistant" && m.tool_calls?.length) {
      const calls = m.tool_calls.map((c) => toolCallJson(c.function.name, safeJson(c.function.arguments)));
      return { role: "assistant", content: [m.content, ...calls].filter((x) => x).join("\n") };
    }
    if (m.role === "tool") return { role: chatml ? "tool" : "user", content: chatml ? m.content : `Tool result: ${m.content}` };
    return { role: m.role, content: m.content };
  });
  if (out[0]?.role === "system") out[0] = { role: "system", content: `${out[0].content}\n\n${prompt}` };
  else out.unshift({ role: "system", content: prompt });
  return out;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}
