/** Tests for Tokenizer (against HF reference ids/text) and StreamDecoder. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { StreamDecoder, Tokenizer } from "../src/tokenizer.js";
import { ModelNotFoundError, TokenizerError } from "../src/errors.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MODEL_7M = path.join(ROOT, "models/tinycode-7m");
const MODEL_100M = "/work/shared/models/tinycode-100m";
const FFFD = "\uFFFD";
const MULTIBYTE = "héllo 你好 🙂 naïve — ∑ 𝔘 👨‍👩‍👧 ok";

interface RefPrompt { prompt: string; input_ids: number[]; greedy_ids: number[]; greedy_text: string }

function readRef(dir: string): RefPrompt[] {
  return (JSON.parse(fs.readFileSync(path.join(dir, "reference.json"), "utf8")) as { prompts: RefPrompt[] }).prompts;
}

/** Stream ids through a StreamDecoder; returns the chunks (flush output last). */
function stream(tok: Tokenizer, ids: number[], skipSpecialTokens = false): string[] {
  const sd = new StreamDecoder(tok, { skipSpecialTokens });
  const chunks = ids.map((id) => sd.push(id));
  chunks.push(sd.flush());
  return chunks;
}

function checkModel(dir: string): void {
  const tok = Tokenizer.load(dir);
  const prompts = readRef(dir);
  assert.ok(prompts.length > 0);
  for (const p of prompts) {
    assert.deepEqual(tok.encode(p.prompt), p.input_ids, `encode(${JSON.stringify(p.prompt)})`);
    assert.equal(tok.decode(p.greedy_ids), p.greedy_text, `decode greedy_ids of ${JSON.stringify(p.prompt)}`);
    assert.equal(stream(tok, p.greedy_ids).join(""), p.greedy_text, "streamed greedy_ids");
    assert.equal(stream(tok, [...p.input_ids, ...p.greedy_ids]).join(""), tok.decode([...p.input_ids, ...p.greedy_ids]));
  }
}

test("tinycode-7m: encode/decode match the HF reference", () => {
  checkModel(MODEL_7M);
});

test("tinycode-100m: encode/decode match the HF reference", (t) => {
  if (!fs.existsSync(path.join(MODEL_100M, "reference.json"))) {
    t.skip(`${MODEL_100M}/reference.json not present`);
    return;
  }
  checkModel(MODEL_100M);
});

test("metadata: vocab size, special tokens, tokenToId", () => {
  const tok = Tokenizer.load(MODEL_7M);
  assert.equal(tok.vocabSize, 16384);
  assert.equal(tok.eosTokenId, 0);
  assert.equal(tok.bosTokenId, 0);
  assert.equal(tok.tokenToId("<|endoftext|>"), 0);
  assert.equal(tok.tokenToId("definitely-not-a-token-xyz"), undefined);
  assert.deepEqual(tok.encode(""), []);
  assert.equal(tok.decode([]), "");
  assert.throws(() => tok.decode([tok.vocabSize]), TokenizerError);
});

test("decode: special tokens kept or skipped", () => {
  const tok = Tokenizer.load(MODEL_7M);
  const ids = [...tok.encode("a = 1"), 0];
  assert.equal(tok.decode(ids), "a = 1<|endoftext|>");
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), "a = 1");
  assert.equal(stream(tok, ids, true).join(""), "a = 1");
  assert.equal(stream(tok, [0, ...ids, 0, 0]).join(""), tok.decode([0, ...ids, 0, 0]));
});

test("fromJSON works without tokenizer_config (no eos/bos)", () => {
  const json = JSON.parse(fs.readFileSync(path.join(MODEL_7M, "tokenizer.json"), "utf8")) as object;
  const tok = Tokenizer.fromJSON(json);
  assert.deepEqual(tok.encode("def f(x):"), Tokenizer.load(MODEL_7M).encode("def f(x):"));
  assert.equal(tok.eosTokenId, null);
  assert.equal(tok.bosTokenId, null);
});

test("multi-byte characters really span several tokens", () => {
  const tok = Tokenizer.load(MODEL_7M);
  const ids = tok.encode("🙂");
  assert.ok(ids.length > 1, `expected 🙂 to need several byte tokens, got ${ids.length}`);
  assert.ok(ids.some((id) => tok.decode([id]).includes(FFFD)), "some single id should decode to U+FFFD");
  assert.equal(tok.decode(ids), "🙂");
});

test("StreamDecoder never emits a broken character and concatenates back exactly", () => {
  const tok = Tokenizer.load(MODEL_7M);
  const ids = tok.encode(MULTIBYTE);
  assert.equal(tok.decode(ids), MULTIBYTE);
  const chunks = stream(tok, ids);
  for (const c of chunks) assert.ok(!c.includes(FFFD), `chunk ${JSON.stringify(c)} contains U+FFFD`);
  assert.equal(chunks.join(""), MULTIBYTE);
  // naive per-token decoding would break characters: the test above is meaningful
  assert.ok(ids.map((id) => tok.decode([id])).join("").includes(FFFD));
  // text arrives as it completes, not all at the end
  assert.ok(chunks.filter((c) => c.length > 0).length > 5);
});

test("StreamDecoder: genuinely invalid UTF-8 is still released and matches decode()", () => {
  const tok = Tokenizer.load(MODEL_7M);
  const [lead, cont1, cont2] = tok.encode("你"); // bytes E4, BD, A0 as separate tokens
  const head = [lead, ...tok.encode(" x"), cont1, cont1, ...tok.encode("ab"), cont2, lead];
  const run: number[] = []; // 40 broken bytes: the window would end in U+FFFD forever
  for (let i = 0; i < 40; i++) run.push(i % 2 === 0 ? lead : [cont1, cont2][(i >> 1) % 2]); // E4 BD E4 A0 ...
  const tail = [...tok.encode(" end"), lead, cont1, cont2];
  const sd = new StreamDecoder(tok);
  const chunks: string[] = [];
  for (const id of head) chunks.push(sd.push(id));
  const before = chunks.join("").length;
  for (const id of run) chunks.push(sd.push(id));
  const during = chunks.join("").length - before;
  assert.ok(during >= 10, `only ${during} chars released during 40 invalid bytes`);
  for (const id of tail) chunks.push(sd.push(id));
  chunks.push(sd.flush());
  const all = [...head, ...run, ...tail];
  assert.equal(chunks.join(""), tok.decode(all));
  assert.ok(tok.decode(all).endsWith(" end你"));
});

test("StreamDecoder on random id sequences matches decode()", () => {
  const tok = Tokenizer.load(MODEL_7M);
  let s = 12345;
  const rnd = (n: number): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) % n;
  const byteIds = tok.encode("你好🙂é"); // many partial-UTF-8 tokens
  for (let trial = 0; trial < 30; trial++) {
    const ids: number[] = [];
    for (let i = 0; i < 40; i++) ids.push(rnd(3) === 0 ? byteIds[rnd(byteIds.length)] : rnd(tok.vocabSize));
    assert.equal(stream(tok, ids).join(""), tok.decode(ids), `trial ${trial}`);
  }
});

test("load: missing tokenizer.json -> ModelNotFoundError, garbage -> TokenizerError", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-tok-"));
  try {
    assert.throws(() => Tokenizer.load(dir), ModelNotFoundError);
    assert.throws(() => Tokenizer.load(path.join(dir, "nope")), ModelNotFoundError);
    fs.writeFileSync(path.join(dir, "tokenizer.json"), "{ this is not json");
    assert.throws(() => Tokenizer.load(dir), TokenizerError);
    fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify({ hello: "world" }));
    assert.throws(() => Tokenizer.load(dir), TokenizerError);
    fs.writeFileSync(path.join(dir, "tokenizer.json"), "[1, 2, 3]");
    assert.throws(() => Tokenizer.load(dir), TokenizerError);
    fs.copyFileSync(path.join(MODEL_7M, "tokenizer.json"), path.join(dir, "tokenizer.json"));
    fs.writeFileSync(path.join(dir, "tokenizer_config.json"), "not json");
    assert.throws(() => Tokenizer.load(dir), TokenizerError);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("special ids, add-BOS/EOS flags and chat template of HF directories", () => {
  const tok = Tokenizer.load(MODEL_7M);
  assert.deepEqual([tok.unkTokenId, tok.padTokenId, tok.addBosToken, tok.addEosToken, tok.chatTemplate], [0, 4, false, false, null]);
  assert.deepEqual(tok.encode("def", { addSpecialTokens: true }), tok.encode("def"));
  const json = JSON.parse(fs.readFileSync(path.join(MODEL_7M, "tokenizer.json"), "utf8")) as Record<string, unknown>;
  const withBos = {
    ...json,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<fim_prefix>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [{ Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: { "<fim_prefix>": { id: "<fim_prefix>", ids: [1], tokens: ["<fim_prefix>"] } },
    },
  };
  const tpl = "{{ messages[0].content }}";
  const t2 = Tokenizer.fromJSON(withBos, { bos_token: "<fim_prefix>", eos_token: "<|endoftext|>", chat_template: tpl });
  assert.deepEqual([t2.bosTokenId, t2.addBosToken, t2.addEosToken, t2.chatTemplate], [1, true, false, tpl]);
  assert.deepEqual(t2.encode("def", { addSpecialTokens: true }), [1, ...tok.encode("def")]);
  assert.deepEqual(t2.encode("def"), tok.encode("def"));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-tok-"));
  try {
    fs.copyFileSync(path.join(MODEL_7M, "tokenizer.json"), path.join(dir, "tokenizer.json"));
    fs.writeFileSync(path.join(dir, "chat_template.jinja"), tpl);
    assert.equal(Tokenizer.load(dir).chatTemplate, tpl);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
