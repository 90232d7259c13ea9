/**
 * Tokenizer wrapper around @huggingface/tokenizers (pure JS), plus an
 * incremental detokenizer for streaming generation.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer as HFTokenizer } from "@huggingface/tokenizers";
import { ModelNotFoundError, TokenizerError } from "./errors.js";

const REPLACEMENT = "\uFFFD";

/** Name of a special token in tokenizer_config.json: a string or an AddedToken object. */
function tokenName(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") {
    return (v as { content: string }).content;
  }
  return null;
}

function readJson(path: string, required: boolean): object | undefined {
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
  try {
    const v: unknown = JSON.parse(text);
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not a JSON object");
    return v;
  } catch (e) {
    throw new TokenizerError(`cannot parse ${path}: ${(e as Error).message}`, { cause: e });
  }
}

export class Tokenizer {
  readonly vocabSize: number;
  readonly eosTokenId: number | null;
  readonly bosTokenId: number | null;
  /**
   * Ids in [vocabSize, paddedVocabSize) decode to "" (a model whose embedding
   * table is larger than this vocabulary, see withPaddedVocab); equal to
   * vocabSize otherwise.
   */
  readonly paddedVocabSize: number;
  private readonly hf: HFTokenizer;
  private readonly config: Record<string, unknown>;

  private constructor(hf: HFTokenizer, config: Record<string, unknown>, paddedVocabSize = 0) {
    this.hf = hf;
    this.config = config;
    let maxId = -1;
    for (const id of hf.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;
    this.paddedVocabSize = Math.max(this.vocabSize, paddedVocabSize);
    const lookup = (key: string): number | null => {
      const name = tokenName(config[key]);
      return name === null ? null : (this.tokenToId(name) ?? null);
    };
    this.eosTokenId = lookup("eos_token");
    this.bosTokenId = lookup("bos_token");
  }

  /**
   * Synchronously load `dir/tokenizer.json` (+ `dir/tokenizer_config.json` if present).
   * Missing tokenizer.json -> ModelNotFoundError; unparsable/unsupported -> TokenizerError.
   */
  static load(dir: string): Tokenizer {
    const tokenizerJson = readJson(join(dir, "tokenizer.json"), true)!;
    const config = readJson(join(dir, "tokenizer_config.json"), false);
    return Tokenizer.fromJSON(tokenizerJson, config);
  }

  /** Build from already-parsed tokenizer.json / tokenizer_config.json objects. */
  static fromJSON(tokenizerJson: object, tokenizerConfig?: object): Tokenizer {
    const config = { ...(tokenizerConfig ?? {}) } as Record<string, unknown>;
    let hf: HFTokenizer;
    try {
      if (!Array.isArray((tokenizerJson as { added_tokens?: unknown }).added_tokens)) {
        tokenizerJson = { ...tokenizerJson, added_tokens: [] };
      }
      hf = new HFTokenizer(tokenizerJson, config);
    } catch (e) {
      throw new TokenizerError(`unusable tokenizer.json: ${(e as Error).message}`, { cause: e });
    }
    return new Tokenizer(hf, config);
  }

  /** Encode text to ids without adding special tokens (no BOS/EOS). */
  encode(text: string): number[] {
    if (text.length === 0) return [];
    return this.hf.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * The same tokenizer for a model with `n` output ids: ids in [vocabSize, n),
   * which no text encodes to, decode to "" instead of throwing (what Hugging
   * Face's fast tokenizers do for ids they do not know). Used by synthetic
   * models, whose vocab (e.g. 32000) exceeds the borrowed tokenizer's.
   */
  withPaddedVocab(n: number): Tokenizer {
    return new Tokenizer(this.hf, this.config, n);
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
    return this.hf.decode(arr, {
      skip_special_tokens: opts?.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false,
    });
  }

  /** Id of a token string (vocab or added tokens), or undefined. */
  tokenToId(tok: string): number | undefined {
    return this.hf.token_to_id(tok);
  }

  /** Token string of an id, or undefined. */
  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
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
