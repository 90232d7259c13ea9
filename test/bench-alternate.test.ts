/**
 * Side-by-side measurement with fake engines (no real timing): warm-ups
 * first, then every prompt on every engine in a rotating order, per-repetition
 * means over prompts, and greedy agreement with the first engine.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { alternate, commonPrefix, rotation, type TimedEngine } from "../src/bench/alternate.js";

/** An engine whose TTFT is base + prompt length and TPOT base / 10 + rep, logging every call. */
function fake(name: string, base: number, log: string[], ids: (p: number[]) => number[]): TimedEngine {
  let calls = 0;
  return {
    name,
    run: async (p, gen) => {
      calls++;
      log.push(`${name}:${p.length}`);
      return { ttftMs: base + p.length, tpotMs: base / 10 + calls, ids: ids(p).slice(0, gen) };
    },
  };
}

test("rotation: rep 1 A B C, rep 2 B C A, rep 3 C A B, rep 4 A B C", () => {
  assert.deepEqual([1, 2, 3, 4].map((r) => rotation(3, r)), [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2]]);
});

test("warm-ups first, then each prompt on every engine in the rotated order; means over prompts per repetition", async () => {
  const log: string[] = [];
  const same = (p: number[]) => [p.length, 1, 2, 3];
  const engines = [fake("A", 100, log, same), fake("B", 200, log, same), fake("C", 300, log, (p) => [p.length, 1, 9, 9])];
  const prompts = [[1, 2], [1, 2, 3, 4]];
  const seen: string[] = [];
  const r = await alternate(engines, prompts, { reps: 2, warmupRuns: 1, genTokens: 4, onRun: (x) => seen.push(`${x.warmup ? "w" : x.rep}${x.engine}${x.prompt}`) });
  assert.deepEqual(log, ["A:2", "B:2", "C:2", "A:2", "B:2", "C:2", "A:4", "B:4", "C:4", "B:2", "C:2", "A:2", "B:4", "C:4", "A:4"]);
  assert.deepEqual(seen.slice(0, 5), ["wA0", "wB0", "wC0", "1A0", "1B0"]);
  // TTFT: base + mean prompt length 3, identical in both repetitions
  assert.deepEqual(r.ttftMs, [[103, 103], [203, 203], [303, 303]]);
  // TPOT: base/10 + call number; A's calls: warm-up 1, rep 1: 2 and 3, rep 2: 4 and 5
  assert.deepEqual(r.tpotMs[0], [10 + 2.5, 10 + 4.5]);
  assert.deepEqual(r.tpotMs[2], [30 + 2.5, 30 + 4.5]);
  // agreement with engine 0 per prompt (first repetition only)
  assert.deepEqual(r.sameTokens, [[4, 4], [4, 4], [2, 2]]);
});

test("no warm-up and one engine: exactly reps x prompts runs", async () => {
  const log: string[] = [];
  const r = await alternate([fake("A", 1, log, (p) => p)], [[1], [1, 2], [1, 2, 3]], { reps: 3, warmupRuns: 0, genTokens: 2 });
  assert.equal(log.length, 9);
  assert.equal(r.ttftMs[0]!.length, 3);
  assert.deepEqual(r.ttftMs[0], [3, 3, 3]);
});

test("common prefix of token lists", () => {
  assert.equal(commonPrefix([1, 2, 3], [1, 2, 4]), 2);
  assert.equal(commonPrefix([], [1]), 0);
  assert.equal(commonPrefix([5, 6], [5, 6]), 2);
});
