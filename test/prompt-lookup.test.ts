/**
 * Prompt-lookup decoding (generate/lookup.ts): the n-gram draft, greedy output equal to plain
 * decoding's (the reference tokens of tinycode-7m), the target's distribution kept under
 * sampling (a one-hot draft), stops and the context end as in plain decoding, bad options refused.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { LLM } from "../src/llm.js";
import { InvalidOptionError } from "../src/errors.js";
import { acceptDrafts } from "../src/generate/assisted.js";
import { lookupDraft, nextDraftLength } from "../src/generate/lookup.js";
import { Sampler, type Dist } from "../src/generate/sampler.js";
import { EMBEDDED_MODEL, REPO } from "./helpers/paths.js";

interface Ref {
  prompts: { prompt: string; input_ids: number[]; greedy_ids: number[] }[];
}
const REF7 = JSON.parse(readFileSync(join(EMBEDDED_MODEL, "reference.json"), "utf8")) as Ref;

test("lookupDraft: what followed the latest earlier occurrence of the longest matching n-gram", () => {
  // last 2-gram (7, 8) occurs at 1-2 (followed by 9 1 2) and at 5-6 (followed by 3 7 8): the latest wins
  const s = [0, 7, 8, 9, 1, 7, 8, 3, 7, 8];
  assert.deepEqual(lookupDraft(s, 2, 5), [3, 7, 8]); // stops at the sequence's end
  assert.deepEqual(lookupDraft(s, 2, 2), [3, 7]);
  // a 3-gram (3, 7, 8) does not occur earlier: the 2-gram is used
  assert.deepEqual(lookupDraft(s, 3, 4), [3, 7, 8]);
  // the longest n-gram wins over a later shorter match: (1, 2) at 0-1 beats (2) at 4
  assert.deepEqual(lookupDraft([1, 2, 5, 6, 2, 9, 1, 2], 2, 3), [5, 6, 2]);
  assert.deepEqual(lookupDraft([1, 2, 5, 6, 2, 9, 1, 2], 1, 3), [9, 1, 2]);
  // no earlier occurrence of even the last token
  assert.deepEqual(lookupDraft([1, 2, 3, 4], 3, 5), []);
  assert.deepEqual(lookupDraft([4], 2, 5), []);
  assert.deepEqual(lookupDraft([], 2, 5), []);
  // a run of one token: the occurrence ending one before the end
  assert.deepEqual(lookupDraft([5, 5, 5, 5], 2, 3), [5]);
});

test("nextDraftLength: HF's heuristic schedule, +2 after a draft kept whole, -1 after a rejection, within [1, max]", () => {
  assert.equal(nextDraftLength(5, 5, 5, 5), 5); // at the cap
  assert.equal(nextDraftLength(2, 2, 2, 5), 4);
  assert.equal(nextDraftLength(4, 4, 4, 5), 5);
  assert.equal(nextDraftLength(5, 5, 4, 5), 4); // one rejected
  assert.equal(nextDraftLength(5, 5, 0, 5), 4);
  assert.equal(nextDraftLength(1, 1, 0, 5), 1); // never below 1
  // a draft cut short (the sequence's end, max tokens) and kept whole still grows
  assert.equal(nextDraftLength(3, 2, 2, 8), 5);
  // a schedule: 5 -> (reject) 4 -> (reject) 3 -> (kept) 5
  let k = 5;
  for (const [drafted, accepted] of [[5, 1], [4, 0], [3, 3]] as const) k = nextDraftLength(k, drafted, accepted, 5);
  assert.equal(k, 5);
});

test("a one-hot draft under speculative sampling: the output token is distributed as the target's p", () => {
  const p0: Dist = { ids: Int32Array.from([0, 1, 2, 3]), p: Float64Array.from([0.1, 0.5, 0.15, 0.25]) };
  const p1: Dist = { ids: Int32Array.from([0, 1]), p: Float64Array.from([0.5, 0.5]) };
  for (const d of [1, 2]) {
    const s = new Sampler({ temperature: 1, seed: 3 });
    const n = 40000, count = [0, 0, 0, 0];
    let kept = 0;
    for (let t = 0; t < n; t++) {
      const out = acceptDrafts(s, [d], [{ ids: Int32Array.of(d), p: Float64Array.of(1) }], [p0, p1]);
      count[out[0]!]!++;
      if (out.length === 2) kept++;
    }
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(count[i]! / n - p0.p[i]!) < 0.01, `draft ${d}, token ${i}: ${count[i]! / n}`);
    assert.ok(Math.abs(kept / n - p0.p[d]!) < 0.01, `kept ${kept / n} vs p(d) ${p0.p[d]}`);
  }
});

test("prompt lookup: greedy tokens equal plain decoding's (tinycode-7m references), drafts accepted on a repetitive prompt", async () => {
  const m = await LLM.load(EMBEDDED_MODEL, { dtype: "f32" });
  try {
    for (const [i, p] of REF7.prompts.entries()) {
      const r = await m.generate(p.input_ids, { maxNewTokens: 48, temperature: 0, stopAtEos: false, promptLookup: 1 + (i % 5), promptLookupNgram: 1 + (i % 3) });
      assert.deepEqual(r.ids, p.greedy_ids, `prompt ${i}`);
      const s = r.assisted!;
      assert.ok(s.accepted <= s.proposed && 1 + s.accepted + s.rounds <= 48, JSON.stringify(s));
    }
    // code that repeats itself: the continuation is in the prompt, so drafts are accepted
    const prompt = "def add(a, b):\n    return a + b\n\n\ndef add(a, b):\n    return a + b\n\n\ndef add(a, b):\n";
    const plain = await m.generate(prompt, { maxNewTokens: 40, temperature: 0, stopAtEos: false });
    const look = await m.generate(prompt, { maxNewTokens: 40, temperature: 0, stopAtEos: false, promptLookup: 5 });
    assert.deepEqual(look.ids, plain.ids);
    assert.ok(look.assisted!.accepted > 0, JSON.stringify(look.assisted));
    assert.ok(look.assisted!.rounds < 39, "accepted drafts make fewer steps than tokens");
    // the cache is consistent afterwards: a run extending the prompt with the output reuses it
    const again = await m.generate([...REF7.prompts[0]!.input_ids, ...REF7.prompts[0]!.greedy_ids.slice(0, 10)], { maxNewTokens: 20, temperature: 0, stopAtEos: false });
    assert.deepEqual(again.ids, REF7.prompts[0]!.greedy_ids.slice(10, 30));
  } finally {
    await m.dispose();
  }
});

test("prompt lookup stops like plain decoding: stop strings, EOS, maxNewTokens, the context end, context shift, streaming", async () => {
  const m = await LLM.load(EMBEDDED_MODEL, { dtype: "f32", contextLength: 80 });
  try {
    const p = REF7.prompts[0]!.input_ids;
    const cases = [
      { maxNewTokens: 7 },
      { maxNewTokens: 40, stop: ["\n"] },
      { maxNewTokens: 200 }, // the end of the 80-token context
      { maxNewTokens: 60, stopAtEos: true },
      { maxNewTokens: 150, contextShift: { nKeep: 4, nDiscard: 16 } },
    ];
    for (const c of cases) {
      const plain = await m.generate(p, { temperature: 0, stopAtEos: false, ...c });
      const look = await m.generate(p, { temperature: 0, stopAtEos: false, ...c, promptLookup: 4, promptLookupNgram: 1 });
      assert.deepEqual(look.ids, plain.ids, JSON.stringify(c));
      assert.equal(look.text, plain.text);
      assert.equal(look.finishReason, plain.finishReason);
      assert.equal(look.contextShifts, plain.contextShifts);
    }
    const sampled = await m.generate(p, { temperature: 0.9, seed: 5, maxNewTokens: 30, stopAtEos: false, promptLookup: 3 });
    assert.equal(sampled.ids.length, 30);
    const s = m.stream(p, { temperature: 0, maxNewTokens: 30, stopAtEos: false, promptLookup: 3 });
    let text = "";
    for await (const chunk of s) text += chunk;
    assert.equal(text, (await m.generate(p, { temperature: 0, maxNewTokens: 30, stopAtEos: false })).text);
  } finally {
    await m.dispose();
  }
});

test("prompt lookup refuses bad options", async () => {
  const m = await LLM.load(EMBEDDED_MODEL);
  const draft = await LLM.load(EMBEDDED_MODEL);
  try {
    for (const promptLookup of [0, 65, 2.5, NaN]) assert.throws(() => m.generate("def f():", { promptLookup }), /promptLookup must be an integer in \[1, 64\]/);
    assert.throws(() => m.generate("def f():", { promptLookup: 3, promptLookupNgram: 0 }), /promptLookupNgram must be an integer in \[1, 16\]/);
    assert.throws(() => m.generate("def f():", { promptLookupNgram: 2 }), /promptLookupNgram needs promptLookup/);
    assert.throws(() => m.generate("def f():", { promptLookup: 3, draft }), /either a draft model or promptLookup/);
    assert.throws(() => m.generate("def f():", { promptLookup: 3, logprobs: 2 }), InvalidOptionError);
    assert.throws(() => m.generate("def f():", { promptLookup: 3, responseFormat: { type: "json_object" } }), /with promptLookup is not supported/);
  } finally {
    await m.dispose();
    await draft.dispose();
  }
});

test("lowbit generate --lookup: the same greedy ids as without, the counts in --json; bad flags exit 2", () => {
  const cli = join(REPO, "bin", "lowbit.js");
  const run = (...a: string[]) => spawnSync(process.execPath, [cli, "generate", "--prompt", "def add(a, b):\n    return a + b\n\ndef add(a, b):\n", "--max-new-tokens", "24", "--json", ...a], { encoding: "utf8" });
  const plain = run();
  assert.equal(plain.status, 0, plain.stderr);
  const look = run("--lookup", "4", "--lookup-ngram", "3");
  assert.equal(look.status, 0, look.stderr);
  const a = JSON.parse(plain.stdout), b = JSON.parse(look.stdout);
  assert.deepEqual(b.ids, a.ids);
  assert.equal(b.assisted.draftTokens, 4);
  assert.ok(b.assisted.proposed > 0);
  for (const bad of [["--lookup", "0"], ["--lookup-ngram", "2"], ["--lookup", "3", "--draft", EMBEDDED_MODEL]]) {
    const r = run(...bad);
    assert.equal(r.status, 2, `${bad.join(" ")}: ${r.stderr}`);
  }
});
