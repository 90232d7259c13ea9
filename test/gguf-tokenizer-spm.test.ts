/**
 * GGUF `llama` (SentencePiece-style) tokenizers: exact ids on hand-made
 * vocabularies (merge order by score, ties, byte fallback, special tokens,
 * the space prefix), and a corpus-built vocabulary of ~1,200 pieces compared
 * with llama.cpp reading the same file (ids and decoded text).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GgufFile } from "../src/formats/gguf-file.js";
import { tokenizerFromGguf } from "../src/tokenizer/gguf.js";
import type { GgufValue } from "../src/formats/gguf-types.js";
import { gv } from "../src/formats/gguf-write.js";
import { StreamDecoder, type Tokenizer } from "../src/tokenizer.js";
import { getOracle, oracleUnavailable, tokenizerOfFile, writeVocabGguf } from "./helpers/llama-oracle.js";
import { NOT_IN_VOCAB, T, buildSpmVocab, spmEntries } from "./helpers/spm-vocab.js";
import { TRICKY, heldoutTexts, humanEvalPrompts, wellFormed } from "./helpers/texts.js";

const SPM_TEXTS = [
  "Hello world", "The quick brown fox jumps over the lazy dog.", "  leading and trailing  ", " ", "a", "\n", "\n\n x",
  "multiple    spaces\n\nnewlines\ttabs", "你好 世界 🙂 emoji 👨‍👩‍👧", "¿Dónde está la estación? Mañana. Übung",
  "thinking then there this theththeththe", "def fibonacci(n):\n    return fibonacci(n - 1)\n", "€½\u0000\u0001 zero",
  "Größe Straße 我们 今天 学习 机器 学习",
];
/**
 * Texts that do not round trip: a space is prepended after each special token,
 * and a "▁" in the text decodes to a space.
 */
const NO_ROUND_TRIP = [
  "<s>hello</s> <sep>x<tool>y<unused0>", "<tool>", "<s><s></s>", "a<sep>b <sep> c", "<unk>?", "\u2581already marked \u2581\u2581",
];

/** A tokenizer from in-memory metadata (no file): pieces get ids from 3 on, after <unk> <s> </s>. */
function tiny(pieces: [string, number, number?][], extra: [string, GgufValue][] = []): Tokenizer {
  const tokens = ["<unk>", "<s>", "</s>", ...pieces.map((p) => p[0])];
  const scores = Float32Array.from([0, 0, 0, ...pieces.map((p) => p[1])]);
  const types = Int32Array.from([T.UNKNOWN, T.CONTROL, T.CONTROL, ...pieces.map((p) => p[2] ?? T.NORMAL)]);
  const meta = new Map<string, GgufValue>(spmEntries({ tokens, scores, types }, extra));
  return tokenizerFromGguf(new GgufFile("tiny.gguf", 3, meta, new Map(), 32, 0, 0));
}

const BYTES: [string, number, number][] = Array.from({ length: 256 }, (_, b) => [`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, 0, T.BYTE]);
const NO_PREFIX: [string, GgufValue][] = [["tokenizer.ggml.add_space_prefix", gv.bool(false)]];
const names = (tok: Tokenizer, ids: number[]): (string | undefined)[] => ids.map((id) => tok.idToToken(id));

test("merges go by the score of the merged piece, not left to right", () => {
  const tok = tiny([["a", -10], ["b", -10], ["c", -10], ["ab", -5], ["bc", -1]], NO_PREFIX);
  assert.deepEqual(names(tok, tok.encode("abc")), ["a", "bc"]);
  const tok2 = tiny([["a", -10], ["b", -10], ["c", -10], ["ab", -1], ["bc", -5]], NO_PREFIX);
  assert.deepEqual(names(tok2, tok2.encode("abc")), ["ab", "c"]);
});

test("equal scores: the leftmost pair merges first", () => {
  const tok = tiny([["x", -10], ["y", -10], ["z", -10], ["yz", -2], ["xy", -2]], NO_PREFIX);
  assert.deepEqual(names(tok, tok.encode("xyz")), ["xy", "z"]);
  assert.deepEqual(names(tok, tok.encode("zxyz")), ["z", "xy", "z"]);
});

test("merged pieces keep merging (abcd from ab + cd)", () => {
  const tok = tiny([["a", -9], ["b", -9], ["c", -9], ["d", -9], ["ab", -3], ["cd", -2], ["abcd", -1], ["bc", -2.5]], NO_PREFIX);
  assert.deepEqual(names(tok, tok.encode("abcd")), ["abcd"]);
  assert.deepEqual(names(tok, tok.encode("abcdab")), ["abcd", "ab"]);
});

test("space prefix, ▁, byte fallback, special tokens and decoding", () => {
  const tok = tiny([...BYTES, ["\u2581", -9], ["a", -9], ["\u2581a", -1], ["<sep>", 0, T.CONTROL], ["<x>", 0, T.USER_DEFINED], ["<u>", 0, T.UNUSED]]);
  const id = (s: string): number => tok.tokenToId(s)!;
  assert.deepEqual(tok.encode("a a"), [id("\u2581a"), id("\u2581a")]);
  assert.deepEqual(tok.encode("é"), [id("\u2581"), id("<0xC3>"), id("<0xA9>")]);
  // a space is prepended to the text after a special token, as llama.cpp does
  assert.deepEqual(tok.encode("a<sep>a<x>"), [id("\u2581a"), id("<sep>"), id("\u2581a"), id("<x>")]);
  assert.deepEqual(tok.encode("<s>a"), [1, id("\u2581a")]);
  assert.deepEqual(tok.encode("a", { addSpecialTokens: true }), [1, id("\u2581a")]);
  assert.deepEqual(tok.encode("<u>"), [id("\u2581"), id("<0x3C>"), id("<0x75>"), id("<0x3E>")], "UNUSED tokens are not matched in text");
  assert.equal(tok.decode([id("\u2581a"), id("\u2581a"), id("<0xC3>"), id("<0xA9>")]), "a aé");
  assert.equal(tok.decode([1, id("\u2581a"), id("<sep>"), id("<x>"), id("<u>"), 2]), "<s> a<sep><x></s>");
  assert.equal(tok.decode([1, id("\u2581a"), id("<sep>"), id("<x>"), 2], { skipSpecialTokens: true }), "a<x>");
  assert.equal(tok.decode([id("<0xC3>")]), "\uFFFD");
  const sd = new StreamDecoder(tok);
  const ids = tok.encode("é a é");
  const chunks = ids.map((i) => sd.push(i));
  chunks.push(sd.flush());
  assert.equal(chunks.join(""), "é a é");
  assert.ok(!chunks.some((c) => c.includes("\uFFFD")));
});

test("add_space_prefix false; missing byte tokens fall back to <unk>", () => {
  const tok = tiny([["\u2581", -9], ["a", -9], ["\u2581a", -1]], NO_PREFIX);
  assert.deepEqual(names(tok, tok.encode("a a")), ["a", "\u2581a"]);
  assert.deepEqual(names(tok, tok.encode("é")), ["<unk>", "<unk>"]);
  assert.equal(tok.decode(tok.encode(" a")), " a");
});

test("llama.cpp's defaults when the file has only the vocabulary: BOS 1, EOS 2, UNK 0, add BOS, space prefix", () => {
  const v = buildSpmVocab();
  const tok = tokenizerFromGguf(new GgufFile("min.gguf", 3, new Map(spmEntries(v, [], true)), new Map(), 32, 0, 0));
  assert.deepEqual([tok.bosTokenId, tok.eosTokenId, tok.unkTokenId, tok.padTokenId], [1, 2, 0, null]);
  assert.equal(tok.addBosToken, true);
  assert.equal(tok.addEosToken, false);
  assert.equal(tok.encode("hi", { addSpecialTokens: true })[0], 1);
  assert.equal(tok.idToToken(tok.encode("hi")[0]!)!.startsWith("\u2581"), true);
});

let dir: string;
before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-ggspm-")); });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test("a corpus-built SPM vocabulary: the same ids and text as llama.cpp", async (t) => {
  const v = buildSpmVocab();
  assert.ok(v.tokens.length > 1000, `vocab of ${v.tokens.length}`);
  for (const c of NOT_IN_VOCAB) assert.ok(!v.tokens.includes(c));
  const oracle = await getOracle();
  if (!oracle) return t.skip(oracleUnavailable());
  const heldout = heldoutTexts();
  const plain = [...SPM_TEXTS, ...TRICKY, ...humanEvalPrompts(), ...(heldout ?? []).slice(0, 30)];
  let tokens = 0;
  for (const [name, extra] of [["space prefix", []], ["no space prefix", NO_PREFIX]] as const) {
    const file = path.join(dir, `spm-${name.replaceAll(" ", "-")}.gguf`);
    writeVocabGguf(file, spmEntries(v, [...extra]));
    const tok = tokenizerOfFile(file);
    const ref = await oracle.load(file);
    try {
      for (const [i, text] of [...plain, ...NO_ROUND_TRIP].entries()) {
        const ids = tok.encode(text);
        tokens += ids.length;
        assert.deepEqual(ids, ref.tokenize(text), `${name}: text ${i} ${JSON.stringify(text.slice(0, 60))}`);
        assert.equal(tok.decode(ids), ref.detokenize(ids), `${name}: decoding text ${i}`);
        if (i < plain.length) assert.equal(tok.decode(ids), wellFormed(text), `${name}: decode(encode(x)) != x for text ${i}`);
      }
    } finally {
      await ref.dispose();
    }
  }
  t.diagnostic(`${plain.length + NO_ROUND_TRIP.length} texts twice, ${tokens} tokens${heldout ? "" : " (held-out files absent)"}`);
});
