/**
 * Runs mutants (mutants.ts) in child processes (child.ts), a batch per
 * child, each child under an address-space cap (`ulimit -v`), a V8 heap cap
 * and a time limit. A child that dies (signal, out of memory, timeout) has its
 * unfinished mutants run again one per child, so the culprit is named.
 * Failures: "untyped" (a non-LowbitError), "crash", "oom", "timeout", "harness".
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { ChildJob, ChildLine } from "./child.js";
import { makeMutant, type FuzzBases, type FuzzTarget } from "./mutants.js";

export type FuzzOutcome = "ok" | "typed" | "untyped" | "harness" | "crash" | "oom" | "timeout";

export interface FuzzResult {
  target: FuzzTarget;
  index: number;
  outcome: FuzzOutcome;
  /** the error class (typed / untyped), or how the child died */
  error?: string;
  message?: string;
}

export interface FuzzOptions {
  seed: number;
  targets: readonly FuzzTarget[];
  /** mutant indices run per target: [first, first + count) */
  first?: number;
  count: number;
  bases: FuzzBases;
  /** scratch directory for the mutants */
  workDir: string;
  /** mutants per child (default 25) */
  batch?: number;
  /** address-space cap of a child in KiB (default 3 GiB) */
  memoryKiB?: number;
  /** V8 heap cap of a child in MiB (default 512) */
  heapMiB?: number;
  /** time allowed per mutant (default 4 s; a child gets 15 s more to start) */
  perMutantMs?: number;
  /** tokens generated after a successful load (default 3) */
  tokens?: number;
  /** progress lines */
  log?: (line: string) => void;
}

export const FAILURES: ReadonlySet<FuzzOutcome> = new Set(["untyped", "harness", "crash", "oom", "timeout"]);

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "child.js");

interface ChildRun {
  done: Map<number, Extract<ChildLine, { event: "done" }>>;
  /** how the child ended when it did not finish every mutant */
  death?: { outcome: "crash" | "oom" | "timeout"; error: string; message: string };
}

function runChild(job: ChildJob, o: Required<Pick<FuzzOptions, "memoryKiB" | "heapMiB" | "perMutantMs">>): Promise<ChildRun> {
  return new Promise((resolve) => {
    const cmd = `ulimit -v ${o.memoryKiB}; exec "${process.execPath}" --max-old-space-size=${o.heapMiB} "${CHILD}"`;
    const child = spawn("sh", ["-c", cmd], { stdio: ["pipe", "pipe", "pipe"] });
    const done = new Map<number, Extract<ChildLine, { event: "done" }>>();
    let out = "", errHead = "", errTail = "", timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, 15_000 + o.perMutantMs * job.indices.length);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      let nl: number;
      while ((nl = out.indexOf("\n")) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        try {
          const l = JSON.parse(line) as ChildLine;
          if (l.event === "done") done.set(l.i, l);
        } catch {
          /* not a result line */
        }
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      if (errHead.length < 2000) errHead += d.toString().slice(0, 2000 - errHead.length);
      errTail = (errTail + d.toString()).slice(-2000);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (done.size === job.indices.length && code === 0) return resolve({ done });
      const err = errHead + errTail;
      // V8's "FATAL ERROR: ... heap out of memory" / "Fatal process OOM" come first, a stack trace after
      const first = errHead.split("\n").find((l) => /fatal|error|abort|signal/i.test(l)) ?? errTail.trim().split("\n").pop() ?? "";
      const tail = first.trim().slice(0, 300);
      const oom = /out of memory|OOM|Allocation failed|std::bad_alloc|Cannot allocate/i.test(err);
      const death = timedOut
        ? { outcome: "timeout" as const, error: "timeout", message: `no result within ${15 + (o.perMutantMs * job.indices.length) / 1000} s` }
        : { outcome: oom ? ("oom" as const) : ("crash" as const), error: signal ?? `exit ${code}`, message: tail };
      resolve({ done, death });
    });
    child.stdin.end(JSON.stringify(job));
  });
}

/** Runs the mutants; every one gets a result. */
export async function runFuzz(opts: FuzzOptions): Promise<FuzzResult[]> {
  const o = { memoryKiB: opts.memoryKiB ?? 3 * 1024 * 1024, heapMiB: opts.heapMiB ?? 512, perMutantMs: opts.perMutantMs ?? 4000 };
  const batch = opts.batch ?? 25;
  const first = opts.first ?? 0;
  fs.mkdirSync(opts.workDir, { recursive: true });
  const results: FuzzResult[] = [];
  for (const target of opts.targets) {
    for (let start = first; start < first + opts.count; start += batch) {
      const indices: number[] = [];
      for (let i = start; i < Math.min(start + batch, first + opts.count); i++) indices.push(i);
      const job = { target, seed: opts.seed, basesDir: opts.bases.dir, workDir: opts.workDir, tokens: opts.tokens ?? 3 };
      const run = await runChild({ ...job, indices }, o);
      for (const i of indices) {
        let line = run.done.get(i);
        let death = run.death;
        if (!line && run.death) {
          // the batch's child died: this mutant alone, to name the culprit
          const alone = await runChild({ ...job, indices: [i] }, o);
          line = alone.done.get(i);
          death = alone.death;
        }
        const r: FuzzResult = line
          ? { target, index: i, outcome: line.outcome, ...(line.error ? { error: line.error } : {}), ...(line.message ? { message: line.message } : {}) }
          : { target, index: i, outcome: death!.outcome, error: death!.error, message: death!.message };
        results.push(r);
        if (FAILURES.has(r.outcome)) opts.log?.(`FAIL ${describe(r, opts)}`);
      }
      opts.log?.(`${target}: ${Math.min(start + batch, first + opts.count) - first}/${opts.count}`);
    }
  }
  return results;
}

/** One result with its mutant's description and how to run it again. */
export function describe(r: FuzzResult, opts: Pick<FuzzOptions, "seed" | "bases">): string {
  let what: string;
  try {
    what = makeMutant(r.target, opts.seed, r.index, opts.bases).desc;
  } catch (e) {
    what = `(mutant not reproducible: ${(e as Error).message})`;
  }
  return `${r.target} #${r.index} (seed ${opts.seed}) ${r.outcome}${r.error ? ` ${r.error}` : ""}: ${what}` +
    `${r.message ? ` -- ${r.message}` : ""} [rerun: npm run fuzz -- --target ${r.target} --seed ${opts.seed} --index ${r.index}]`;
}

/** Counts per target and outcome (typed errors by class). */
export function summarize(results: readonly FuzzResult[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const r of results) {
    const t = (out[r.target] ??= {});
    const key = r.outcome === "typed" ? `typed ${r.error}` : r.outcome;
    t[key] = (t[key] ?? 0) + 1;
  }
  return out;
}
