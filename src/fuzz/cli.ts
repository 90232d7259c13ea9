/**
 * `npm run fuzz -- [--iterations N] [--seed S] [--target gguf|safetensors|config|tokenizer]
 *   [--index I] [--batch B] [--json FILE]`: N mutants per target (default 200)
 * loaded in capped child processes (runner.ts); prints the outcome counts and
 * every failing mutant with the command that runs it again. --index runs one
 * mutant. Exit status 1 when any mutant fails. Not part of the library entry.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FUZZ_TARGETS, prepareBases, type FuzzTarget } from "./mutants.js";
import { describe, FAILURES, runFuzz, summarize } from "./runner.js";

function parse(argv: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    o[a.slice(2)] = argv[++i] ?? "";
  }
  return o;
}

function int(v: string | undefined, def: number, name: string): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${v}`);
  return n;
}

async function main(): Promise<number> {
  const a = parse(process.argv.slice(2));
  const targets = a.target === undefined ? FUZZ_TARGETS : [a.target as FuzzTarget];
  if (!targets.every((t) => FUZZ_TARGETS.includes(t))) throw new Error(`--target must be one of ${FUZZ_TARGETS.join(", ")}`);
  const seed = int(a.seed, 1, "seed");
  const single = a.index !== undefined;
  const count = single ? 1 : int(a.iterations, 200, "iterations");
  const cache = path.join(os.tmpdir(), "lowbit-fuzz-bases");
  const bases = prepareBases(cache);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-fuzz-"));
  const opts = { seed, targets, bases, workDir, count, first: int(a.index, 0, "index"), batch: int(a.batch, 25, "batch") };
  const t0 = Date.now();
  try {
    const results = await runFuzz({ ...opts, log: (l) => process.stderr.write(l + "\n") });
    const seconds = (Date.now() - t0) / 1000;
    const failures = results.filter((r) => FAILURES.has(r.outcome));
    const summary = summarize(results);
    process.stdout.write(`seed ${seed}, ${results.length} mutants in ${seconds.toFixed(1)} s\n`);
    for (const [t, counts] of Object.entries(summary)) process.stdout.write(`  ${t}: ${JSON.stringify(counts)}\n`);
    for (const r of single ? results : failures) process.stdout.write(`${describe(r, opts)}\n`);
    if (a.json) fs.writeFileSync(a.json, JSON.stringify({ seed, seconds, summary, failures: failures.map((r) => describe(r, opts)) }, null, 2));
    return failures.length === 0 ? 0 : 1;
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
