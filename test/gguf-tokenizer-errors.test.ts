/** GGUF tokenizer metadata that is missing, inconsistent or unsupported: a TokenizerError saying what. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { TokenizerError } from "../src/errors.js";
import { GgufFile } from "../src/formats/gguf-file.js";
import { tokenizerFromGguf } from "../src/tokenizer/gguf.js";
import { ggufTokenizerMetadata, readHfTokenizerSource } from "../src/tokenizer/gguf-write.js";
import type { GgufValue } from "../src/formats/gguf-types.js";
import { gv } from "../src/formats/gguf-write.js";
import { EMBEDDED_MODEL } from "./helpers/paths.js";
import { T } from "./helpers/spm-vocab.js";

/** A small valid gpt2 vocabulary: bytes a b c, "ab", "abc", a control token. */
function gpt2(): Map<string, GgufValue> {
  return new Map<string, GgufValue>([
    ["tokenizer.ggml.model", gv.str("gpt2")],
    ["tokenizer.ggml.pre", gv.str("gpt-2")],
    ["tokenizer.ggml.tokens", gv.arr("string", ["<eos>", "a", "b", "c", "ab", "abc"])],
    ["tokenizer.ggml.token_type", gv.arr("i32", Int32Array.from([T.CONTROL, 1, 1, 1, 1, 1]))],
    ["tokenizer.ggml.merges", gv.arr("string", ["a b", "ab c"])],
    ["tokenizer.ggml.eos_token_id", gv.u32(0)],
  ]);
}

function spm(): Map<string, GgufValue> {
  return new Map<string, GgufValue>([
    ["tokenizer.ggml.model", gv.str("llama")],
    ["tokenizer.ggml.tokens", gv.arr("string", ["<unk>", "<s>", "</s>", "<0x41>", "\u2581", "a"])],
    ["tokenizer.ggml.scores", gv.arr("f32", Float32Array.from([0, 0, 0, 0, -1, -1]))],
    ["tokenizer.ggml.token_type", gv.arr("i32", Int32Array.from([T.UNKNOWN, T.CONTROL, T.CONTROL, T.BYTE, 1, 1]))],
  ]);
}

function load(meta: Map<string, GgufValue>): ReturnType<typeof tokenizerFromGguf> {
  return tokenizerFromGguf(new GgufFile("bad.gguf", 3, meta, new Map(), 32, 0, 0));
}

function rejects(meta: Map<string, GgufValue>, msg: RegExp): void {
  assert.throws(() => load(meta), (e: unknown) => {
    assert.ok(e instanceof TokenizerError, `expected a TokenizerError, got ${String(e)}`);
    assert.match(e.message, /^bad\.gguf: /);
    assert.match(e.message, msg);
    return true;
  });
}

const edit = (base: Map<string, GgufValue>, key: string, v: GgufValue | null): Map<string, GgufValue> => {
  const m = new Map(base);
  if (v === null) m.delete(key);
  else m.set(key, v);
  return m;
};

test("the valid bases load (so each rejection below is about its one change)", () => {
  const g = load(gpt2());
  assert.deepEqual(g.encode("abc"), [5]);
  assert.deepEqual(g.encode("cab"), [3, 4]);
  assert.deepEqual(g.encode("<eos>ba"), [0, 2, 1]);
  assert.equal(g.eosTokenId, 0);
  assert.deepEqual(load(spm()).encode("aA"), [4, 5, 3]);
});

test("model: missing, unknown, or of the wrong type", () => {
  rejects(edit(gpt2(), "tokenizer.ggml.model", null), /no tokenizer: metadata key "tokenizer\.ggml\.model" is missing/);
  rejects(edit(gpt2(), "tokenizer.ggml.model", gv.str("bert")), /unsupported tokenizer model .* "bert" \(supported: gpt2, llama\)/);
  rejects(edit(spm(), "tokenizer.ggml.model", gv.str("t5")), /unsupported tokenizer model/);
  rejects(edit(gpt2(), "tokenizer.ggml.model", gv.u32(2)), /"tokenizer\.ggml\.model" has type u32, expected string/);
});

test("tokens: missing, empty, not strings, duplicated", () => {
  rejects(edit(gpt2(), "tokenizer.ggml.tokens", null), /"tokenizer\.ggml\.tokens" is missing/);
  rejects(edit(spm(), "tokenizer.ggml.tokens", gv.arr("string", [])), /"tokenizer\.ggml\.tokens" is empty/);
  rejects(edit(spm(), "tokenizer.ggml.tokens", gv.arr("i32", new Int32Array(6))), /has type array of i32, expected array of string/);
  rejects(edit(spm(), "tokenizer.ggml.tokens", gv.arr("string", ["<unk>", "<s>", "</s>", "<0x41>", "a", "a"])), /tokens 4 and 5 are both "a"/);
});

test("token types and scores: length mismatch, unknown type, wrong item type, bad BYTE token", () => {
  rejects(edit(spm(), "tokenizer.ggml.token_type", gv.arr("i32", new Int32Array(5).fill(1))), /"tokenizer\.ggml\.token_type" has 5 entries for 6 tokens/);
  rejects(edit(spm(), "tokenizer.ggml.token_type", gv.arr("i32", Int32Array.from([2, 3, 3, 6, 1, 7]))), /token_type"\[5\] = 7 is not a token type/);
  rejects(edit(spm(), "tokenizer.ggml.token_type", gv.arr("u8", new Uint8Array(6).fill(1))), /array of u8, expected array of i32/);
  rejects(edit(spm(), "tokenizer.ggml.scores", gv.arr("f32", new Float32Array(7))), /"tokenizer\.ggml\.scores" has 7 entries for 6 tokens/);
  rejects(edit(spm(), "tokenizer.ggml.token_type", gv.arr("i32", Int32Array.from([2, 3, 3, 6, 1, 6]))), /token 5 "a" has type BYTE but is not of the form <0xNN>/);
});

test("special ids out of range or of the wrong type; add_bos_token without a BOS token", () => {
  rejects(edit(gpt2(), "tokenizer.ggml.bos_token_id", gv.u32(6)), /"tokenizer\.ggml\.bos_token_id" = 6 is not a token id \(6 tokens\)/);
  rejects(edit(spm(), "tokenizer.ggml.unknown_token_id", gv.i32(-1)), /unknown_token_id" = -1 is not a token id/);
  rejects(edit(spm(), "tokenizer.ggml.eos_token_id", gv.str("2")), /eos_token_id" has type string, expected an integer/);
  rejects(edit(gpt2(), "tokenizer.ggml.add_bos_token", gv.bool(true)), /addBosToken is set but there is no BOS token/);
  rejects(edit(gpt2(), "tokenizer.ggml.add_eos_token", gv.u8(1)), /add_eos_token" has type u8, expected bool/);
});

test("gpt2: merges missing or referring to unknown tokens, unknown pre-tokenizer", () => {
  rejects(edit(gpt2(), "tokenizer.ggml.merges", null), /"tokenizer\.ggml\.merges" is missing \(required for gpt2\)/);
  rejects(edit(gpt2(), "tokenizer.ggml.merges", gv.arr("string", ["a b", "ab x"])), /merges\[1\] "ab x" refers to "x", which is not a token/);
  rejects(edit(gpt2(), "tokenizer.ggml.merges", gv.arr("string", ["a c"])), /merges\[0\] "a c" merges into "ac", which is not a token/);
  rejects(edit(gpt2(), "tokenizer.ggml.merges", gv.arr("string", ["ab"])), /merges\[0\] "ab" is not two tokens separated by a space/);
  rejects(edit(gpt2(), "tokenizer.ggml.pre", gv.str("chatglm-bpe")), /unsupported tokenizer\.ggml\.pre "chatglm-bpe" \(supported: default, gpt-2, llama-bpe/);
});

test("writing: tokenizers llama.cpp's gpt2 model cannot reproduce are refused", () => {
  const src = readHfTokenizerSource(EMBEDDED_MODEL);
  const tj = src.tokenizerJson as Record<string, unknown>;
  const model = tj.model as Record<string, unknown>;
  const variant = (change: Record<string, unknown>, modelChange: Record<string, unknown> = {}): typeof src =>
    ({ ...src, tokenizerJson: { ...tj, ...change, model: { ...model, ...modelChange } } });
  const refuses = (s: typeof src, msg: RegExp): void => {
    assert.throws(() => ggufTokenizerMetadata(s), (e: unknown) => e instanceof TokenizerError && msg.test(e.message));
  };
  refuses(variant({}, { type: "Unigram" }), /model type "Unigram" \(only byte-level BPE\)/);
  refuses(variant({}, { byte_fallback: true }), /unsupported BPE options/);
  refuses(variant({ normalizer: { type: "NFC" } }), /unsupported normalizer/);
  refuses(variant({ pre_tokenizer: { type: "Metaspace", replacement: "\u2581" } }), /unsupported pre-tokenizer for GGUF: \{"type":"Metaspace"/);
  refuses(variant({ pre_tokenizer: { type: "ByteLevel", add_prefix_space: true } }), /unsupported pre-tokenizer/);
  refuses(variant({ decoder: { type: "Metaspace" } }), /unsupported decoder/);
  refuses(variant({ added_tokens: [{ id: 0, content: "<|endoftext|>", lstrip: true, special: true }] }), /lstrip/);
  refuses(variant({}, { merges: [["Ġ", "zzz-not-a-token"]] }), /merge 0 .* "zzz-not-a-token" is not a token/);
  refuses(variant({ added_tokens: [{ id: 0, content: "<other>", special: true }] }), /id 0 is both/);
  assert.throws(() => ggufTokenizerMetadata(EMBEDDED_MODEL, { vocabSize: 100 }), /vocab_size 100 is smaller than the 16384 token ids/);
  assert.throws(() => ggufTokenizerMetadata(path.join(EMBEDDED_MODEL, "nope")), /tokenizer file not found/);
});
