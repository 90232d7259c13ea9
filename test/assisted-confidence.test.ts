/**
 * Assisted generation with a confidence threshold (draftConfidence, llama.cpp's --draft-p-min):
 * the draft stops proposing before a token its softmax gives less than the threshold. Greedy
 * output stays the target's, rounds get shorter as the threshold rises, and the draft's cache
 * holds only tokens of the sequence after every round.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { LLM } from "../src/llm.js";
import { InvalidOptionError } from "../src/errors.js";
import { addon } from "../src/native.js";
import { EMBEDDED_MODEL, REPO } from "./helpers/paths.js";

interface Ref {
  prompts: { prompt: string; input_ids: number[]; greedy_ids: number[] }[];
}
const REF7 = JSON.parse(readFileSync(join(EMBEDDED_MODEL, "reference.json"), "utf8")) as Ref;

/** max softmax probability in double precision */
function topProbRef(x: Float32Array): number {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  let z = 0;
  for (const v of x) z += Math.exp(v - m);
  return 1 / z;
}

test("topProb: the largest softmax probability of a logits vector", () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (const [n, scale] of [[32000, 4], [32000, 30], [1, 1], [9, 0.5], [1000, 200]] as const) {
    const x = Float32Array.from({ length: n }, () => rnd() * scale);
    const want = topProbRef(x), got = addon().topProb(x);
    assert.ok(Math.abs(got - want) <= 1e-5 * want, `n=${n} scale=${scale}: ${got} vs ${want}`);
  }
  assert.equal(addon().topProb(Float32Array.of(0, 0)), 0.5);
  assert.equal(addon().topProb(Float32Array.of(-Infinity, 3)), 1);
  assert.ok(Number.isNaN(addon().topProb(Float32Array.of(-Infinity, -Infinity))));
  assert.ok(Number.isNaN(addon().topProb(new Float32Array(0))));
});

test("draftConfidence: the target's greedy tokens, shorter rounds as it rises, the draft's cache a prefix of the sequence", async () => {
  const target = await LLM.load(EMBEDDED_MODEL, { dtype: "f32" });
  const draft = await LLM.load(EMBEDDED_MODEL, { dtype: "bf16", quant: "w4a16-g32" });
  try {
    const perRound: number[] = [], kept: number[] = [];
    for (const confidence of [0, 0.3, 0.7, 0.95]) {
      let proposed = 0, accepted = 0, rounds = 0;
      for (const p of REF7.prompts) {
        const r = await target.generate(p.input_ids, { maxNewTokens: 48, temperature: 0, stopAtEos: false, draft, draftTokens: 8, draftConfidence: confidence });
        assert.deepEqual(r.ids, p.greedy_ids, `confidence ${confidence}`);
        const s = r.assisted!;
        assert.equal(s.draftConfidence, confidence);
        assert.ok(s.proposed <= 8 * s.rounds && s.accepted <= s.proposed, JSON.stringify(s));
        // the draft cached the prompt and accepted proposals only: nothing rejected is left behind
        const cached = (draft as unknown as { session: { cached: number[] } }).session.cached;
        const seq = [...p.input_ids, ...r.ids];
        assert.ok(cached.length > p.input_ids.length, "the draft cached the prompt and more");
        assert.deepEqual(cached, seq.slice(0, cached.length), `confidence ${confidence}: the draft's cache left the sequence`);
        proposed += s.proposed;
        accepted += s.accepted;
        rounds += s.rounds;
      }
      perRound.push(proposed / rounds);
      kept.push(accepted / proposed);
    }
    // 0: always 8 (except where the context or maxNewTokens cuts a round); then fewer, and a larger share kept
    assert.ok(perRound[0]! > 7, `K per round at confidence 0: ${perRound[0]}`);
    for (let i = 1; i < perRound.length; i++) {
      assert.ok(perRound[i]! < perRound[i - 1]!, `K per round ${perRound.join(", ")}`);
      assert.ok(kept[i]! >= kept[i - 1]!, `share kept ${kept.join(", ")}`); // it reaches 1 (every proposal kept)
    }
    assert.ok(kept[1]! > kept[0]! + 0.1, `share kept ${kept.join(", ")}`);
  } finally {
    await target.dispose();
    await draft.dispose();
  }
});

test("draftConfidence: bad values and a missing draft are InvalidOptionErrors; the CLI flag", async () => {
  const target = await LLM.load(EMBEDDED_MODEL);
  const draft = await LLM.load(EMBEDDED_MODEL, { quant: "w8a8" });
  try {
    for (const c of [1, -0.1, NaN, Infinity, "0.5" as unknown as number]) {
      assert.throws(() => target.generate("def f():", { draft, draftConfidence: c }), (e: unknown) => e instanceof InvalidOptionError && /draftConfidence must be a number in \[0, 1\)/.test(e.message), String(c));
    }
    assert.throws(() => target.generate("def f():", { draftConfidence: 0.5 }), /draftConfidence needs a draft model/);
  } finally {
    await target.dispose();
    await draft.dispose();
  }
  const run = (args: string[]) => spawnSync(process.execPath, [join(REPO, "bin", "lowbit.js"), "generate", ...args], { cwd: REPO, encoding: "utf8" });
  const p = REF7.prompts[1]!;
  const base = ["--prompt-ids", p.input_ids.join(","), "--max-new-tokens", "48", "--temperature", "0", "--dtype", "f32", "--json"];
  const r = run([...base, "--draft", EMBEDDED_MODEL, "--draft-quant", "w8a8", "--draft-tokens", "8", "--draft-confidence", "0.6"]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split("\n").pop()!) as { ids: number[]; assisted: { draftTokens: number; draftConfidence: number; proposed: number; rounds: number } };
  assert.deepEqual(j.ids, p.greedy_ids);
  assert.equal(j.assisted.draftTokens, 8);
  assert.equal(j.assisted.draftConfidence, 0.6);
  for (const args of [["--draft-confidence", "0.5"], ["--draft", EMBEDDED_MODEL, "--draft-confidence", "1"], ["--draft", EMBEDDED_MODEL, "--draft-confidence", "x"]]) {
    const e = run([...base, ...args]);
    assert.equal(e.status, 2, `${args.join(" ")}: ${e.stderr}`);
    assert.match(e.stderr, /--draft-confidence/);
  }
});
