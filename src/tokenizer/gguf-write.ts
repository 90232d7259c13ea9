/**
 * GGUF tokenizer metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`) for
 * a Hugging Face byte-level BPE tokenizer (tokenizer.json with a ByteLevel
 * pre-tokenizer and decoder), in the order and with the types llama.cpp's
 * convert_hf_to_gguf.py writes. Anything llama.cpp's `gpt2` tokenizer cannot
 * reproduce (other models, normalizers, pre-tokenizers without a
 * `tokenizer.ggml.pre` name, lstrip/rstrip added tokens) -> TokenizerError.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TokenizerError } from "../errors.js";
import { Tokenizer, chatTemplateOf, readJsonObject, tokenName } from "../tokenizer.js";
import { gv } from "../formats/gguf-write.js";
import type { GgufValue } from "../formats/gguf-types.js";
import { KEY, TOKEN_TYPE } from "./gguf-keys.js";

/** The parsed files of a Hugging Face tokenizer. */
export interface HfTokenizerSource {
  /** tokenizer.json */
  tokenizerJson: object;
  /** tokenizer_config.json: special token names, add_bos_token, chat_template */
  tokenizerConfig?: object;
  /** config.json: bos/eos/pad_token_id when the tokenizer config names none, vocab_size */
  modelConfig?: object;
  /** chat_template.jinja, which wins over tokenizer_config.json's chat_template */
  chatTemplate?: string;
}

export type GgufEntry = [string, GgufValue];

/** The Llama 3 pre-tokenizer regex as tokenizer.json files spell it. */
const LLAMA3_HF_RE =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** Qwen2's (digits one by one), as tokenizer.json files spell it. */
const QWEN2_HF_RE =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** BLOOM's split (words with their leading space, punctuation apart), as tokenizer.json files spell it. */
const BLOOM_HF_RE = " ?[^(\\s|[.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c])]+";

type Json = Record<string, unknown>;

function obj(v: unknown): Json | null {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : null;
}

/** The three files from a model directory (tokenizer.json required). */
export function readHfTokenizerSource(dir: string): HfTokenizerSource {
  let chatTemplate: string | undefined;
  try {
    chatTemplate = readFileSync(join(dir, "chat_template.jinja"), "utf8");
  } catch {
    chatTemplate = undefined;
  }
  return {
    tokenizerJson: readJsonObject(join(dir, "tokenizer.json"), true)!,
    tokenizerConfig: readJsonObject(join(dir, "tokenizer_config.json"), false),
    modelConfig: readJsonObject(join(dir, "config.json"), false),
    chatTemplate,
  };
}

const isByteLevel = (p: Json | null, useRegex: boolean): boolean =>
  p?.type === "ByteLevel" && p.add_prefix_space !== true && (p.use_regex ?? true) === useRegex;

/** The `tokenizer.ggml.pre` name of a tokenizer.json's pre-tokenizer (and merge rule), or an error. */
function preName(tj: Json, model: Json): string {
  const pre = obj(tj.pre_tokenizer);
  const seq = pre?.type === "Sequence" && Array.isArray(pre.pretokenizers) ? pre.pretokenizers.map(obj) : null;
  const ignoreMerges = model.ignore_merges === true;
  let name: string | null = null;
  if (isByteLevel(pre, true) && !ignoreMerges) name = "gpt-2";
  else if (seq?.length === 2) {
    const [a, b] = seq;
    const split = a?.type === "Split" && obj(a.pattern)?.Regex === LLAMA3_HF_RE && a.behavior === "Isolated" && a.invert !== true;
    if (split && isByteLevel(b!, false) && ignoreMerges) name = "llama-bpe";
    const qwen2 = a?.type === "Split" && obj(a.pattern)?.Regex === QWEN2_HF_RE && a.behavior === "Isolated" && a.invert !== true;
    if (qwen2 && isByteLevel(b!, false) && !ignoreMerges) name = "qwen2";
    const bloom = a?.type === "Split" && obj(a.pattern)?.Regex === BLOOM_HF_RE && a.behavior === "Isolated" && a.invert !== true;
    if (bloom && isByteLevel(b!, false) && !ignoreMerges) name = "bloom";
    if (a?.type === "Digits" && a.individual_digits === true && isByteLevel(b!, true) && !ignoreMerges) name = "starcoder";
  } else if (seq?.length === 4 && !ignoreMerges) {
    // Falcon's: punctuation runs, ByteLevel with the GPT-2 regex, digit runs, then split in threes
    const [a, b, c, d] = seq;
    if (a?.type === "Punctuation" && a.behavior === "Contiguous" && isByteLevel(b!, true) && c?.type === "Digits" && c.individual_digits === false &&
      d?.type === "Split" && obj(d.pattern)?.Regex === "[0-9][0-9][0-9]" && d.behavior === "Isolated" && d.invert !== true) name = "falcon";
  }
  if (name === null) {
    throw new TokenizerError(
      `unsupported pre-tokenizer for GGUF: ${JSON.stringify(tj.pre_tokenizer)} (ignore_merges ${ignoreMerges}); ` +
        "supported: ByteLevel with the GPT-2 regex (gpt-2), the Llama 3 Split + ByteLevel (llama-bpe), Qwen2's Split + ByteLevel (qwen2), BLOOM's Split + ByteLevel (bloom), Falcon's four (falcon), Digits + ByteLevel (starcoder)",
    );
  }
  return name;
}

/** id -> token, over the model vocabulary and the added tokens, padded with UNUSED "[PAD<id>]" to `size`. */
function idTable(model: Json, added: Json[], size: number | undefined): { tokens: string[]; types: Int32Array } {
  const vocab = obj(model.vocab);
  if (!vocab) throw new TokenizerError("tokenizer.json model.vocab is missing");
  const byId: (string | undefined)[] = [];
  const put = (tok: string, id: unknown): void => {
    if (!Number.isSafeInteger(id) || (id as number) < 0) throw new TokenizerError(`token ${JSON.stringify(tok)} has id ${String(id)}`);
    const prev = byId[id as number];
    if (prev !== undefined && prev !== tok) {
      throw new TokenizerError(`id ${String(id)} is both ${JSON.stringify(prev)} and ${JSON.stringify(tok)}`);
    }
    byId[id as number] = tok;
  };
  for (const [tok, id] of Object.entries(vocab)) put(tok, id);
  for (const a of added) put(String(a.content), a.id);
  const n = Math.max(byId.length, size ?? 0);
  if (size !== undefined && size < byId.length) throw new TokenizerError(`vocab_size ${size} is smaller than the ${byId.length} token ids`);
  const tokens: string[] = [];
  const types = new Int32Array(n).fill(TOKEN_TYPE.NORMAL);
  for (let i = 0; i < n; i++) {
    tokens.push(byId[i] ?? `[PAD${i}]`);
    if (byId[i] === undefined) types[i] = TOKEN_TYPE.UNUSED;
  }
  if (new Set(tokens).size !== n) throw new TokenizerError("the token list has duplicate strings (a padding name clashes with a token?)");
  for (const a of added) types[a.id as number] = a.special === true ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
  return { tokens, types };
}

/** "a b" merge strings, each checked against the vocabulary. */
function mergeStrings(model: Json, ids: Map<string, number>): string[] {
  if (!Array.isArray(model.merges)) throw new TokenizerError("tokenizer.json model.merges is missing");
  return model.merges.map((m: unknown, i) => {
    const pair = typeof m === "string" ? m.split(" ") : m;
    if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((p) => typeof p === "string" && p.length > 0 && !p.includes(" "))) {
      throw new TokenizerError(`tokenizer.json merge ${i} ${JSON.stringify(m)} is not two tokens without spaces`);
    }
    const [a, b] = pair as [string, string];
    for (const t of [a, b, a + b]) {
      if (!ids.has(t)) throw new TokenizerError(`tokenizer.json merge ${i} ${JSON.stringify(m)}: ${JSON.stringify(t)} is not a token`);
    }
    return `${a} ${b}`;
  });
}

/**
 * Metadata entries for `src` (a model directory or its parsed files), to pass
 * to writeGguf after the model's own keys. `vocabSize` (default: config.json's
 * vocab_size when larger) pads the token list with UNUSED "[PAD<id>]" tokens,
 * as convert_hf_to_gguf.py does for embedding tables larger than the vocabulary.
 */
export function ggufTokenizerMetadata(src: string | HfTokenizerSource, opts?: { vocabSize?: number }): GgufEntry[] {
  const s = typeof src === "string" ? readHfTokenizerSource(src) : src;
  const tj = s.tokenizerJson as Json;
  const config = (obj(s.tokenizerConfig) ?? {}) as Json;
  const mc = (obj(s.modelConfig) ?? {}) as Json;
  const model = obj(tj.model);
  if (model?.type !== "BPE") throw new TokenizerError(`unsupported tokenizer for GGUF: model type ${JSON.stringify(model?.type)} (only byte-level BPE)`);
  if (model.byte_fallback === true || model.continuing_subword_prefix || model.end_of_word_suffix || (model.dropout ?? null) !== null) {
    throw new TokenizerError("unsupported BPE options for GGUF (byte_fallback, subword prefix/suffix or dropout): only byte-level BPE");
  }
  if ((tj.normalizer ?? null) !== null) throw new TokenizerError(`unsupported normalizer for GGUF: ${JSON.stringify(tj.normalizer)}`);
  if (obj(tj.decoder)?.type !== "ByteLevel") throw new TokenizerError(`unsupported decoder for GGUF: ${JSON.stringify(tj.decoder)} (need ByteLevel)`);
  const pre = preName(tj, model);
  const added = (Array.isArray(tj.added_tokens) ? tj.added_tokens : []).map((a) => obj(a) ?? {});
  for (const a of added) {
    if (typeof a.content !== "string" || a.lstrip === true || a.rstrip === true || a.single_word === true) {
      throw new TokenizerError(`added token ${JSON.stringify(a)}: GGUF cannot express lstrip / rstrip / single_word`);
    }
  }
  const vocabSize = opts?.vocabSize ?? (typeof mc.vocab_size === "number" ? mc.vocab_size : undefined);
  const { tokens, types } = idTable(model, added, vocabSize);
  const ids = new Map(tokens.map((t, i) => [t, i]));
  const merges = mergeStrings(model, ids);

  const special = (name: string, configKey: string | null): number | null => {
    const tok = tokenName(config[name]);
    if (tok !== null) {
      const id = ids.get(tok);
      if (id === undefined) throw new TokenizerError(`tokenizer_config.json ${name} ${JSON.stringify(tok)} is not a token`);
      return id;
    }
    let v = configKey === null ? undefined : mc[configKey];
    if (Array.isArray(v)) v = v[0];
    return typeof v === "number" && Number.isInteger(v) && v >= 0 && v < tokens.length ? v : null;
  };
  const bos = special("bos_token", "bos_token_id");
  const eos = special("eos_token", "eos_token_id");
  const unk = special("unk_token", null);
  const pad = special("pad_token", "pad_token_id");
  // what the tokenizer.json's post-processor adds, unless tokenizer_config.json says
  const probe = Tokenizer.fromJSON(tj, {
    ...config, bos_token: bos === null ? null : tokens[bos], eos_token: eos === null ? null : tokens[eos],
  });
  const addBos = typeof config.add_bos_token === "boolean" ? config.add_bos_token : probe.addBosToken;
  const addEos = typeof config.add_eos_token === "boolean" ? config.add_eos_token : probe.addEosToken;
  if ((addBos && bos === null) || (addEos && eos === null)) throw new TokenizerError("add_bos_token / add_eos_token set without that token");
  const chat = s.chatTemplate ?? chatTemplateOf(config);

  const out: GgufEntry[] = [
    [KEY.model, gv.str("gpt2")],
    [KEY.pre, gv.str(pre)],
    [KEY.tokens, gv.arr("string", tokens)],
    [KEY.tokenType, gv.arr("i32", types)],
    [KEY.merges, gv.arr("string", merges)],
  ];
  for (const [key, id] of [[KEY.bos, bos], [KEY.eos, eos], [KEY.unk, unk], [KEY.pad, pad]] as const) {
    if (id !== null) out.push([key, gv.u32(id)]);
  }
  out.push([KEY.addBos, gv.bool(addBos)], [KEY.addEos, gv.bool(addEos)]);
  if (chat !== null) out.push([KEY.chatTemplate, gv.str(chat)]);
  return out;
}
