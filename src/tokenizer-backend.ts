/**
 * What a Tokenizer (src/tokenizer.ts) encodes and decodes with: the
 * @huggingface/tokenizers implementation for tokenizer.json (HfBackend, here),
 * or lowbit's own SentencePiece-style tokenizer for GGUF `llama` vocabularies
 * (src/formats/gguf-tokenizer-spm.ts).
 */
import { Tokenizer as HFTokenizer } from "@huggingface/tokenizers";
import { TokenizerError } from "./errors.js";

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

  /** `config`: tokenizer_config.json's object (the JS library reads a few of its fields). */
  constructor(tokenizerJson: object, config: Record<string, unknown>) {
    try {
      if (!Array.isArray((tokenizerJson as { added_tokens?: unknown }).added_tokens)) {
        tokenizerJson = { ...tokenizerJson, added_tokens: [] };
      }
      this.hf = new HFTokenizer(tokenizerJson, config);
    } catch (e) {
      throw new TokenizerError(`unusable tokenizer.json: ${(e as Error).message}`, { cause: e });
    }
    let maxId = -1;
    for (const id of this.hf.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.size = maxId + 1;
  }

  encode(text: string): number[] {
    return this.hf.encode(text, { add_special_tokens: false }).ids;
  }

  /** The ids the tokenizer.json's post-processor adds around `text` (BOS/EOS templates). */
  encodeWithSpecials(text: string): number[] {
    return this.hf.encode(text, { add_special_tokens: true }).ids;
  }

  decode(ids: number[], skipSpecialTokens: boolean): string {
    return this.hf.decode(ids, { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false });
  }

  tokenToId(tok: string): number | undefined {
    return this.hf.token_to_id(tok);
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }
}
