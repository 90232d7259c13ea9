/** docs/RESULTS.md: the renderer on a hand-made report, and `npm run results --quick` end to end. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resultsMarkdown, type ResultsJson } from "../src/results/render.js";
import type { Table1Row } from "../src/results/table1.js";
import { summarize } from "../src/bench/stats.js";
import { REPO, SKIP_NO_SHARED, sharedPath } from "./helpers/paths.js";

const RUN = join(REPO, "dist", "src", "results", "run.js");

function row(format: string, ttft: number, tpot: number, ppl: number): Table1Row {
  return { format: format as Table1Row["format"], passAt1: 1 / 164, solved: 1, problems: 164, clozeAcc: 0.6, clozeAccNorm: 0.55, clozeItems: 300, ppl, pplTokens: 65536, ttftMs: ttft, tpotMs: tpot, ttftSpeedup: 100 / ttft, tpotSpeedup: 8 / tpot, evalSeconds: 1 };
}

test("RESULTS.md: Table 1 rows with speedups and perplexity change, the pending assisted row, missing sections named", () => {
  const cpu = { physicalCores: 2, kernels: "avx2", features: "avx2 fma f16c" } as never;
  const speedRow = (format: string) => ({ model: "m", format, threads: 2, prompt: "humaneval (164)", promptTokens: 120, genTokens: 32, ttftMs: summarize([100, 90, 110]), tpotMs: summarize([8, 7, 9]), weightBytesPerToken: 1e8, kvBytesPerToken: 1e6, achievedGBs: 12.6, bandwidthEfficiency: 0.5 });
  const r: ResultsJson = {
    table1: {
      model: "tinycode-100m", threads: 2, baseline: "bf16", command: "npm run results", date: "2026-11-22",
      options: { model: "tinycode-100m", formats: ["bf16", "w8a8-sq"], threads: 2, heldout: "x", clozeItems: 300, pplWindows: 64, speedReps: 3 },
      rows: [row("bf16", 100, 8, 4), row("w8a8-sq", 50, 4, 4.02)],
      speed: { date: "d", cpu, node: "v20", bandwidthGBs: { 2: 25 }, rows: [speedRow("bf16"), speedRow("w8a8-sq")] } as never,
    },
  };
  const md = resultsMarkdown(r);
  assert.match(md, /\| bf16 \(baseline\) \| 0\.6% \(1\/164\) \| 60\.0% \/ 55\.0% \| 4\.0000 \| 100\.0 \| 1\.00x \| 8\.00 \| 1\.00x \|/);
  assert.match(md, /\| INT8 SmoothQuant \(`w8a8-sq`\) \| 0\.6% \(1\/164\) \| 60\.0% \/ 55\.0% \| 4\.0200 \(\+0\.50%\) \| 50\.0 \| 2\.00x \| 4\.00 \| 2\.00x \|/);
  assert.match(md, /INT8 SmoothQuant \+ assisted generation \| not measured in this run/);
  // with a draft row: its own label, the speedups, no "not measured" row
  const withDraft = structuredClone(r);
  withDraft.table1!.rows.push({ ...row("w8a8-sq", 50, 2, 4.02), draft: { model: "tinycode-7m", tokens: 5, acceptance: 0.7 } });
  const md2 = resultsMarkdown(withDraft);
  assert.match(md2, /\| INT8 SmoothQuant \(`w8a8-sq`\) \+ assisted generation \(draft tinycode-7m, K=5, 70% of drafted tokens accepted\) \| 0\.6% \(1\/164\) \| same model as above \| same model as above \| 50\.0 \| 2\.00x \| 2\.00 \| 4\.00x \|/);
  assert.doesNotMatch(md2, /not measured in this run/);
  assert.match(md, /Command: `npm run results`/);
  assert.match(md, /Not measured yet: `npm run results -- --only llamacpp`/);
  assert.match(resultsMarkdown({}), /Not measured yet: `npm run results -- --only table1`/);
});

test("npm run results: bad options exit 2 with a message", () => {
  for (const args of [["--only", "x"], ["--bogus"], ["--formats", "w9"], ["--threads", "0"], ["--from-json", "--json", "/nonexistent/r.json"]]) {
    const r = spawnSync(process.execPath, [RUN, ...args, "--out", "/nonexistent/R.md"], { cwd: REPO, encoding: "utf8" });
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^error: /m);
  }
});

test("npm run results -- --only table1 --quick on tinycode-7m: JSON and markdown agree", { skip: sharedPath("data", "python-heldout-test.jsonl") ? false : SKIP_NO_SHARED }, () => {
  const dir = mkdtempSync(join(tmpdir(), "results-"));
  try {
    const md = join(dir, "R.md"), json = join(dir, "r.json");
    const r = spawnSync(process.execPath, [RUN, "--only", "table1", "--quick", "--model", "tinycode-7m", "--formats", "bf16,w8a8", "--out", md, "--json", json], { cwd: REPO, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(readFileSync(json, "utf8")) as ResultsJson;
    const rows = j.table1!.rows;
    assert.deepEqual(rows.map((x) => [x.format, x.draft?.model]), [["bf16", undefined], ["w8a8", undefined], ["w8a8", "tinycode-7m"]]);
    assert.equal(rows[0]!.ttftSpeedup, 1);
    // the assisted row is the same target model: cloze and perplexity carried over, HumanEval run again
    assert.equal(rows[2]!.ppl, rows[1]!.ppl);
    assert.ok(rows[2]!.draft!.acceptance > 0 && rows[2]!.draft!.acceptance <= 1);
    for (const x of rows) {
      assert.equal(x.problems, 10);
      assert.equal(x.clozeItems, 20);
      assert.equal(x.pplTokens, 2048);
      assert.ok(x.ppl > 1 && x.ppl < 50 && x.clozeAcc > 0.25 && x.ttftMs > 0 && x.tpotMs > 0, JSON.stringify(x));
    }
    // the bf16 row's perplexity is what `lowbit perplexity` gives on the same two windows
    const p = spawnSync(process.execPath, [join(REPO, "bin", "lowbit.js"), "perplexity", "--dtype", "bf16", "--max-windows", "2", "--json", "--data", sharedPath("data", "python-heldout-test.jsonl")!], { cwd: REPO, encoding: "utf8" });
    assert.equal(p.status, 0, p.stderr);
    assert.equal((JSON.parse(p.stdout.trim()) as { ppl: number }).ppl, rows[0]!.ppl);
    const text = readFileSync(md, "utf8");
    assert.ok(text.includes(rows[1]!.ppl.toFixed(4)) && text.includes(`${rows[1]!.tpotSpeedup.toFixed(2)}x`), text);
    assert.equal(j.llamacpp, undefined);
    // --speed-only measures TTFT/TPOT again and keeps the quality columns, saying where they come from
    const again = spawnSync(process.execPath, [RUN, "--only", "table1", "--quick", "--speed-only", "--model", "tinycode-7m", "--formats", "bf16,w8a8", "--out", md, "--json", json], { cwd: REPO, encoding: "utf8" });
    assert.equal(again.status, 0, again.stderr);
    const k = JSON.parse(readFileSync(json, "utf8")) as ResultsJson;
    assert.deepEqual(k.table1!.rows.map((x) => [x.ppl, x.passAt1, x.clozeAcc]), rows.map((x) => [x.ppl, x.passAt1, x.clozeAcc]));
    assert.equal(k.table1!.qualityFrom!.command, j.table1!.command);
    assert.notEqual(k.table1!.speed.date, j.table1!.speed.date);
    assert.match(readFileSync(md, "utf8"), /pass@1, cloze and perplexity from `npm run results -- --only table1 --quick --model/);
    const bad = spawnSync(process.execPath, [RUN, "--only", "table1", "--speed-only", "--model", "tinycode-7m", "--formats", "bf16,w4a16-g128", "--out", md, "--json", json], { cwd: REPO, encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /no quality rows for these formats/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
