/**
 * The tokenizer stored in a GGUF file (`tokenizer.ggml.*`, docs/GGUF.md
 * "Tokenizer") as a lowbit Tokenizer, tokenizing as llama.cpp does:
 * `gpt2` (byte-level BPE, run by @huggingface/tokenizers from a tokenizer.json
 * built here) and `llama` (SentencePiece-style, tokenizer/gguf-spm.ts).
 * Missing or inconsistent metadata -> TokenizerError naming the file and key.
 */
import { TokenizerError } from "../errors.js";
import { Tokenizer } from "../tokenizer.js";
import { HfBackend } from "../tokenizer-backend.js";
import type { GgufFile } from "../formats/gguf-file.js";
import type { GgufValue } from "../formats/gguf-types.js";
import { GgufBpeBackend, bpePreSpec, bpeTokenizerJson } from "./gguf-bpe.js";
import { KEY, TOKEN_TYPE } from "./gguf-keys.js";
import { SpmBackend } from "./gguf-spm.js";

const INT_TYPES = new Set(["u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64"]);

/** Typed reads of tokenizer metadata that fail with TokenizerError. */
class Meta {
  constructor(private readonly file: GgufFile) {}

  fail(msg: string): never {
    throw new TokenizerError(msg);
  }

  private value(key: string, expected: string, ok: (v: GgufValue) => boolean): GgufValue | undefined {
    const v = this.file.get(key);
    if (v !== undefined && !ok(v)) {
      const got = v.type === "array" ? `array of ${v.value.itemType}` : v.type;
      this.fail(`metadata key "${key}" has type ${got}, expected ${expected}`);
    }
    return v;
  }

  str(key: string): string | undefined {
    return this.value(key, "string", (v) => v.type === "string")?.value as string | undefined;
  }

  bool(key: string): boolean | undefined {
    return this.value(key, "bool", (v) => v.type === "bool")?.value as boolean | undefined;
  }

  int(key: string): number | undefined {
    const v = this.value(key, "an integer", (x) => INT_TYPES.has(x.type));
    return v === undefined ? undefined : Number(v.value);
  }

  strings(key: string): string[] | undefined {
    const v = this.value(key, "array of string", (x) => x.type === "array" && x.value.itemType === "string");
    return v?.type === "array" ? (v.value.items as string[]) : undefined;
  }

  numbers(key: string, itemTypes: string[]): ArrayLike<number> | undefined {
    const v = this.value(key, `array of ${itemTypes.join(" or ")}`, (x) => x.type === "array" && itemTypes.includes(x.value.itemType));
    return v?.type === "array" ? (v.value.items as ArrayLike<number>) : undefined;
  }
}

/**
 * The tokens, with the checks llama.cpp makes (or relies on): no duplicates;
 * empty tokens renamed "[EMPTY_<id>]" as llama.cpp does.
 */
function readTokens(m: Meta): string[] {
  const raw = m.strings(KEY.tokens);
  if (raw === undefined) m.fail(`no tokenizer: metadata key "${KEY.tokens}" is missing`);
  if (raw.length === 0) m.fail(`"${KEY.tokens}" is empty`);
  const tokens = raw.map((t, i) => (t.length === 0 ? `[EMPTY_${i}]` : t));
  const seen = new Map<string, number>();
  tokens.forEach((t, i) => {
    const j = seen.get(t);
    if (j !== undefined) m.fail(`"${KEY.tokens}": tokens ${j} and ${i} are both ${JSON.stringify(t)}`);
    seen.set(t, i);
  });
  return tokens;
}

function readTypes(m: Meta, n: number): Int32Array {
  const raw = m.numbers(KEY.tokenType, ["i32"]);
  if (raw === undefined) return new Int32Array(n).fill(TOKEN_TYPE.NORMAL);
  if (raw.length !== n) m.fail(`"${KEY.tokenType}" has ${raw.length} entries for ${n} tokens`);
  for (let i = 0; i < n; i++) {
    if (!(raw[i]! >= TOKEN_TYPE.NORMAL && raw[i]! <= TOKEN_TYPE.BYTE)) m.fail(`"${KEY.tokenType}"[${i}] = ${raw[i]} is not a token type (1..6)`);
  }
  return Int32Array.from(raw);
}

function readScores(m: Meta, n: number): Float32Array {
  const raw = m.numbers(KEY.scores, ["f32", "i32"]);
  if (raw === undefined) return new Float32Array(n);
  if (raw.length !== n) m.fail(`"${KEY.scores}" has ${raw.length} entries for ${n} tokens`);
  return Float32Array.from(raw);
}

/** A special token id: the key's value (checked to be a token id), else `fallback` when that is in range. */
function readId(m: Meta, key: string, n: number, fallback: number | null): number | null {
  const id = m.int(key);
  if (id === undefined) return fallback !== null && fallback < n ? fallback : null;
  if (!(id >= 0 && id < n)) m.fail(`"${key}" = ${id} is not a token id (${n} tokens)`);
  return id;
}

/**
 * Build a Tokenizer from a GGUF file's `tokenizer.ggml.*` metadata (any
 * tensors are ignored; vocab-only files work). Defaults for absent keys are
 * llama.cpp's: `llama` -> BOS 1, EOS 2, UNK 0, add_bos_token and
 * add_space_prefix true; `gpt2` -> add_bos_token false (true for the llama-3
 * pre-tokenizers), no special ids.
 */
export function tokenizerFromGguf(file: GgufFile): Tokenizer {
  try {
    return build(new Meta(file));
  } catch (e) {
    if (e instanceof TokenizerError) throw new TokenizerError(`${file.path}: ${e.message}`, { cause: e });
    throw e;
  }
}

function build(m: Meta): Tokenizer {
  const model = m.str(KEY.model);
  if (model === undefined) m.fail(`no tokenizer: metadata key "${KEY.model}" is missing`);
  if (model !== "gpt2" && model !== "llama") {
    m.fail(`unsupported tokenizer model "${KEY.model}" = ${JSON.stringify(model)} (supported: gpt2, llama)`);
  }
  const tokens = readTokens(m);
  const n = tokens.length;
  const types = readTypes(m, n);
  const spm = model === "llama";
  const unk = readId(m, KEY.unk, n, spm ? 0 : null);
  const base = {
    bosTokenId: readId(m, KEY.bos, n, spm ? 1 : null),
    eosTokenId: readId(m, KEY.eos, n, spm ? 2 : null),
    unkTokenId: unk,
    padTokenId: readId(m, KEY.pad, n, null),
    addEosToken: m.bool(KEY.addEos) ?? false,
    chatTemplate: m.str(KEY.chatTemplate) ?? null,
  };
  if (spm) {
    const backend = new SpmBackend({
      tokens, scores: readScores(m, n), types, unkTokenId: unk, addSpacePrefix: m.bool(KEY.addSpacePrefix) ?? true,
    });
    return Tokenizer.fromBackend(backend, { ...base, addBosToken: m.bool(KEY.addBos) ?? true });
  }
  const spec = bpePreSpec(m.str(KEY.pre));
  const merges = m.strings(KEY.merges);
  if (merges === undefined) m.fail(`"${KEY.merges}" is missing (required for gpt2)`);
  const hf = new HfBackend(bpeTokenizerJson(tokens, types, merges, spec, unk), {}, tokens.length);
  const backend = new GgufBpeBackend(hf, tokens, types);
  return Tokenizer.fromBackend(backend, { ...base, addBosToken: m.bool(KEY.addBos) ?? spec.addBos });
}
