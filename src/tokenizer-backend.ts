/**
 * What a Tokenizer (src/tokenizer.ts) encodes and decodes with: the
 * @huggingface/tokenizers implementation for tokenizer.json (HfBackend, here),
 * or lowbit's own SentencePiece-style tokenizer for GGUF `llama` vocabularies
 * (src/tokenizer/gguf-spm.ts).
 */
import { Tokenizer as HFTokenizer } from "@huggingface/tokenizers";
import { LowbitError, TokenizerError } from "./errors.js";

/**
 * Checks every id a tokenizer.json assigns (model.vocab, added_tokens) is an
 * integer in [0, limit) before the library sees it. @huggingface/tokenizers
 * stores ids as array indices: one id of 2^31 makes a sparse array that
 * get_vocab() then walks for minutes.
 */
function checkIds(json: object, limit: number): void {
  const o = json as { model?: unknown; added_tokens?: unknown };
  const bad = (what: string, id: unknown): never => {
    throw new TokenizerError(`tokenizer.json: ${what} has id ${typeof id === "number" || typeof id === "string" ? String(id).slice(0, 40) : typeof id}, not an integer in [0, ${limit}) (the model's vocabulary)`);
  };
  const model = (o.model && typeof o.model === "object" ? o.model : {}) as { type?: unknown; vocab?: unknown };
  const vocab = model.vocab;
  // the library takes a list for Unigram (the id is the index), a token -> id map otherwise
  const unigram = model.type === "Unigram" || (model.type === undefined && Array.isArray(vocab));
  if (unigram) {
    if (!Array.isArray(vocab) || vocab.length === 0) throw new TokenizerError("tokenizer.json: model.vocab of a Unigram model is missing, empty or not a list");
    if (vocab.length > limit) bad(`model.vocab entry #${vocab.length - 1}`, vocab.length - 1);
  } else {
    if (!vocab || typeof vocab !== "object" || Array.isArray(vocab) || Object.keys(vocab).length === 0) {
      throw new TokenizerError("tokenizer.json: model.vocab is missing, empty or not a token -> id map");
    }
    for (const [tok, id] of Object.entries(vocab)) {
      if (!Number.isSafeInteger(id) || (id as number) < 0 || (id as number) >= limit) bad(`model.vocab token ${JSON.stringify(tok.slice(0, 40))}`, id);
    }
  }
  if (!Array.isArray(o.added_tokens)) return;
  for (const [i, a] of o.added_tokens.entries()) {
    const id = a && typeof a === "object" ? (a as { id?: unknown }).id : undefined;
    if (!Number.isSafeInteger(id) || (id as number) < 0 || (id as number) >= limit) bad(`added_tokens[${i}]`, id);
  }
}

/** Runs a call into @huggingface/tokenizers, turning what it throws into a TokenizerError. */
function guarded<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof LowbitError) throw e;
    throw new TokenizerError(`tokenizer.json: ${what}: ${(e as Error).message}`, { cause: e });
  }
}

export interface TokenizerBackend {
  /** Largest id + 1. */
  readonly size: number;
  /** Text to ids, with special tokens written in the text recognised, never adding BOS/EOS. */
  encode(text: string): number[];
  /** Ids (all in [0, size)) to text, without clean-up of tokenization spaces. */
  decode(ids: number[], skipSpecialTokens: boolean): string;
  tokenToId(tok: string): number | undefined;
  idToToken(id: number): string | undefined;
}

/** A parsed tokenizer.json run by @huggingface/tokenizers. */
export class HfBackend implements TokenizerBackend {
  readonly size: number;
  private readonly hf: HFTokenizer;

  /**
   * `config`: tokenizer_config.json's object (the JS library reads a few of its fields);
   * `maxVocab`: every id must be below it (the model's vocabulary size).
   */
  constructor(tokenizerJson: object, config: Record<string, unknown>, maxVocab: number) {
    checkIds(tokenizerJson, maxVocab);
    try {
      if (!Array.isArray((tokenizerJson as { added_tokens?: unknown }).added_tokens)) {
        tokenizerJson = { ...tokenizerJson, added_tokens: [] };
      }
      this.hf = new HFTokenizer(tokenizerJson, config);
    } catch (e) {
      throw new TokenizerError(`unusable tokenizer.json: ${(e as Error).message}`, { cause: e });
    }
    let maxId = -1;
    for (const id of guarded("reading the vocabulary", () => this.hf.get_vocab(true).values())) if (id > maxId) maxId = id;
    this.size = maxId + 1;
    if (this.size === 0) throw new TokenizerError("tokenizer.json: the tokenizer has no tokens");
  }

  encode(text: string): number[] {
    return guarded("encode", () => this.hf.encode(text, { add_special_tokens: false }).ids);
  }

  /** The ids the tokenizer.json's post-processor adds around `text` (BOS/EOS templates). */
  encodeWithSpecials(text: string): number[] {
    return guarded("encode with special tokens", () => this.hf.encode(text, { add_special_tokens: true }).ids);
  }

  decode(ids: number[], skipSpecialTokens: boolean): string {
    return guarded("decode", () => this.hf.decode(ids, { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false }));
  }

  tokenToId(tok: string): number | undefined {
    return this.hf.token_to_id(tok);
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }
}
