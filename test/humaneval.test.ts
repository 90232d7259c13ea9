/** Tests for src/eval/humaneval.ts and `lowbit eval humaneval`. */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { humanEval, loadProblems, passAtK, programFor, STOP_SEQUENCES, type Problem } from "../src/eval/humaneval.js";
import { DataError, InvalidOptionError } from "../src/errors.js";
import { REPO } from "./helpers/paths.js";

const BIN = path.join(REPO, "bin", "lowbit.js");
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-heval-"));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);

test("pass@k estimator against hand-computed values", () => {
  close(passAtK(5, 2, 1), 0.4);
  close(passAtK(5, 2, 5), 1);
  close(passAtK(5, 0, 1), 0);
  close(passAtK(5, 0, 5), 0);
  close(passAtK(5, 5, 1), 1);
  // 1 - C(3,2)/C(5,2) = 1 - 3/10
  close(passAtK(5, 2, 2), 0.7);
  // 1 - C(8,3)/C(10,3) = 1 - 56/120
  close(passAtK(10, 2, 3), 1 - 56 / 120);
  // large n stays finite and in [0, 1]: 1 - C(190,100)/C(200,100)
  const v = passAtK(200, 10, 100);
  assert.ok(v > 0.99 && v <= 1, String(v));
  close(passAtK(1, 1, 1), 1);
  close(passAtK(1, 0, 1), 0);
  assert.throws(() => passAtK(5, 6, 1), InvalidOptionError);
  assert.throws(() => passAtK(5, 2, 6), InvalidOptionError);
  assert.throws(() => passAtK(0, 0, 1), InvalidOptionError);
});

test("the shipped HumanEval file loads: 164 problems, licence beside it", () => {
  const ps = loadProblems();
  assert.equal(ps.length, 164);
  assert.equal(ps[0].task_id, "HumanEval/0");
  assert.equal(ps[0].entry_point, "has_close_elements");
  assert.ok(fs.existsSync(path.join(REPO, "data", "humaneval", "HumanEval.LICENSE")));
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { files: string[] };
  assert.ok(pkg.files.includes("data"));
  assert.deepEqual(STOP_SEQUENCES, ["\ndef", "\nclass", "\nif", "\nprint", "\n#"]);
  assert.throws(() => loadProblems(path.join(TMP, "missing.jsonl")), DataError);
  const bad = path.join(TMP, "bad.jsonl");
  fs.writeFileSync(bad, '{"task_id": "x"}\n');
  assert.throws(() => loadProblems(bad), DataError);
});

test("HumanEval/0: the canonical solution passes through the execution path, a wrong one fails", async () => {
  const p0: Problem = loadProblems()[0];
  assert.match(programFor(p0, "X"), /X\n[\s\S]*def check\(candidate\)[\s\S]*\ncheck\(has_close_elements\)\n$/);
  const wrong = "    return False\n";
  const r = await humanEval(null, [p0], { complete: (_p, s) => (s === 0 ? p0.canonical_solution : wrong) });
  assert.equal(r.records.length, 1);
  assert.equal(r.records[0].status, "passed", r.records[0].error);
  assert.equal(r.passAtK["pass@1"], 1);
  const w = await humanEval(null, [p0], { complete: () => wrong });
  assert.equal(w.records[0].status, "failed");
  assert.equal(w.records[0].passed, false);
  assert.match(w.records[0].error ?? "", /AssertionError/);
  assert.equal(w.passAtK["pass@1"], 0);
});

test("all 164 canonical solutions pass in the sandbox (the containment does not break legitimate tests)", async () => {
  const r = await humanEval(null, loadProblems(), { complete: (p) => p.canonical_solution });
  assert.deepEqual(r.records.filter((x) => !x.passed).map((x) => `${x.task_id}: ${x.error ?? ""}`), []);
  assert.equal(r.passAtK["pass@1"], 1);
});

test("pass@k over several samples, and a hostile completion is one failed problem", async () => {
  const ps = loadProblems().slice(0, 2);
  // problem 0: samples 0 and 2 correct of 3; problem 1: an escape attempt, then an infinite loop
  const hostile = ["    return open('/etc/passwd').read()\n", "    while True: pass\n", "    import os\n    while True: os.fork()\n"];
  const r = await humanEval(null, ps, {
    samples: 3,
    temperature: 1,
    sandbox: { timeoutMs: 3000, cpuSeconds: 1 },
    complete: (p, s) => (p.task_id === "HumanEval/0" ? (s === 1 ? "    return True\n" : p.canonical_solution) : hostile[s]),
  });
  assert.equal(r.records.length, 6);
  assert.deepEqual(r.records.map((x) => x.passed), [true, false, true, false, false, false]);
  assert.equal(r.records[4].status, "timeout");
  close(r.passAtK["pass@1"], (2 / 3 + 0) / 2);
  assert.equal(r.passAtK["pass@10"], undefined);
  assert.equal(r.solved, 1);
  await assert.rejects(humanEval(null, ps, { samples: 2, complete: () => "" }), InvalidOptionError);
});

test("lowbit eval humaneval --limit 3 with the embedded model writes 3 jsonl records", () => {
  const out = path.join(TMP, "he.jsonl");
  const r = spawnSync(process.execPath, [BIN, "eval", "humaneval", "--limit", "3", "--max-new-tokens", "64", "--out", out, "--json"], { encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(summary.problems, 3);
  assert.equal(summary.samples, 1);
  assert.equal(typeof summary["pass@1"], "number");
  const recs = fs.readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(recs.map((x) => x.task_id), ["HumanEval/0", "HumanEval/1", "HumanEval/2"]);
  for (const x of recs) {
    assert.ok(["passed", "failed", "timeout", "error"].includes(x.status as string));
    assert.equal(typeof x.completion, "string");
    assert.equal(typeof x.passed, "boolean");
  }
});

test("lowbit eval perplexity is the perplexity command; bad humaneval flags exit 2", () => {
  const help = spawnSync(process.execPath, [BIN, "eval", "perplexity", "--help"], { encoding: "utf8" });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--window/);
  const bad = spawnSync(process.execPath, [BIN, "eval", "humaneval", "--samples", "0"], { encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /INVALID_OPTION/);
  const data = spawnSync(process.execPath, [BIN, "eval", "humaneval", "--data", path.join(TMP, "nope.jsonl")], { encoding: "utf8" });
  assert.equal(data.status, 2);
  assert.match(data.stderr, /BAD_DATA/);
});
