/**
 * GGUF `gpt2` (byte-level BPE) vocabularies as a tokenizer.json that
 * @huggingface/tokenizers runs: the vocabulary and merges as a BPE model,
 * CONTROL / USER_DEFINED / UNKNOWN tokens as added tokens (CONTROL and
 * UNKNOWN ones special; found in text as llama.cpp finds them, by
 * tokenizer/gguf-special.ts, before the rest goes through the tokenizer.json),
 * and `tokenizer.ggml.pre` mapped to the
 * pre-tokenizer llama.cpp uses for it (the regexes of llm_tokenizer_bpe in
 * llama-vocab.cpp, applied one after another, each splitting the pieces of
 * the previous one and keeping the text between matches).
 */
import { TokenizerError } from "../errors.js";
import type { HfBackend, TokenizerBackend } from "../tokenizer-backend.js";
import { TOKEN_TYPE } from "./gguf-keys.js";
import { partitionSpecial, specialTokenIds } from "./gguf-special.js";

const GPT2_RE = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3_RE =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" +
  "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

interface PreSpec {
  /** regexes applied in turn (Split, isolated) before the byte-level mapping */
  regexes: string[];
  /** a word that is a whole vocabulary token is not merged (llama.cpp's ignore_merges) */
  ignoreMerges: boolean;
  /** llama.cpp's add_bos default for this pre-tokenizer when the file has no add_bos_token */
  addBos: boolean;
}

const DEFAULT: PreSpec = {
  regexes: ["[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]"],
  ignoreMerges: false,
  addBos: false,
};
const GPT2: PreSpec = { regexes: [GPT2_RE], ignoreMerges: false, addBos: false };
const LLAMA3: PreSpec = { regexes: [LLAMA3_RE], ignoreMerges: true, addBos: true };
const STARCODER: PreSpec = { regexes: ["\\p{N}", GPT2_RE], ignoreMerges: false, addBos: false };
const QWEN2: PreSpec = {
  regexes: [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" +
      "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ],
  ignoreMerges: false,
  addBos: false,
};
const FALCON: PreSpec = { regexes: ["[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_RE, "[0-9][0-9][0-9]"], ignoreMerges: false, addBos: false };
const BLOOM_RE = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+";
const BLOOM: PreSpec = { regexes: [BLOOM_RE], ignoreMerges: false, addBos: false };
const DEEPSEEK_LLM: PreSpec = {
  regexes: [
    "[\r\n]",
    // llama.cpp's letter class for DeepSeek LLM (the tokenizer.json's, spelled out as ranges)
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
  ],
  ignoreMerges: false,
  addBos: false,
};
const DEEPSEEK_CODER: PreSpec = {
  regexes: ["[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"],
  ignoreMerges: false,
  addBos: false,
};
const DEEPSEEK_V3: PreSpec = {
  regexes: [
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+" +
      "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
  ],
  ignoreMerges: false,
  addBos: false,
};
/** Mistral's tekken (Nemo, Pixtral-era): case-split words, single digits. */
const TEKKEN: PreSpec = {
  regexes: [
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" +
      "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ],
  ignoreMerges: true,
  addBos: true,
};
/** GPT-4o's (and Llama 4's) case-split words with contractions, digits in threes. */
const GPT4O: PreSpec = {
  regexes: [
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?" +
      "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?" +
      "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ],
  ignoreMerges: false,
  addBos: false,
};
const VIKING: PreSpec = { regexes: [BLOOM_RE, "\\p{N}"], ignoreMerges: false, addBos: false };


/** `tokenizer.ggml.pre` values lowbit reads, and what llama.cpp does for each. */
export const BPE_PRE_TOKENIZERS: ReadonlyMap<string, PreSpec> = new Map([
  ["default", DEFAULT],
  ["gpt-2", GPT2],
  ["llama-bpe", LLAMA3],
  ["llama3", LLAMA3],
  ["llama-v3", LLAMA3],
  ["starcoder", STARCODER],
  ["refact", STARCODER],
  ["smollm", STARCODER],
  // llama.cpp's LLAMA_VOCAB_PRE_TYPE_QWEN2 / FALCON / MPT (the GPT-2 regex) / BLOOM
  ["qwen2", QWEN2],
  ["deepseek-r1-qwen", QWEN2],
  ["falcon", FALCON],
  ["mpt", GPT2],
  ["phi-2", GPT2],
  ["bloom", BLOOM],
  ["poro-chat", BLOOM],
  ["gpt3-finnish", BLOOM],
  ["viking", VIKING],
  // the llama-3 regex under other names (without llama-3's ignore_merges / add_bos, as llama.cpp)
  ["dbrx", { ...LLAMA3, ignoreMerges: false, addBos: false }],
  ["smaug-bpe", { ...LLAMA3, ignoreMerges: false, addBos: false }],
  ["falcon3", LLAMA3],
  ["falcon-h1", LLAMA3],
  ["pixtral", LLAMA3],
  ["deepseek-llm", DEEPSEEK_LLM],
  ["deepseek-coder", DEEPSEEK_CODER],
  ["deepseek-v3", DEEPSEEK_V3],
  ["tekken", TEKKEN],
  ["gpt-4o", GPT4O],
  ["llama4", GPT4O],
  ["command-r", STARCODER],
  ["codeshell", STARCODER],
  ["exaone", STARCODER],
  ["minerva-7b", STARCODER],
  ["olmo", GPT2],
  ["jais", GPT2],
  ["exaone4", GPT2],
  ["stablelm2", QWEN2],
  ["megrez", QWEN2],
]);

export function bpePreSpec(pre: string | undefined): PreSpec {
  // llama.cpp uses "default" (with a warning) when the key is absent
  const spec = BPE_PRE_TOKENIZERS.get(pre ?? "default");
  if (!spec) {
    throw new TokenizerError(
      `unsupported tokenizer.ggml.pre ${JSON.stringify(pre)} (supported: ${[...BPE_PRE_TOKENIZERS.keys()].join(", ")})`,
    );
  }
  return spec;
}

/** Split "a b" at its first space after the first character, as llama.cpp does. */
export function splitMerge(m: string): [string, string] | null {
  const pos = m.indexOf(" ", 1);
  return pos < 0 ? null : [m.slice(0, pos), m.slice(pos + 1)];
}

/**
 * tokenizer.json for a validated `gpt2` vocabulary: `ids` maps every token to
 * its id, `merges` are "a b" strings of tokens whose concatenation is a token.
 */
export function bpeTokenizerJson(
  tokens: readonly string[], types: Int32Array, merges: readonly string[], spec: PreSpec,
  unkTokenId: number | null,
): object {
  const vocab = Object.create(null) as Record<string, number>; // no prototype: "__proto__" may be a token
  tokens.forEach((t, i) => { vocab[t] = i; });
  const pairs = merges.map((m, i) => {
    const p = splitMerge(m);
    const bad = (why: string): never => {
      throw new TokenizerError(`tokenizer.ggml.merges[${i}] ${JSON.stringify(m)} ${why}`);
    };
    if (!p) return bad("is not two tokens separated by a space");
    for (const part of p) if (!Object.hasOwn(vocab, part)) bad(`refers to ${JSON.stringify(part)}, which is not a token`);
    if (!Object.hasOwn(vocab, p[0] + p[1])) bad(`merges into ${JSON.stringify(p[0] + p[1])}, which is not a token`);
    return p;
  });
  const added = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = types[i];
    if (t === TOKEN_TYPE.CONTROL || t === TOKEN_TYPE.USER_DEFINED || t === TOKEN_TYPE.UNKNOWN) {
      added.push({
        id: i, content: tokens[i], single_word: false, lstrip: false, rstrip: false, normalized: false,
        special: t !== TOKEN_TYPE.USER_DEFINED,
      });
    }
  }
  const splits = spec.regexes.map((r) => ({ type: "Split", pattern: { Regex: r }, behavior: "Isolated", invert: false }));
  return {
    version: "1.0",
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [...splits, { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false }],
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: {
      type: "BPE", dropout: null, unk_token: unkTokenId === null ? null : tokens[unkTokenId],
      continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false,
      ignore_merges: spec.ignoreMerges, vocab, merges: pairs,
    },
  };
}

/** The tokenizer.json's tokenizer, with special tokens found in text first as llama.cpp finds them. */
export class GgufBpeBackend implements TokenizerBackend {
  readonly size: number;
  private readonly specialIds: number[];

  constructor(private readonly hf: HfBackend, private readonly tokens: readonly string[], private readonly types: Int32Array) {
    this.size = hf.size;
    this.specialIds = specialTokenIds(tokens, types);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const f of partitionSpecial(text, this.tokens, this.specialIds)) {
      if (typeof f === "number") out.push(f);
      else for (const id of this.hf.encode(f)) out.push(id);
    }
    return out;
  }

  /** UNUSED tokens decode to "", as in llama.cpp. */
  decode(ids: number[], skipSpecialTokens: boolean): string {
    const kept = ids.filter((id) => this.types[id] !== TOKEN_TYPE.UNUSED);
    return kept.length === 0 ? "" : this.hf.decode(kept, skipSpecialTokens);
  }

  tokenToId(tok: string): number | undefined {
    return this.hf.tokenToId(tok);
  }

  idToToken(id: number): string | undefined {
    return this.hf.idToToken(id);
  }
}
