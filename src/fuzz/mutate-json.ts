/**
 * config.json and tokenizer mutants: dimensions and ids set to interesting
 * JSON values (huge, negative, fractional, wrong types, nested thousands
 * deep), keys deleted, tokenizer components replaced, and byte-level damage
 * to the JSON text.
 */
import { damageBytes, interestingInt, type Mutant, type Rng } from "./mutant.js";
import { embeddedJson, embeddedText, linkModelDir, EMBEDDED_MODEL_DIR } from "./model-files.js";

type Json = Record<string, unknown>;

const nest = (depth: number) => JSON.parse("[".repeat(Math.min(depth, 60)) + "]".repeat(Math.min(depth, 60))) as unknown;

/** A JSON value a validator is likely to mishandle, around the number `v`. */
function interestingValue(rng: Rng, v: unknown): { value: unknown; deep?: number } {
  const n = typeof v === "number" ? v : 7;
  const r = rng.int(10);
  if (r < 5) {
    // integers around an integer; a float (rms_norm_eps, rope_theta) scaled or at the extremes
    return { value: Number.isSafeInteger(n) ? Number(interestingInt(rng, n)) : rng.pick([n * 10, n / 10, 0, -n, 1e-300, 1e300, 5e-324]) };
  }
  if (r === 9) {
    const deep = rng.pick([50, 65, 1000, 10000, 100000]);
    return { value: deep <= 60 ? nest(deep) : "__DEEP__", deep };
  }
  return { value: rng.pick([-1, -n, n + 0.5, 1e308, -0, Number.MAX_SAFE_INTEGER, "256", "", null, true, [], {}, [n], { value: n }]) };
}

/** JSON text of `o`, with a "__DEEP__" placeholder replaced by nesting `deep` levels. */
function text(o: unknown, deep?: number): string {
  const t = JSON.stringify(o, null, 2);
  return deep && deep > 60 ? t.replace('"__DEEP__"', "[".repeat(deep) + "]".repeat(deep)) : t;
}

function setPath(o: Json, keys: readonly string[], v: unknown): void {
  let cur: Json = o;
  for (const k of keys.slice(0, -1)) {
    if (typeof cur[k] !== "object" || cur[k] === null) cur[k] = {};
    cur = cur[k] as Json;
  }
  cur[keys[keys.length - 1]!] = v;
}

function getPath(o: Json, keys: readonly string[]): unknown {
  let cur: unknown = o;
  for (const k of keys) cur = cur && typeof cur === "object" ? (cur as Json)[k] : undefined;
  return cur;
}

const CONFIG_KEYS = [
  "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
  "head_dim", "vocab_size", "max_position_embeddings", "bos_token_id", "eos_token_id", "rms_norm_eps",
  "rope_parameters.rope_theta", "rope_parameters.rope_type", "rope_scaling", "tie_word_embeddings",
  "model_type", "hidden_act", "attention_bias", "pad_token_id",
];

/** Byte-level damage to a JSON file's text. */
function damagedText(rng: Rng, file: string): { out: Buffer; desc: string } {
  const buf = Buffer.from(embeddedText(file));
  const d = damageBytes(rng, buf, 0, buf.length);
  return { out: d.out, desc: `${file} ${d.desc}` };
}

/** A mutant that replaces `files` in a linked copy of the embedded model. */
function dirMutant(desc: string, files: Record<string, string | Uint8Array>): Mutant {
  return { desc, write: (dir) => linkModelDir(EMBEDDED_MODEL_DIR, dir, files) };
}

export function configMutant(rng: Rng): Mutant {
  const c = embeddedJson("config.json");
  switch (rng.weighted({ value: 6, delete: 1, text: 2 })) {
    case "value": {
      const key = rng.pick(CONFIG_KEYS);
      const keys = key.split(".");
      const { value, deep } = interestingValue(rng, getPath(c, keys));
      setPath(c, keys, value);
      return dirMutant(`config: ${key} = ${deep ? `nested ${deep} deep` : JSON.stringify(value)}`, { "config.json": text(c, deep) });
    }
    case "delete": {
      const key = rng.pick(Object.keys(c));
      delete c[key];
      return dirMutant(`config: ${key} deleted`, { "config.json": text(c) });
    }
    default: {
      const d = damagedText(rng, "config.json");
      return dirMutant(`config: ${d.desc}`, { "config.json": d.out });
    }
  }
}

const COMPONENTS = ["normalizer", "pre_tokenizer", "post_processor", "decoder", "model"];

export function tokenizerMutant(rng: Rng): Mutant {
  const t = embeddedJson("tokenizer.json") as Json & { added_tokens: Json[]; model: Json & { vocab: Json; merges: unknown[] } };
  const tc = embeddedJson("tokenizer_config.json");
  const vocab = Object.keys(t.model.vocab);
  let desc: string;
  let deep: number | undefined;
  switch (rng.weighted({ addedId: 3, added: 1, vocabId: 3, vocab: 1, merges: 2, component: 3, field: 2, config: 2, text: 2 })) {
    case "addedId": {
      const i = rng.int(t.added_tokens.length);
      const v = interestingValue(rng, t.added_tokens[i]!.id);
      t.added_tokens[i]!.id = v.value;
      deep = v.deep;
      desc = `added_tokens[${i}].id = ${deep ? `nested ${deep} deep` : JSON.stringify(v.value)}`;
      break;
    }
    case "added": {
      const i = rng.int(t.added_tokens.length);
      const key = rng.pick(["content", "special", "normalized", "lstrip"]);
      const v = rng.pick([5, "", null, "def", "<|endoftext|>", [], "yes"]);
      if (rng.next() < 0.2) (t.added_tokens as unknown[])[i] = v;
      else t.added_tokens[i]![key] = v;
      desc = `added_tokens[${i}]${typeof t.added_tokens[i] === "object" && t.added_tokens[i] !== null ? `.${key}` : ""} = ${JSON.stringify(v)}`;
      break;
    }
    case "vocabId": {
      const tok = rng.pick(vocab);
      const v = interestingValue(rng, t.model.vocab[tok]);
      t.model.vocab[tok] = v.value;
      deep = v.deep;
      desc = `model.vocab[${JSON.stringify(tok)}] = ${deep ? `nested ${deep} deep` : JSON.stringify(v.value)}`;
      break;
    }
    case "vocab": {
      const tok = rng.pick(vocab);
      delete t.model.vocab[tok];
      desc = `model.vocab[${JSON.stringify(tok)}] deleted`;
      break;
    }
    case "merges": {
      const i = rng.int(t.model.merges.length);
      const v = rng.pick([5, "a", "x y z", ["a"], ["zzz", "qqq"], null, ""]);
      if (rng.next() < 0.25) (t.model as Json).merges = rng.pick([null, 5, "a b", [], {}]);
      else t.model.merges[i] = v;
      desc = `model.merges${Array.isArray(t.model.merges) && t.model.merges.length > 1 ? `[${i}]` : ""} = ${JSON.stringify(Array.isArray(t.model.merges) && t.model.merges.length > 1 ? v : t.model.merges)}`;
      break;
    }
    case "component": {
      const key = rng.pick(COMPONENTS);
      const v = rng.pick([5, "x", null, [], {}, { type: "Nope" }, { type: 5 }, { type: "Sequence" }, { type: "Sequence", pretokenizers: 5 }]);
      t[key] = v;
      desc = `${key} = ${JSON.stringify(v)}`;
      break;
    }
    case "field": {
      const path = rng.pick([
        "post_processor.single", "post_processor.pair", "post_processor.special_tokens", "post_processor.type",
        "pre_tokenizer.type", "pre_tokenizer.pretokenizers", "decoder.type", "model.type", "model.unk_token",
        "model.byte_fallback", "model.ignore_merges", "model.dropout", "model.vocab",
      ]);
      const v = rng.pick([5, "x", null, [], {}, [5], [{ SpecialToken: { id: "nope", type_id: 0 } }], "WordPiece", "Unigram", true, 0.5]);
      setPath(t, path.split("."), v);
      desc = `${path} = ${JSON.stringify(v)}`;
      break;
    }
    case "config": {
      const key = rng.pick(["bos_token", "eos_token", "unk_token", "pad_token", "chat_template", "model_max_length", "additional_special_tokens"]);
      const v = rng.pick([5, "nope-token", "<|endoftext|>", null, {}, { content: 5 }, [5], ["x"], "{% for %}", 1e308]);
      tc[key] = v;
      return dirMutant(`tokenizer: tokenizer_config.json ${key} = ${JSON.stringify(v)}`, { "tokenizer_config.json": text(tc) });
    }
    default: {
      const d = damagedText(rng, rng.pick(["tokenizer.json", "tokenizer_config.json"]));
      return dirMutant(`tokenizer: ${d.desc}`, { [d.desc.split(" ")[0]!]: d.out });
    }
  }
  return dirMutant(`tokenizer: ${desc}`, { "tokenizer.json": text(t, deep) });
}
