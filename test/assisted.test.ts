/**
 * Assisted generation: greedy output equals the target's own, speculative sampling
 * keeps the target's distribution, the caches stay consistent, bad drafts are refused.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { LLM } from "../src/llm.js";
import { InvalidOptionError, StateError } from "../src/errors.js";
import { acceptDrafts } from "../src/generate/assisted.js";
import { Sampler, type Dist } from "../src/generate/sampler.js";
import { EMBEDDED_MODEL, REPO, SKIP_NO_SHARED, sharedPath } from "./helpers/paths.js";

interface Ref {
  prompts: { prompt: string; input_ids: number[]; greedy_ids: number[] }[];
}
const REF7 = JSON.parse(readFileSync(join(EMBEDDED_MODEL, "reference.json"), "utf8")) as Ref;

test("speculative sampling: the first output token is distributed as the target's p, whatever the draft's q", () => {
  const V = 6;
  const dist = (w: number[]): Dist => {
    const z = w.reduce((a, b) => a + b, 0);
    return { ids: Int32Array.from(w.map((_, i) => i)), p: Float64Array.from(w.map((x) => x / z)) };
  };
  const p0 = dist([5, 1, 0, 2, 8, 4]), p1 = dist([1, 1, 1, 1, 1, 1]);
  for (const q0 of [dist([1, 1, 1, 1, 1, 1]), dist([0, 9, 1, 0, 1, 0]), p0]) {
    const s = new Sampler({ temperature: 1, seed: 11 });
    const n = 40000, count = new Array<number>(V).fill(0);
    let kept = 0;
    for (let t = 0; t < n; t++) {
      const d = s.draw(q0.ids, q0.p);
      const out = acceptDrafts(s, [d], [q0], [p0, p1]);
      count[out[0]!]!++;
      if (out.length === 2) kept++;
    }
    for (let i = 0; i < V; i++) assert.ok(Math.abs(count[i]! / n - p0.p[i]!) < 0.01, `token ${i}: ${count[i]! / n} vs ${p0.p[i]}`);
    // the acceptance rate is sum_x min(p, q)
    const want = p0.p.reduce((a, pi, i) => a + Math.min(pi, q0.p[i]!), 0);
    assert.ok(Math.abs(kept / n - want) < 0.01, `acceptance ${kept / n} vs ${want}`);
  }
  // greedy: one-hot distributions; a draft token is kept iff it is the target's argmax
  const g = new Sampler({});
  const oh = (i: number): Dist => ({ ids: Int32Array.of(i), p: Float64Array.of(1) });
  assert.deepEqual(acceptDrafts(g, [3, 4, 5], [oh(3), oh(4), oh(5)], [oh(3), oh(4), oh(1), oh(2)]), [3, 4, 1]);
  assert.deepEqual(acceptDrafts(g, [3, 4], [oh(3), oh(4)], [oh(3), oh(4), oh(9)]), [3, 4, 9]);
  assert.deepEqual(acceptDrafts(g, [3], [oh(3)], [oh(7), oh(9)]), [7]);
});

test("assisted greedy generation gives the target's greedy tokens (tinycode-7m f32, draft: its w4a16-g32 copy), and leaves a usable cache", async () => {
  const target = await LLM.load(EMBEDDED_MODEL, { dtype: "f32" });
  const draft = await LLM.load(EMBEDDED_MODEL, { dtype: "bf16", quant: "w4a16-g32" });
  try {
    for (const [i, p] of REF7.prompts.entries()) {
      const k = 1 + (i % 6);
      const r = await target.generate(p.input_ids, { maxNewTokens: 48, temperature: 0, stopAtEos: false, draft, draftTokens: k });
      assert.deepEqual(r.ids, p.greedy_ids, `prompt ${i}, K=${k}`);
      const s = r.assisted!;
      assert.equal(s.draftTokens, k);
      assert.ok(s.rounds > 0 && s.accepted > 0 && s.accepted <= s.proposed, JSON.stringify(s));
      // tokens = the first + per round the accepted ones and one from the target (plain steps when K would not fit)
      assert.ok(1 + s.accepted + s.rounds <= 48, JSON.stringify(s));
    }
    // the KV caches are consistent afterwards: a plain run extending the last prompt reuses the prefix
    const last = REF7.prompts[REF7.prompts.length - 1]!;
    const again = await target.generate([...last.input_ids, ...last.greedy_ids.slice(0, 10)], { maxNewTokens: 20, temperature: 0, stopAtEos: false });
    assert.deepEqual(again.ids, last.greedy_ids.slice(10, 30));
    const d = await draft.generate(last.input_ids, { maxNewTokens: 8, temperature: 0, stopAtEos: false });
    const fresh = await LLM.load(EMBEDDED_MODEL, { dtype: "bf16", quant: "w4a16-g32" });
    try {
      assert.deepEqual(d.ids, (await fresh.generate(last.input_ids, { maxNewTokens: 8, temperature: 0, stopAtEos: false })).ids);
    } finally {
      await fresh.dispose();
    }
  } finally {
    await target.dispose();
    await draft.dispose();
  }
});

test("assisted generation stops like plain generation: stop strings, EOS, maxNewTokens, the context end", async () => {
  const target = await LLM.load(EMBEDDED_MODEL, { dtype: "f32", contextLength: 80 });
  const draft = await LLM.load(EMBEDDED_MODEL, { contextLength: 70 });
  try {
    const p = REF7.prompts[0]!.input_ids;
    const cases = [
      { maxNewTokens: 7 },
      { maxNewTokens: 40, stop: ["\n"] },
      { maxNewTokens: 200 }, // runs into the end of the 80-token context (the draft's ends earlier)
      { maxNewTokens: 60, stopAtEos: true },
      { maxNewTokens: 30, temperature: 0.9, seed: 5 }, // sampled: compared in distribution below, here only shapes
    ];
    for (const c of cases) {
      const plain = await target.generate(p, { temperature: 0, stopAtEos: false, ...c });
      const asst = await target.generate(p, { temperature: 0, stopAtEos: false, ...c, draft, draftTokens: 4 });
      if (c.temperature) {
        assert.ok(asst.ids.length === 30 && asst.finishReason === "length");
        continue;
      }
      assert.deepEqual(asst.ids, plain.ids, JSON.stringify(c));
      assert.equal(asst.text, plain.text);
      assert.equal(asst.finishReason, plain.finishReason);
    }
    const ctx = await target.generate(p, { temperature: 0, maxNewTokens: 200, stopAtEos: false, draft });
    assert.equal(ctx.finishReason, "context");
    // a streamed assisted generation yields the same text
    const s = target.stream(p, { temperature: 0, maxNewTokens: 30, stopAtEos: false, draft });
    let text = "";
    for await (const chunk of s) text += chunk;
    assert.equal(text, (await s.result).text);
    assert.equal(text, (await target.generate(p, { temperature: 0, maxNewTokens: 30, stopAtEos: false })).text);
  } finally {
    await target.dispose();
    await draft.dispose();
  }
});

test("assisted generation refuses bad drafts and options", async () => {
  const target = await LLM.load(EMBEDDED_MODEL);
  const other = await LLM.load("synthetic:tiny"); // 32000-token vocabulary
  const gone = await LLM.load(EMBEDDED_MODEL);
  await gone.dispose();
  try {
    assert.throws(() => target.generate("def f():", { draft: target }), InvalidOptionError);
    assert.throws(() => target.generate("def f():", { draft: other }), /vocabulary \(32000 tokens\) differs/);
    assert.throws(() => target.generate("def f():", { draft: gone }), StateError);
    assert.throws(() => target.generate("def f():", { draft: {} as LLM }), InvalidOptionError);
    assert.throws(() => target.generate("def f():", { draft: other, draftTokens: 0 }), InvalidOptionError);
    assert.throws(() => target.generate("def f():", { draftTokens: 3 }), /needs a draft model/);
    assert.throws(() => target.stream("def f():", { draft: target }), InvalidOptionError);
  } finally {
    await target.dispose();
    await other.dispose();
  }
});

test("tinycode-100m with the tinycode-7m draft: the reference greedy tokens, most drafts accepted", { skip: sharedPath("models", "tinycode-100m") ? false : SKIP_NO_SHARED }, async () => {
  const dir = sharedPath("models", "tinycode-100m")!;
  const ref = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as Ref;
  const target = await LLM.load(dir, { dtype: "f32" });
  const draft = await LLM.load(EMBEDDED_MODEL);
  try {
    let proposed = 0, accepted = 0;
    for (const p of ref.prompts) {
      const r = await target.generate(p.input_ids, { maxNewTokens: 48, temperature: 0, stopAtEos: false, draft });
      assert.deepEqual(r.ids, p.greedy_ids);
      proposed += r.assisted!.proposed;
      accepted += r.assisted!.accepted;
    }
    assert.ok(accepted / proposed > 0.3, `acceptance ${accepted}/${proposed}`);
  } finally {
    await target.dispose();
    await draft.dispose();
  }
});

test("lowbit generate --draft: the same greedy ids as without, the draft's counts in --json; bad draft flags exit 2", () => {
  const run = (args: string[]) => spawnSync(process.execPath, [join(REPO, "bin", "lowbit.js"), "generate", ...args], { cwd: REPO, encoding: "utf8" });
  const p = REF7.prompts[1]!;
  const base = ["--prompt-ids", p.input_ids.join(","), "--max-new-tokens", "48", "--temperature", "0", "--dtype", "f32", "--json"];
  const r = run([...base, "--draft", EMBEDDED_MODEL, "--draft-quant", "w8a8", "--draft-tokens", "3"]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split("\n").pop()!) as { ids: number[]; assisted: { draftTokens: number; proposed: number; accepted: number } };
  assert.deepEqual(j.ids, p.greedy_ids);
  assert.equal(j.assisted.draftTokens, 3);
  assert.ok(j.assisted.accepted > 0);
  for (const args of [["--draft-tokens", "3"], ["--draft", EMBEDDED_MODEL, "--draft-tokens", "0"], ["--draft", EMBEDDED_MODEL, "--draft-quant", "w9"], ["--draft", "/nonexistent/model"], ["--draft", "synthetic:tiny"]]) {
    const e = run([...base, ...args]);
    assert.equal(e.status, 2, `${args.join(" ")}: ${e.stderr}`);
    assert.match(e.stderr, /error/i);
  }
});
