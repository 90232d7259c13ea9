#!/usr/bin/env node
// A/B speed of two checkouts of lowbit on the same machine, engines alternated in one run:
// for each model and format, ROUNDS rounds of one `lowbit bench` process per checkout (the
// order alternates every round), each process reporting the median TTFT / TPOT of its own
// repetitions; the table gives, per configuration, the median over rounds of each checkout
// and their ratio (B / A: > 1 means B is slower), and the median ratio over all rows.
//
//   node scripts/ab-bench.mjs A_DIR B_DIR [--models tinycode-100m,...] [--formats bf16,...]
//        [--prompts 32,512] [--rounds 5] [--reps 3] [--threads 2] [--gen 32] [--json OUT.json]
//
// Each checkout must be built (dist/ and build/Release/lowbit.node). Run it on an idle machine.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { cliFlags } from "./cli-flags.mjs";

const { args, flag } = cliFlags();
const positional = args.filter((a, i) => !a.startsWith("--") && !(i > 0 && args[i - 1].startsWith("--")));
if (positional.length !== 2) {
  console.error("usage: node scripts/ab-bench.mjs A_DIR B_DIR [--models M,...] [--formats F,...] [--prompts 32,512] [--rounds 5] [--reps 3] [--threads 2] [--gen 32] [--json OUT]");
  process.exit(2);
}
const [A, B] = positional.map((d) => resolve(d));
const models = flag("models", "tinycode-100m").split(",");
const formats = flag("formats", "f32,bf16,w8a8-sq,w4a16-g128,w4a8-g128,q4_0,q8_0").split(",");
const prompts = flag("prompts", "32,512");
const rounds = Number(flag("rounds", "5"));
const reps = flag("reps", "3");
const threads = flag("threads", "2");
const gen = flag("gen", "32");
const jsonOut = flag("json", undefined);
const work = mkdtempSync(join(tmpdir(), "ab-bench-"));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

/** One `lowbit bench` process of checkout `dir`: its rows, keyed by model/format/prompt. */
function benchOnce(dir, model, format, tag) {
  const out = join(work, `${tag}.json`);
  execFileSync(process.execPath, [join(dir, "bin/lowbit.js"), "bench", "--model", model, "--quant", format, "--prompts", prompts, "--threads", threads, "--gen", gen, "--reps", reps, "--no-recheck", "--json", out], { cwd: dir, stdio: ["ignore", "ignore", "inherit"] });
  return JSON.parse(readFileSync(out, "utf8")).rows;
}

const samples = new Map(); // key -> { A: {ttft: [], tpot: []}, B: {...} }
for (const model of models) {
  for (const format of formats) {
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [["A", A], ["B", B]] : [["B", B], ["A", A]];
      for (const [name, dir] of order) {
        for (const row of benchOnce(dir, model, format, `${name}-${r}`)) {
          const key = `${row.model} | ${row.format} | ${row.prompt}`;
          if (!samples.has(key)) samples.set(key, { A: { ttft: [], tpot: [] }, B: { ttft: [], tpot: [] } });
          samples.get(key)[name].ttft.push(row.ttftMs.median);
          samples.get(key)[name].tpot.push(row.tpotMs.median);
        }
      }
      process.stderr.write(`${model} ${format} round ${r + 1}/${rounds}\n`);
    }
  }
}

const rows = [];
console.log(`A = ${A}\nB = ${B}\n${rounds} rounds alternated, ${reps} repetitions per process, ${threads} threads, ${gen} new tokens\n`);
console.log("| model | format | prompt | TTFT ms A | TTFT ms B | B/A | TPOT ms A | TPOT ms B | B/A |");
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const [key, s] of samples) {
  const r = {
    key,
    ttftA: median(s.A.ttft), ttftB: median(s.B.ttft),
    tpotA: median(s.A.tpot), tpotB: median(s.B.tpot),
  };
  r.ttftRatio = r.ttftB / r.ttftA;
  r.tpotRatio = r.tpotB / r.tpotA;
  rows.push({ ...r, samples: s });
  const [m, f, p] = key.split(" | ");
  console.log(`| ${m} | ${f} | ${p} | ${r.ttftA.toFixed(1)} | ${r.ttftB.toFixed(1)} | ${r.ttftRatio.toFixed(3)} | ${r.tpotA.toFixed(2)} | ${r.tpotB.toFixed(2)} | ${r.tpotRatio.toFixed(3)} |`);
}
const mt = median(rows.map((r) => r.ttftRatio));
const mp = median(rows.map((r) => r.tpotRatio));
console.log(`\nmedian B/A over ${rows.length} rows: TTFT ${mt.toFixed(3)}, TPOT ${mp.toFixed(3)}`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ A, B, rounds, reps, threads, gen, prompts, rows, medianTtftRatio: mt, medianTpotRatio: mp }, null, 2) + "\n");
