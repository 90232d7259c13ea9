/**
 * Chat prompts. A model's Jinja chat template (tokenizer_config.json's `chat_template`,
 * `chat_template.jinja`, or GGUF `tokenizer.chat_template`) is rendered with
 * @huggingface/jinja as transformers' `apply_chat_template(messages, add_generation_prompt=True)`
 * does: with `messages`, `add_generation_prompt`, `bos_token` and `eos_token`; a template's own
 * check (its `raise_exception`) becomes an InvalidOptionError with the template's message. The
 * rendered text is then encoded without adding BOS/EOS (the template writes them).
 *
 * A model without a template (tinycode: base code models) gets ChatML, llama.cpp's fallback.
 * Its `<|im_end|>` is plain text to such a model, so it is also a stop string.
 */
import { Template } from "@huggingface/jinja";
import { InvalidOptionError, TokenizerError } from "../errors.js";
import type { Tokenizer } from "../tokenizer.js";
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

  constructor(tok: Tokenizer) {
    this.fallback = tok.chatTemplate === null;
    this.source = tok.chatTemplate ?? CHATML_TEMPLATE;
    try {
      this.template = new Template(this.source);
    } catch (e) {
      throw new TokenizerError(`the model's chat template does not parse: ${(e as Error).message}`, { cause: e });
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

  /** The prompt text for `messages` (and the tools the model may call), ending where the assistant's reply begins. */
  render(messages: ChatMessage[], tools?: ToolSpec[]): string {
    let vars: Record<string, unknown> = { messages };
    if (tools && tools.length > 0) vars = this.hasTools ? { messages: withParsedArguments(messages), tools } : { messages: describedTools(messages, tools, this.fallback) };
    try {
      // @huggingface/jinja provides raise_exception: it throws an Error with the template's message
      return this.template.render({ ...vars, add_generation_prompt: true, bos_token: this.bos, eos_token: this.eos });
    } catch (e) {
      throw new InvalidOptionError(`the chat template rejects these messages: ${(e as Error).message}`);
    }
  }
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
