/**
 * Issue 16 item 3: tokenizer.json ids are checked against the model's
 * vocabulary before @huggingface/tokenizers sees them, and what the library
 * throws is a TokenizerError. (On b276a23 an added-token id of 2^31 - 1 or a
 * vocab id of 1e9 spent about 8 minutes in get_vocab(); a numeric
 * post_processor.single threw a bare TypeError.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { TokenizerError } from "../src/errors.js";
import { ggufField, setGgufField } from "../src/fuzz/gguf-fields.js";
import { embeddedGguf, embeddedJson } from "../src/fuzz/model-files.js";
import { Tokenizer } from "../src/tokenizer.js";
import { hostileModel, loadRejects, scratch } from "./helpers/hostile.js";

type Tj = { added_tokens: { id: unknown }[]; model: { vocab: Record<string, unknown> }; post_processor: Record<string, unknown> };

function withTokenizer(edit: (t: Tj) => void): string {
  const t = embeddedJson("tokenizer.json") as unknown as Tj;
  edit(t);
  return hostileModel({ "tokenizer.json": JSON.stringify(t) });
}

test("an added-token id of 2^31 - 1 is a TokenizerError", { timeout: 30_000 }, async () => {
  const dir = withTokenizer((t) => (t.added_tokens[4]!.id = 2147483647));
  await loadRejects(dir, TokenizerError, /added_tokens\[4\] has id 2147483647, not an integer in \[0, 16384\)/);
});

test("a vocab id of 1e9 is a TokenizerError", { timeout: 30_000 }, async () => {
  const dir = withTokenizer((t) => (t.model.vocab["def"] = 1e9));
  await loadRejects(dir, TokenizerError, /model\.vocab token "def" has id 1000000000, not an integer in \[0, 16384\)/);
});

test("ids that are not integers, negative or past the model's vocabulary are TokenizerErrors", { timeout: 30_000 }, () => {
  const cases: [(t: Tj) => void, RegExp][] = [
    [(t) => (t.added_tokens[0]!.id = -1), /added_tokens\[0\] has id -1/],
    [(t) => (t.added_tokens[1]!.id = 1.5), /added_tokens\[1\] has id 1\.5/],
    [(t) => (t.added_tokens[2]!.id = "7"), /added_tokens\[2\] has id 7/],
    [(t) => (t.model.vocab["def"] = 16384), /model\.vocab token "def" has id 16384/],
  ];
  for (const [edit, re] of cases) {
    const t = embeddedJson("tokenizer.json") as unknown as Tj;
    edit(t);
    assert.throws(() => Tokenizer.fromJSON(t, {}, undefined, { vocabSize: 16384 }), (e: unknown) => e instanceof TokenizerError && re.test(e.message), String(re));
  }
  // the real tokenizer fits its model's vocabulary exactly
  assert.equal(Tokenizer.fromJSON(embeddedJson("tokenizer.json"), {}, undefined, { vocabSize: 16384 }).vocabSize, 16384);
});

test("a numeric post_processor.single is a TokenizerError, not a TypeError", { timeout: 30_000 }, async () => {
  const dir = withTokenizer((t) => (t.post_processor = { type: "TemplateProcessing", single: 5, pair: 5, special_tokens: {} }));
  await loadRejects(dir, TokenizerError, /tokenizer\.json: encode: type is not iterable/);
});

test("a tokenizer.json whose model.vocab is not a token -> id map is a TokenizerError", { timeout: 30_000 }, async () => {
  // found by the mutation fuzzer (tokenizer #15, seed 1): it loaded with only the 5 added tokens
  // and failed at the first prompt with an InvalidOptionError (the prompt encoded to no ids)
  // (#214 and #323, seed 3: a list in a BPE model, and {})
  for (const vocab of [0.5, {}, [{ SpecialToken: { id: "nope", type_id: 0 } }]]) {
    const dir = withTokenizer((t) => ((t.model as { vocab: unknown }).vocab = vocab));
    await loadRejects(dir, TokenizerError, /model\.vocab is missing, empty or not a token -> id map/);
  }
});

test("a GGUF whose tokenizer has more tokens than the model's vocabulary is a TokenizerError", { timeout: 30_000 }, async () => {
  const dir = scratch("tok-gguf");
  const buf = fs.readFileSync(embeddedGguf(path.join(dir, "base.gguf"), "q8_0"));
  setGgufField(buf, ggufField(buf, "value", "llama.vocab_size"), 100n);
  fs.writeFileSync(path.join(dir, "small-vocab.gguf"), buf);
  await loadRejects(path.join(dir, "small-vocab.gguf"), TokenizerError, /the tokenizer has 16384 tokens, more than the model's vocabulary of 100/);
});

test("a tokenizer that encodes text to no ids is a TokenizerError", { timeout: 30_000 }, async () => {
  // found by the mutation fuzzer (tokenizer #71, seed 4): a post_processor.single of [] dropped the text,
  // so the model loaded and every prompt failed with an InvalidOptionError
  const dir = withTokenizer((t) => (t.post_processor = { type: "TemplateProcessing", single: [], pair: [], special_tokens: {} }));
  await loadRejects(dir, TokenizerError, /encodes the text "a" to no ids/);
});
