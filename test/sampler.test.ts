/** Tests for Sampler: greedy, seeding, top-k/top-p/min-p, repetition penalty, distribution, validation. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Sampler, validateSamplingOptions, type SamplingOptions } from "../src/generate/sampler.js";
import { InvalidOptionError } from "../src/errors.js";

/** Deterministic pseudo-random logits (independent of the sampler's PRNG). */
function randomLogits(n: number, seed: number, scale = 3): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

function argmaxRef(x: Float32Array): number {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
  return b;
}

/** Empirical frequencies of `draws` samples. */
function frequencies(s: Sampler, logits: Float32Array, draws: number): number[] {
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < draws; i++) counts[s.sample(logits, [])]++;
  return counts.map((c) => c / draws);
}

function maxAbsDiff(a: number[], b: number[]): number {
  return Math.max(...a.map((v, i) => Math.abs(v - b[i])));
}

const fromProbs = (p: number[]): Float32Array => Float32Array.from(p, Math.log);

test("greedy (temperature 0 / undefined) is argmax with lowest index on ties", () => {
  for (let k = 0; k < 20; k++) {
    const logits = randomLogits(1000, k);
    assert.equal(new Sampler({}).sample(logits, []), argmaxRef(logits));
    assert.equal(new Sampler({ temperature: 0, seed: 1 }).sample(logits, []), argmaxRef(logits));
  }
  assert.equal(new Sampler({}).sample(Float32Array.from([1, 5, 3, 5, 5]), []), 1);
  assert.equal(new Sampler({}).sample(Float32Array.from([-Infinity, NaN, -3]), []), 2);
});

test("same seed gives the same sequence; a different seed differs", () => {
  const run = (seed: number): number[] => {
    const s = new Sampler({ temperature: 1, seed });
    return Array.from({ length: 50 }, (_, i) => s.sample(randomLogits(2000, 100 + i, 1), []));
  };
  assert.deepEqual(run(42), run(42));
  assert.deepEqual(run(-7), run(-7));
  assert.notDeepEqual(run(42), run(43));
  assert.notDeepEqual(run(2 ** 40), run(2 ** 40 + 2 ** 33)); // seeds differing only in high bits
  const unseeded = (): number[] => {
    const s = new Sampler({ temperature: 1 });
    return Array.from({ length: 50 }, () => s.sample(randomLogits(2000, 5, 0.1), []));
  };
  assert.notDeepEqual(unseeded(), unseeded());
});

test("top-k = 1 is greedy for any temperature", () => {
  for (const temperature of [0.1, 1, 5, 100]) {
    const s = new Sampler({ temperature, topK: 1, seed: 3 });
    for (let k = 0; k < 30; k++) {
      const logits = randomLogits(500, 1000 + k, 0.5);
      assert.equal(s.sample(logits, []), argmaxRef(logits), `T=${temperature}`);
    }
  }
});

test("top-k keeps exactly the k most likely tokens, renormalized", () => {
  const p = [0.1, 0.4, 0.05, 0.3, 0.15];
  const f = frequencies(new Sampler({ temperature: 1, topK: 3, seed: 9 }), fromProbs(p), 20000);
  assert.equal(f[0] + f[2], 0);
  assert.ok(maxAbsDiff(f, [0, 0.4 / 0.85, 0, 0.3 / 0.85, 0.15 / 0.85]) < 0.02, JSON.stringify(f));
});

test("top-p: tiny p keeps only the max; larger p keeps the smallest covering set", () => {
  for (let k = 0; k < 20; k++) {
    const logits = randomLogits(3000, 200 + k, 0.2); // very flat: many tokens near the max
    assert.equal(new Sampler({ temperature: 1, topP: 1e-9, seed: k }).sample(logits, []), argmaxRef(logits));
  }
  const logits = fromProbs([0.15, 0.5, 0.05, 0.3]);
  const f1 = frequencies(new Sampler({ temperature: 1, topP: 0.79, seed: 1 }), logits, 20000);
  assert.ok(maxAbsDiff(f1, [0, 0.625, 0, 0.375]) < 0.02, JSON.stringify(f1));
  const f2 = frequencies(new Sampler({ temperature: 1, topP: 0.81, seed: 2 }), logits, 20000);
  assert.ok(maxAbsDiff(f2, [0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95]) < 0.02, JSON.stringify(f2));
});

test("top-p on a large vocab draws only from the brute-force nucleus", () => {
  const V = 50000;
  const logits = randomLogits(V, 77, 12);
  const topP = 0.9;
  const probs = Array.from(logits, (x) => Math.exp(x));
  const z = probs.reduce((a, b) => a + b, 0);
  const order = probs.map((_, i) => i).sort((a, b) => probs[b] - probs[a]);
  const nucleus = new Set<number>();
  let cum = 0;
  for (const i of order) {
    nucleus.add(i);
    cum += probs[i] / z;
    if (cum >= topP) break;
  }
  assert.ok(nucleus.size > 10 && nucleus.size < V / 2, `nucleus size ${nucleus.size}`);
  const s = new Sampler({ temperature: 1, topP, seed: 5 });
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) {
    const id = s.sample(logits, []);
    assert.ok(nucleus.has(id), `drew ${id} outside the nucleus`);
    seen.add(id);
  }
  assert.ok(seen.size > 10, "should sample more than a handful of tokens");
});

test("min-p drops tokens below minP * maxProb", () => {
  const p = [0.05, 0.5, 0.15, 0.3];
  const f1 = frequencies(new Sampler({ temperature: 1, minP: 0.2, seed: 4 }), fromProbs(p), 20000);
  assert.ok(maxAbsDiff(f1, [0, 0.5 / 0.95, 0.15 / 0.95, 0.3 / 0.95]) < 0.02, JSON.stringify(f1));
  const f2 = frequencies(new Sampler({ temperature: 1, minP: 0.5, seed: 4 }), fromProbs(p), 20000);
  assert.ok(maxAbsDiff(f2, [0, 0.625, 0, 0.375]) < 0.02, JSON.stringify(f2));
  const f3 = frequencies(new Sampler({ temperature: 1, minP: 0.99, seed: 4 }), fromProbs(p), 2000);
  assert.equal(f3[1], 1);
});

test("repetition penalty changes the argmax and is applied once per distinct id", () => {
  const logits = Float32Array.from([2.0, 1.9, -1]);
  const copy = Float32Array.from(logits);
  assert.equal(new Sampler({}).sample(logits, [0]), 0);
  assert.equal(new Sampler({ repetitionPenalty: 1.2 }).sample(logits, [0]), 1); // 2/1.2 < 1.9
  assert.deepEqual(logits, copy, "input logits must not be modified");
  // negative logits are multiplied: -0.5 * 2 = -1 < -0.6
  assert.equal(new Sampler({ repetitionPenalty: 2 }).sample(Float32Array.from([-0.5, -0.6]), [0]), 1);
  // repeated ids: 2/1.2 = 1.67 > 1.5 (would be 1.16 if applied three times)
  assert.equal(new Sampler({ repetitionPenalty: 1.2 }).sample(Float32Array.from([2, 1.5]), [0, 0, 0]), 0);
  // penalty < 1 encourages repeats; out-of-range history ids are ignored
  assert.equal(new Sampler({ repetitionPenalty: 0.5 }).sample(Float32Array.from([2, 1.5]), [1, 99, -1]), 1);
});

test("empirical distribution at temperature 1 (and 0.5) matches softmax", () => {
  const logits = Float32Array.from([1.0, 2.0, 0.5, -1.0, 1.5, 0.0]);
  const softmax = (t: number): number[] => {
    const e = Array.from(logits, (x) => Math.exp(x / t));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / z);
  };
  const f1 = frequencies(new Sampler({ temperature: 1, seed: 11 }), logits, 20000);
  assert.ok(maxAbsDiff(f1, softmax(1)) < 0.02, `T=1 ${JSON.stringify(f1)}`);
  const fHalf = frequencies(new Sampler({ temperature: 0.5, seed: 12 }), logits, 20000);
  assert.ok(maxAbsDiff(fHalf, softmax(0.5)) < 0.02, `T=0.5 ${JSON.stringify(fHalf)}`);
  // the check can fail: the two temperatures give clearly different distributions
  assert.ok(maxAbsDiff(softmax(1), softmax(0.5)) > 0.1);
  assert.ok(maxAbsDiff(f1, softmax(0.5)) > 0.05);
  const uniform = new Array<number>(logits.length).fill(1 / logits.length);
  assert.ok(maxAbsDiff(f1, uniform) > 0.05);
});

test("large vocab with top-k is fast enough", () => {
  const logits = randomLogits(128000, 3);
  const s = new Sampler({ temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, repetitionPenalty: 1.1, seed: 1 });
  const history = Array.from({ length: 512 }, (_, i) => (i * 997) % 128000);
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) s.sample(logits, history);
  const ms = (performance.now() - t0) / 200;
  assert.ok(ms < 20, `${ms.toFixed(2)} ms per sample`);
});

test("invalid options throw InvalidOptionError naming the option", () => {
  const bad: [keyof SamplingOptions, unknown][] = [
    ["temperature", -0.1], ["temperature", NaN], ["temperature", Infinity], ["temperature", "1"],
    ["topK", -1], ["topK", 1.5], ["topK", NaN],
    ["topP", 0], ["topP", 1.01], ["topP", -0.5], ["topP", NaN],
    ["minP", 1], ["minP", -0.01], ["minP", NaN],
    ["repetitionPenalty", 0], ["repetitionPenalty", -1], ["repetitionPenalty", Infinity], ["repetitionPenalty", NaN],
    ["seed", 1.5], ["seed", 2 ** 53], ["seed", NaN], ["seed", "7"],
  ];
  for (const [name, value] of bad) {
    const opts = { [name]: value } as SamplingOptions;
    for (const fn of [() => validateSamplingOptions(opts), () => new Sampler(opts)]) {
      assert.throws(fn, (e: unknown) => {
        assert.ok(e instanceof InvalidOptionError, `${name}=${String(value)}: ${String(e)}`);
        assert.ok(e.message.includes(name), e.message);
        return true;
      });
    }
  }
  // valid edge values
  validateSamplingOptions({ temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, seed: -(2 ** 53 - 1) });
});
