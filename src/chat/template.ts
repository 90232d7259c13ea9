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

export type ChatRole = "system" | "user" | "assistant";
export const CHAT_ROLES: readonly ChatRole[] = ["system", "user", "assistant"];

export interface ChatMessage {
  role: ChatRole;
  content: string;
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

  /** The prompt text for `messages`, ending where the assistant's reply begins. */
  render(messages: ChatMessage[]): string {
    try {
      // @huggingface/jinja provides raise_exception: it throws an Error with the template's message
      return this.template.render({ messages, add_generation_prompt: true, bos_token: this.bos, eos_token: this.eos });
    } catch (e) {
      throw new InvalidOptionError(`the chat template rejects these messages: ${(e as Error).message}`);
    }
  }
}
