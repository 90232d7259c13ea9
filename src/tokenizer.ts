/**
 * Tokenizer: a tokenizer.json run by @huggingface/tokenizers (pure JS), or a
 * GGUF file's vocabulary (src/tokenizer/gguf.ts), behind one
 * interface (src/tokenizer-backend.ts); plus an incremental detokenizer for
 * streaming generation.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CONFIG_LIMITS } from "./config.js";
import { ModelNotFoundError, TokenizerError } from "./errors.js";
import { parseJsonText } from "./json-text.js";
import { HfBackend, type TokenizerBackend } from "./tokenizer-backend.js";

const REPLACEMENT = "\uFFFD";

/** Name of a special token in tokenizer_config.json: a string or an AddedToken object. */
export function tokenName(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") {
    return (v as { content: string }).content;
  }
  return null;
}

/** A JSON object file: missing -> ModelNotFoundError (undefined when not `required`), unreadable or not an object -> TokenizerError. */
export function readJsonObject(path: string, required: boolean): object | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!required && code === "ENOENT") return undefined;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new ModelNotFoundError(`tokenizer file not found: ${path}`, { cause: e });
    }
    throw new TokenizerError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  const v = parseJsonText(text, `cannot parse ${path}`, (msg, cause) => new TokenizerError(msg, { cause }));
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new TokenizerError(`cannot parse ${path}: not a JSON object`);
  return v;
}

/** Special token ids and flags of a Tokenizer (what a GGUF file's `tokenizer.ggml.*` keys hold). */
export interface TokenizerSpecials {
  bosTokenId: number | null;
  eosTokenId: number | null;
  unkTokenId: number | null;
  padTokenId: number | null;
  /** encode(text, { addSpecialTokens: true }) prepends bosTokenId */
  addBosToken: boolean;
  /** encode(text, { addSpecialTokens: true }) appends eosTokenId */
  addEosToken: boolean;
  /** the Jinja chat template, when the tokenizer has one */
  chatTemplate: string | null;
}

/** tokenizer_config.json's chat_template: a string, or a list of { name, template } (the "default" one). */
export function chatTemplateOf(config: Record<string, unknown>): string | null {
  const t = config.chat_template;
  if (typeof t === "string") return t;
  if (Array.isArray(t)) {
    const d = t.find((x) => x && typeof x === "object" && (x as { name?: unknown }).name === "default");
    const tpl = (d as { template?: unknown } | undefined)?.template;
    if (typeof tpl === "string") return tpl;
  }
  return null;
}

/**
 * Whether the tokenizer.json's post-processor adds BOS before and EOS after
 * a text: the ids of "a" with and without special tokens, compared.
 */
function probeAddedSpecials(hf: HfBackend, bos: number | null, eos: number | null): { addBos: boolean; addEos: boolean } {
  const plain = hf.encode("a");
  if (plain.length === 0) {
    // e.g. a post_processor template without the text's sequence: every prompt would encode to nothing
    throw new TokenizerError('tokenizer.json encodes the text "a" to no ids: its model or post_processor drops the text');
  }
  const full = hf.encodeWithSpecials("a");
  for (let k = 0; k + plain.length <= full.length; k++) {
    if (plain.every((id, i) => full[k + i] === id)) {
      const front = full.slice(0, k);
      const back = full.slice(k + plain.length);
      return {
        addBos: bos !== null && front.length === 1 && front[0] === bos,
        addEos: eos !== null && back.length === 1 && back[0] === eos,
      };
    }
  }
  return { addBos: false, addEos: false };
}

export interface TokenizerLoadOptions {
  /**
   * The model's vocabulary size: every id in tokenizer.json must be below it
   * (default: CONFIG_LIMITS.vocab_size), checked before the library reads them.
   */
  vocabSize?: number;
}

export class Tokenizer {
  readonly vocabSize: number;
  readonly eosTokenId: number | null;
  readonly bosTokenId: number | null;
  readonly unkTokenId: number | null;
  readonly padTokenId: number | null;
  /** encode(text, { addSpecialTokens: true }) prepends bosTokenId */
  readonly addBosToken: boolean;
  /** encode(text, { addSpecialTokens: true }) appends eosTokenId */
  readonly addEosToken: boolean;
  /** the Jinja chat template (tokenizer_config.json, chat_template.jinja or GGUF `tokenizer.chat_template`), or null */
  readonly chatTemplate: string | null;
  /**
   * Ids in [vocabSize, paddedVocabSize) decode to "" (a model whose embedding
   * table is larger than this vocabulary, see withPaddedVocab); equal to
   * vocabSize otherwise.
   */
  readonly paddedVocabSize: number;
  private readonly backend: TokenizerBackend;
  private readonly specials: TokenizerSpecials;

  private constructor(backend: TokenizerBackend, specials: TokenizerSpecials, paddedVocabSize = 0) {
    this.backend = backend;
    this.specials = specials;
    this.vocabSize = backend.size;
    this.paddedVocabSize = Math.max(this.vocabSize, paddedVocabSize);
    for (const key of ["bosTokenId", "eosTokenId", "unkTokenId", "padTokenId"] as const) {
      const id = specials[key];
      if (id !== null && !(Number.isInteger(id) && id >= 0 && id < this.vocabSize)) {
        throw new TokenizerError(`${key} ${id} is not an id of this vocabulary (size ${this.vocabSize})`);
      }
    }
    if (specials.addBosToken && specials.bosTokenId === null) throw new TokenizerError("addBosToken is set but there is no BOS token");
    if (specials.addEosToken && specials.eosTokenId === null) throw new TokenizerError("addEosToken is set but there is no EOS token");
    this.bosTokenId = specials.bosTokenId;
    this.eosTokenId = specials.eosTokenId;
    this.unkTokenId = specials.unkTokenId;
    this.padTokenId = specials.padTokenId;
    this.addBosToken = specials.addBosToken;
    this.addEosToken = specials.addEosToken;
    this.chatTemplate = specials.chatTemplate;
  }

  /**
   * Synchronously load `dir/tokenizer.json` (+ `dir/tokenizer_config.json` and
   * `dir/chat_template.jinja` if present).
   * Missing tokenizer.json -> ModelNotFoundError; unparsable/unsupported -> TokenizerError.
   */
  static load(dir: string, opts?: TokenizerLoadOptions): Tokenizer {
    const tokenizerJson = readJsonObject(join(dir, "tokenizer.json"), true)!;
    const config = readJsonObject(join(dir, "tokenizer_config.json"), false);
    let chatTemplate: string | undefined;
    try {
      chatTemplate = readFileSync(join(dir, "chat_template.jinja"), "utf8");
    } catch {
      chatTemplate = undefined;
    }
    return Tokenizer.fromJSON(tokenizerJson, config, chatTemplate, opts);
  }

  /**
   * Build from already-parsed tokenizer.json / tokenizer_config.json objects.
   * Special ids come from the config's token names (bos_token, ...); the
   * add-BOS/EOS flags from what the tokenizer.json's post-processor adds.
   */
  static fromJSON(tokenizerJson: object, tokenizerConfig?: object, chatTemplate?: string, opts?: TokenizerLoadOptions): Tokenizer {
    const config = { ...(tokenizerConfig ?? {}) } as Record<string, unknown>;
    const hf = new HfBackend(tokenizerJson, config, opts?.vocabSize ?? CONFIG_LIMITS.vocab_size);
    const lookup = (key: string): number | null => {
      const name = tokenName(config[key]);
      return name === null ? null : (hf.tokenToId(name) ?? null);
    };
    const bos = lookup("bos_token");
    const eos = lookup("eos_token");
    const { addBos, addEos } = probeAddedSpecials(hf, bos, eos);
    return new Tokenizer(hf, {
      bosTokenId: bos, eosTokenId: eos, unkTokenId: lookup("unk_token"), padTokenId: lookup("pad_token"),
      addBosToken: addBos, addEosToken: addEos, chatTemplate: chatTemplate ?? chatTemplateOf(config),
    });
  }

  /** Build from any backend (the GGUF tokenizers in src/tokenizer/gguf.ts). Bad ids -> TokenizerError. */
  static fromBackend(backend: TokenizerBackend, specials: TokenizerSpecials): Tokenizer {
    return new Tokenizer(backend, { ...specials });
  }

  /**
   * Encode text to ids. Special tokens written in the text are recognised.
   * BOS/EOS are added only with `addSpecialTokens` and only as addBosToken /
   * addEosToken say.
   */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[] {
    const ids = text.length === 0 ? [] : this.backend.encode(text);
    if (opts?.addSpecialTokens) {
      if (this.addBosToken) ids.unshift(this.bosTokenId!);
      if (this.addEosToken) ids.push(this.eosTokenId!);
    }
    return ids;
  }

  /**
   * The same tokenizer for a model with `n` output ids: ids in [vocabSize, n),
   * which no text encodes to, decode to "" instead of throwing (what Hugging
   * Face's fast tokenizers do for ids they do not know). Used by synthetic
   * models, whose vocab (e.g. 32000) exceeds the borrowed tokenizer's.
   */
  withPaddedVocab(n: number): Tokenizer {
    return new Tokenizer(this.backend, this.specials, n);
  }

  /**
   * Decode ids to text (no clean-up of tokenization spaces). Ids in the padded
   * range decode to ""; other out-of-range ids -> TokenizerError.
   */
  decode(ids: ArrayLike<number>, opts?: { skipSpecialTokens?: boolean }): string {
    if (ids.length === 0) return "";
    let arr = Array.from(ids);
    for (const id of arr) {
      if (!Number.isInteger(id) || id < 0 || id >= this.paddedVocabSize) {
        throw new TokenizerError(`token id out of range: ${id} (vocab size ${this.paddedVocabSize})`);
      }
    }
    if (this.paddedVocabSize > this.vocabSize) arr = arr.filter((id) => id < this.vocabSize);
    if (arr.length === 0) return "";
    return this.backend.decode(arr, opts?.skipSpecialTokens ?? false);
  }

  /** Id of a token string (vocab or added tokens), or undefined. */
  tokenToId(tok: string): number | undefined {
    return this.backend.tokenToId(tok);
  }

  /** Token string of an id, or undefined. */
  idToToken(id: number): string | undefined {
    return this.backend.idToToken(id);
  }
}

/** Pending ids after which StreamDecoder tries to release text stuck behind a genuine U+FFFD. */
const MAX_PENDING = 8;

/**
 * Incremental detokenizer (prefix-offset technique of HF text-generation-inference).
 * Each push decodes only the window ids[prefixOffset..], which stays a few tokens long.
 * Text is held back while the window's decoding ends in U+FFFD (an incomplete
 * multi-byte character); concatenating all outputs + flush() equals decode(allIds).
 */
export class StreamDecoder {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;
  private readonly opts: { skipSpecialTokens?: boolean };

  constructor(
    private readonly tok: Tokenizer,
    opts?: { skipSpecialTokens?: boolean },
  ) {
    this.opts = { skipSpecialTokens: opts?.skipSpecialTokens ?? false };
  }

  private dec(start: number, end: number): string {
    return this.tok.decode(this.ids.slice(start, end), this.opts);
  }

  /** Add one id; returns the newly completed text (may be ""). */
  push(id: number): string {
    this.ids.push(id);
    const prefixText = this.dec(this.prefixOffset, this.readOffset);
    const newText = this.dec(this.prefixOffset, this.ids.length);
    if (!newText.endsWith(REPLACEMENT)) {
      if (newText.length > prefixText.length) {
        this.prefixOffset = this.readOffset;
        this.readOffset = this.ids.length;
        return newText.slice(prefixText.length);
      }
      // Tokens that decode to nothing (e.g. skipped specials): drop them from the window.
      if (newText === prefixText) this.readOffset = this.ids.length;
      return "";
    }
    if (this.ids.length - this.readOffset >= MAX_PENDING) return this.releaseStuck(prefixText, newText);
    return "";
  }

  /**
   * The window keeps ending in U+FFFD: likely genuinely invalid bytes. Emit up to the
   * latest split point j where decode(a..j) + decode(j..) == decode(a..), i.e. no
   * character straddles j, so later ids cannot change the text before j.
   */
  private releaseStuck(prefixText: string, fullText: string): string {
    const lo = Math.max(this.readOffset + 1, this.ids.length - MAX_PENDING);
    for (let j = this.ids.length - 1; j >= lo; j--) {
      const head = this.dec(this.prefixOffset, j);
      const rest = this.dec(j, this.ids.length);
      if (rest.length > 0 && head.length > prefixText.length && head.startsWith(prefixText) && head + rest === fullText) {
        this.prefixOffset = this.readOffset;
        this.readOffset = j;
        return head.slice(prefixText.length);
      }
    }
    return "";
  }

  /** Whatever text is still held back (may contain U+FFFD only for truly invalid UTF-8). */
  flush(): string {
    const prefixText = this.dec(this.prefixOffset, this.readOffset);
    const newText = this.dec(this.prefixOffset, this.ids.length);
    this.prefixOffset = this.readOffset = this.ids.length;
    return newText.slice(prefixText.length);
  }
}
