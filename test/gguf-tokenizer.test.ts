/**
 * GGUF `gpt2` tokenizers: metadata written from models/tinycode-7m's
 * tokenizer.json, read back into a Tokenizer, checked against the Hugging Face
 * tokenizer (the same ids) and against llama.cpp reading the same file.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ggufTokenizerMetadata, readHfTokenizerSource } from "../src/tokenizer/gguf-write.js";
import { BPE_PRE_TOKENIZERS } from "../src/tokenizer/gguf-bpe.js";
import { gv } from "../src/formats/gguf-write.js";
import { StreamDecoder, Tokenizer } from "../src/tokenizer.js";
import { getOracle, oracleUnavailable, tokenizerOfFile, writeVocabGguf } from "./helpers/llama-oracle.js";
import { EMBEDDED_MODEL, SKIP_NO_SHARED } from "./helpers/paths.js";
import { TRICKY, heldoutTexts, humanEvalPrompts, referencePrompts, repoSources, wellFormed } from "./helpers/texts.js";

let dir: string;
let file: string;
let hf: Tokenizer;
let gg: Tokenizer;
const shipped = (): string[] => [...TRICKY, ...referencePrompts().map((p) => p.prompt), ...humanEvalPrompts(), ...repoSources()];

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-ggtok-"));
  file = path.join(dir, "tinycode-vocab.gguf");
  writeVocabGguf(file, ggufTokenizerMetadata(EMBEDDED_MODEL));
  hf = Tokenizer.load(EMBEDDED_MODEL);
  gg = tokenizerOfFile(file);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** gg's ids of each text already checked to decode back to it (the long comparisons share them). */
const checked = new Map<string, number[]>();

/** Every text encodes to the same ids with both tokenizers and decodes back to itself; returns the token count. */
function sameIds(a: Tokenizer, b: Tokenizer | ((t: string) => number[]), texts: string[], what: string): number {
  let n = 0;
  for (const [i, t] of texts.entries()) {
    let ids = a === gg ? checked.get(t) : undefined;
    if (!ids) {
      ids = a.encode(t);
      assert.equal(a.decode(ids), wellFormed(t), `${what} text ${i}: decode(encode(x)) != x`);
      if (a === gg) checked.set(t, ids);
    }
    const ref = typeof b === "function" ? b(t) : b.encode(t);
    assert.deepEqual(ids, ref, `${what} text ${i} ${JSON.stringify(t.slice(0, 60))}`);
    n += ids.length;
  }
  return n;
}

test("metadata written for tinycode-7m: gpt2, gpt-2 pre-tokenizer, types, merges, special ids", () => {
  const meta = new Map(ggufTokenizerMetadata(readHfTokenizerSource(EMBEDDED_MODEL)));
  assert.deepEqual([...meta.keys()], [
    "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
    "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
  ]);
  assert.deepEqual(meta.get("tokenizer.ggml.model"), gv.str("gpt2"));
  assert.deepEqual(meta.get("tokenizer.ggml.pre"), gv.str("gpt-2"));
  const tokens = meta.get("tokenizer.ggml.tokens")!.value as { items: string[] };
  assert.equal(tokens.items.length, 16384);
  assert.deepEqual(tokens.items.slice(0, 5), ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<pad>"]);
  const types = (meta.get("tokenizer.ggml.token_type")!.value as { items: Int32Array }).items;
  assert.deepEqual(Array.from(types.slice(0, 6)), [3, 3, 3, 3, 3, 1]);
  assert.equal(types.filter((t) => t !== 1).length, 5);
  const merges = (meta.get("tokenizer.ggml.merges")!.value as { items: string[] }).items;
  assert.equal(merges.length, 16123);
  assert.deepEqual(merges.slice(0, 3), ["Ġ Ġ", "ĠĠ ĠĠ", "ĠĠ Ġ"]);
  assert.deepEqual(meta.get("tokenizer.ggml.bos_token_id"), gv.u32(0));
  assert.deepEqual(meta.get("tokenizer.ggml.unknown_token_id"), gv.u32(0));
  assert.deepEqual(meta.get("tokenizer.ggml.padding_token_id"), gv.u32(4));
  assert.deepEqual(meta.get("tokenizer.ggml.add_bos_token"), gv.bool(false));
});

test("read back: vocabulary, special ids, flags", () => {
  assert.equal(gg.vocabSize, 16384);
  assert.deepEqual([gg.bosTokenId, gg.eosTokenId, gg.unkTokenId, gg.padTokenId], [0, 0, 0, 4]);
  assert.equal(gg.addBosToken, false);
  assert.equal(gg.addEosToken, false);
  assert.equal(gg.chatTemplate, null);
  for (const id of [0, 4, 100, 16383]) assert.equal(gg.idToToken(id), hf.idToToken(id));
  assert.equal(gg.tokenToId("<fim_middle>"), 2);
  assert.deepEqual(gg.encode("x", { addSpecialTokens: true }), hf.encode("x"));
  assert.equal(gg.decode([...gg.encode("a = 1"), 0]), "a = 1<|endoftext|>");
  assert.equal(gg.decode([...gg.encode("a = 1"), 0], { skipSpecialTokens: true }), "a = 1");
});

test("read back: the reference prompts give the reference ids and texts", () => {
  for (const p of referencePrompts()) {
    assert.deepEqual(gg.encode(p.prompt), p.input_ids, p.prompt);
    assert.equal(gg.decode(p.greedy_ids), p.greedy_text);
    const sd = new StreamDecoder(gg);
    assert.equal(p.greedy_ids.map((id) => sd.push(id)).join("") + sd.flush(), p.greedy_text);
  }
});

test("read back: same ids as the Hugging Face tokenizer on shipped texts (HumanEval prompts, lowbit's sources)", () => {
  const n = sameIds(gg, hf, shipped(), "shipped");
  assert.ok(n > 50_000, `only ${n} tokens compared`);
});

test("read back: same ids as the Hugging Face tokenizer on python-heldout-test", (t) => {
  const texts = heldoutTexts();
  if (!texts) return t.skip(SKIP_NO_SHARED);
  const n = sameIds(gg, hf, texts, "heldout");
  t.diagnostic(`${texts.length} files, ${n} tokens`);
});

test("llama.cpp reads the same file to the same ids (shipped texts, and held-out files when present)", async (t) => {
  const oracle = await getOracle();
  if (!oracle) return t.skip(oracleUnavailable());
  const ref = await oracle.load(file);
  try {
    const texts = [...shipped(), ...(heldoutTexts() ?? [])];
    const n = sameIds(gg, ref.tokenize, texts, "llama.cpp");
    t.diagnostic(`${texts.length} texts, ${n} tokens${heldoutTexts() ? "" : " (held-out files absent)"}`);
  } finally {
    await ref.dispose();
  }
});

test("tokenizer.ggml.pre variants tokenize as llama.cpp does, and differently from each other", async (t) => {
  const oracle = await getOracle();
  const base = ggufTokenizerMetadata(EMBEDDED_MODEL);
  const probe = "x = 12345 IT'S <=>  ¿qué?\n\n  y";
  const seen = new Map<string, string>();
  for (const pre of ["gpt-2", "default", "llama-bpe", "starcoder", "refact"]) {
    const p = path.join(dir, `pre-${pre}.gguf`);
    writeVocabGguf(p, base.map(([k, v]) => (k === "tokenizer.ggml.pre" ? [k, gv.str(pre)] : [k, v])));
    const tok = tokenizerOfFile(p);
    seen.set(pre, JSON.stringify(tok.encode(probe)));
    if (!oracle) continue;
    const ref = await oracle.load(p);
    try {
      sameIds(tok, ref.tokenize, [probe, ...TRICKY, ...humanEvalPrompts().slice(0, 40), ...repoSources().slice(0, 10)], pre);
    } finally {
      await ref.dispose();
    }
  }
  assert.equal(seen.get("starcoder"), seen.get("refact"));
  assert.equal(new Set(seen.values()).size, 4, `pre-tokenizers should differ on ${JSON.stringify(probe)}: ${[...seen.values()].join(" ")}`);
  if (!oracle) t.diagnostic(`llama.cpp part skipped: ${oracleUnavailable()}`);
});

test("every tokenizer.ggml.pre lowbit knows tokenizes as llama.cpp does", async (t) => {
  const oracle = await getOracle();
  if (!oracle) return t.skip(oracleUnavailable());
  const base = ggufTokenizerMetadata(EMBEDDED_MODEL);
  const texts = ["x = 12345 IT'S <=>  ¿qué?\n\n  y", "CamelCase HTTPServer iPhone 你好世界 안녕 123456789", ...TRICKY,
    ...humanEvalPrompts().slice(0, 20), ...repoSources().slice(0, 4)];
  let n = 0;
  for (const pre of BPE_PRE_TOKENIZERS.keys()) {
    const p = path.join(dir, `all-pre-${pre}.gguf`);
    writeVocabGguf(p, base.map(([k, v]) => (k === "tokenizer.ggml.pre" ? [k, gv.str(pre)] : [k, v])));
    const tok = tokenizerOfFile(p);
    const ref = await oracle.load(p);
    try {
      n += sameIds(tok, ref.tokenize, texts, pre);
    } finally {
      await ref.dispose();
    }
  }
  t.diagnostic(`${BPE_PRE_TOKENIZERS.size} pre-tokenizers, ${n} tokens`);
});

test("flags and chat template round trip; a larger vocab_size pads with unused tokens", () => {
  const src = readHfTokenizerSource(EMBEDDED_MODEL);
  const tpl = "{% for m in messages %}{{ m.content }}<|endoftext|>{% endfor %}";
  const entries = ggufTokenizerMetadata(
    { ...src, tokenizerConfig: { ...src.tokenizerConfig, add_bos_token: true, chat_template: tpl } },
    { vocabSize: 16400 },
  );
  const p = path.join(dir, "flags.gguf");
  writeVocabGguf(p, entries);
  const tok = tokenizerOfFile(p);
  assert.equal(tok.chatTemplate, tpl);
  assert.equal(tok.addBosToken, true);
  assert.deepEqual(tok.encode("def", { addSpecialTokens: true }), [0, ...hf.encode("def")]);
  assert.equal(tok.vocabSize, 16400);
  assert.equal(tok.idToToken(16399), "[PAD16399]");
  assert.equal(tok.decode([16399, ...hf.encode("ok"), 16390]), "ok", "UNUSED padding tokens decode to nothing");
  assert.deepEqual(tok.encode("[PAD16399]"), hf.encode("[PAD16399]"));
  // without add_bos_token in the file, the llama-3 pre-tokenizer defaults to adding BOS, as llama.cpp does
  const noFlag = entries.filter(([k]) => k !== "tokenizer.ggml.add_bos_token").map(([k, v]) =>
    (k === "tokenizer.ggml.pre" ? [k, gv.str("llama-bpe")] : [k, v]) as [string, typeof v]);
  writeVocabGguf(p, noFlag);
  assert.equal(tokenizerOfFile(p).addBosToken, true);
  writeVocabGguf(p, noFlag.map(([k, v]) => (k === "tokenizer.ggml.pre" ? [k, gv.str("gpt-2")] : [k, v])));
  assert.equal(tokenizerOfFile(p).addBosToken, false);
});

test("overlapping special tokens go to the longer one, as in llama.cpp", async (t) => {
  const entries = ggufTokenizerMetadata(EMBEDDED_MODEL).map(([k, v]) => {
    if (k === "tokenizer.ggml.tokens") return [k, gv.arr("string", [...(v.value as { items: string[] }).items, "<|ab", "ab|>>"])];
    if (k === "tokenizer.ggml.token_type") return [k, gv.arr("i32", Int32Array.from([...(v.value as { items: Int32Array }).items, 3, 4]))];
    return [k, v];
  }) as [string, ReturnType<typeof gv.str>][];
  const p = path.join(dir, "overlap.gguf");
  writeVocabGguf(p, entries);
  const tok = tokenizerOfFile(p);
  const [s1, s2] = [16384, 16385];
  assert.deepEqual(tok.encode("<|ab|>>"), [...hf.encode("<|"), s2]);
  assert.deepEqual(tok.encode("<|ab|>"), [s1, ...hf.encode("|>")]);
  assert.equal(tok.decode(tok.encode("x<|ab|>>y<|ab")), "x<|ab|>>y<|ab");
  assert.equal(tok.decode(tok.encode("x<|ab|>>y<|ab"), { skipSpecialTokens: true }), "x<|ab|>>y", "USER_DEFINED kept, CONTROL skipped");
  const oracle = await getOracle();
  if (!oracle) return t.skip(oracleUnavailable());
  const ref = await oracle.load(p);
  try {
    sameIds(tok, ref.tokenize, ["<|ab|>>", "<|ab|>", "x<|ab|>>y and <|ab and ab|>> <|ab|>><|ab", "ab|>><|ab|>>ab|>"], "overlap");
  } finally {
    await ref.dispose();
  }
});
