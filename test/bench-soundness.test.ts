/**
 * The soundness check on synthetic samples: a repeat whose median lies inside
 * the first measurement's min-max passes, one outside (or with no samples)
 * is flagged, with its drift; and the report's verdict line says which.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chanceOutside, checkRepeat, checkRepeatSamples, repeatChecksMarkdown } from "../src/bench/soundness.js";
import { summarize } from "../src/bench/stats.js";

test("a repeat inside the first min-max passes; its drift is the ratio of medians", () => {
  const c = checkRepeatSamples("m bf16 t=2 prompt 32", "tpotMs", [10, 11, 12, 13, 14], [11.5, 12.5, 13, 14, 15]);
  assert.equal(c.within, true);
  assert.equal(c.first.median, 12);
  assert.equal(c.again.median, 13);
  assert.ok(Math.abs(c.drift - (13 / 12 - 1)) < 1e-12);
});

test("a repeat whose median falls outside the first min-max is flagged, on either side", () => {
  const slower = checkRepeatSamples("x", "ttftMs", [10, 10.5, 11], [11.2, 11.4, 11.9]);
  assert.equal(slower.within, false);
  assert.equal(slower.again.median, 11.4);
  const faster = checkRepeatSamples("x", "ttftMs", [10, 10.5, 11], [9.1, 9.5, 12]);
  assert.equal(faster.within, false);
  assert.ok(faster.drift < 0);
  // the bounds themselves count as inside
  assert.equal(checkRepeatSamples("x", "ttftMs", [10, 10.5, 11], [11, 11, 20]).within, true);
  // no valid samples: not within
  assert.equal(checkRepeat("x", "ttftMs", summarize([1, 2]), summarize([NaN])).within, false);
});

test("markdown: one row per check and a warning counting the failures", () => {
  const ok = checkRepeatSamples("cfg A", "ttftMs", [1, 2, 3], [2, 2, 2]);
  const bad = checkRepeatSamples("cfg A", "tpotMs", [1, 2, 3], [4, 5, 6]);
  const md = repeatChecksMarkdown([ok, bad]);
  assert.match(md, /\| cfg A \| TTFT ms \| 2\.00 \(1\.00-3\.00\) \| 2\.00 \(2\.00-2\.00\) \| \+0\.0% \| yes \|/);
  assert.match(md, /\| cfg A \| TPOT ms \| 2\.00 \(1\.00-3\.00\) \| 5\.00 \(4\.00-6\.00\) \| \+150\.0% \| \*\*NO\*\* \|/);
  assert.match(md, /WARNING: 1 of 2 second runs fall outside/);
  assert.match(repeatChecksMarkdown([ok]), /Every second run falls within/);
  assert.equal(repeatChecksMarkdown([]), "");
});

test("fewer than 3 repetitions: reported, but no verdict", () => {
  const c = checkRepeatSamples("one rep", "ttftMs", [10], [10.1]);
  assert.equal(c.within, false);
  assert.equal(c.meaningful, false);
  const md = repeatChecksMarkdown([c, checkRepeatSamples("two reps", "tpotMs", [1, 2], [3, 3])]);
  assert.match(md, /\| one rep \| TTFT ms \| 10\.00 \(10\.00-10\.00\) \| 10\.10 \(10\.10-10\.10\) \| \+1\.0% \| n\/a \(1 rep\) \|/);
  assert.match(md, /n\/a \(2 reps\)/);
  assert.match(md, /No verdict: fewer than 3 repetitions/);
  assert.equal(checkRepeatSamples("x", "ttftMs", [1, 2, 3], [2]).meaningful, true);
});

test("the chance of a check failing between two runs of one distribution: exact, and as simulated", () => {
  assert.ok(Math.abs(chanceOutside(5, 5) - 1 / 6) < 1e-12); // 2 * C(7,2) / C(10,5) = 42 / 252
  assert.ok(Math.abs(chanceOutside(9, 9) - (2 * 715) / 48620) < 1e-12);
  assert.ok(Math.abs(chanceOutside(3, 1) - 2 / 4) < 1e-12); // one sample: outside a range of 3 half the time
  assert.ok(Number.isNaN(chanceOutside(5, 4)));
  assert.ok(chanceOutside(11, 11) < chanceOutside(7, 7) && chanceOutside(7, 7) < chanceOutside(5, 5));
  // simulation: two runs of n samples from one distribution, the check as checkRepeatSamples does it
  let seed = 12345;
  const rnd = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  for (const n of [3, 5, 7]) {
    const trials = 40000;
    let outside = 0;
    for (let t = 0; t < trials; t++) {
      const a = Array.from({ length: n }, () => 10 + rnd()), b = Array.from({ length: n }, () => 10 + rnd());
      if (!checkRepeatSamples("sim", "tpotMs", a, b).within) outside++;
    }
    assert.ok(Math.abs(outside / trials - chanceOutside(n, n)) < 0.01, `n=${n}: simulated ${outside / trials}, computed ${chanceOutside(n, n)}`);
  }
});

test("markdown: the chance-alone line for equal, odd repetitions", () => {
  const c = (x: number) => checkRepeatSamples("cfg", "ttftMs", [1, 2, 3, 4, 5], [x, x, x, x, x]);
  const md = repeatChecksMarkdown([c(3), c(3), c(9)]);
  assert.match(md, /with 5 repetitions in each run, the second median falls outside the first min-max 1 in 6 checks \(16\.7%\)/);
  assert.match(md, /about 0\.5 of these 3, and all 3 within 58% of the time/);
  assert.doesNotMatch(repeatChecksMarkdown([checkRepeatSamples("cfg", "ttftMs", [1, 2, 3, 4], [2, 2, 2, 2])]), /By chance alone/);
});
