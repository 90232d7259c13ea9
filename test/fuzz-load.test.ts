/**
 * Mutation fuzzing of model files (docs/FUZZING.md): seeded mutants of the
 * embedded model's GGUF export, safetensors, config.json and tokenizer files,
 * loaded in child processes under an address-space cap, a heap cap and a time
 * limit (src/fuzz/). Every mutant must either load and generate a few tokens
 * or fail with a LowbitError: an untyped error, a crash, running out of memory
 * or a hang fails the test, and each failing mutant is printed with the
 * command that runs it again. `npm run fuzz -- --iterations N` runs longer.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { FUZZ_TARGETS, prepareBases } from "../src/fuzz/mutants.js";
import { describe, FAILURES, runFuzz, summarize } from "../src/fuzz/runner.js";
import { scratch } from "./helpers/hostile.js";

/** Mutants per target: about a minute on a 2-core machine. */
const PER_TARGET = 40;
const SEED = 16;

test(`${PER_TARGET} mutants per target load or fail with a typed error`, { timeout: 600_000 }, async () => {
  const dir = scratch("fuzz");
  const opts = { seed: SEED, targets: FUZZ_TARGETS, count: PER_TARGET, bases: prepareBases(path.join(dir, "bases")), workDir: path.join(dir, "work"), batch: 20 };
  const results = await runFuzz(opts);
  const failures = results.filter((r) => FAILURES.has(r.outcome)).map((r) => describe(r, opts));
  const summary = summarize(results);
  console.log(`fuzz (seed ${SEED}): ${JSON.stringify(summary)}`);
  assert.deepEqual(failures, [], `failing mutants:\n${failures.join("\n")}`);
  assert.equal(results.length, PER_TARGET * FUZZ_TARGETS.length);
  for (const t of FUZZ_TARGETS) {
    const counts = summary[t]!;
    const typed = Object.entries(counts).filter(([k]) => k.startsWith("typed ")).reduce((a, [, n]) => a + n, 0);
    // the mutants reach the validators: most are refused, with a typed error
    assert.ok(typed >= PER_TARGET / 4, `${t}: only ${typed} of ${PER_TARGET} mutants refused: ${JSON.stringify(counts)}`);
    assert.equal(typed + (counts.ok ?? 0), PER_TARGET, `${t}: ${JSON.stringify(counts)}`);
  }
});

test("a child that dies is a failure naming its mutant, found by running the batch one by one", { timeout: 60_000 }, async () => {
  // 300 MB of address space is too little for node to start: every child dies, so each mutant is run alone
  // (config mutants need no GGUF bases)
  const dir = scratch("fuzz-death");
  const opts = { seed: SEED, targets: ["config"] as const, count: 2, bases: { dir }, workDir: path.join(dir, "work"), memoryKiB: 300_000 };
  const results = await runFuzz(opts);
  assert.deepEqual(results.map((r) => [r.index, r.outcome]), [[0, "oom"], [1, "oom"]]);
  assert.match(describe(results[1]!, opts), /^config #1 \(seed 16\) oom SIG\w+: config: .* \[rerun: npm run fuzz -- --target config --seed 16 --index 1\]$/);
});
