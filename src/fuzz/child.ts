/**
 * One fuzz child process (started by runner.ts under a memory cap): reads
 * { target, seed, indices, basesDir, workDir, tokens } as JSON on stdin, then
 * for each mutant writes it to a scratch dir, loads it with LLM.load and
 * generates a few tokens. Prints one JSON line when a mutant starts and one
 * with its outcome: "ok" (loaded and generated), "typed" (a LowbitError),
 * "untyped" (anything else thrown) or "harness" (the mutant could not be made).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { LowbitError } from "../errors.js";
import { LLM } from "../llm.js";
import { makeMutant, type FuzzTarget } from "./mutants.js";

export interface ChildJob {
  target: FuzzTarget;
  seed: number;
  indices: number[];
  basesDir: string;
  workDir: string;
  /** tokens generated after a successful load */
  tokens: number;
}

export type ChildLine =
  | { i: number; event: "start" }
  | { i: number; event: "done"; outcome: "ok" | "typed" | "untyped" | "harness"; error?: string; message?: string };

const emit = (line: ChildLine) => process.stdout.write(JSON.stringify(line) + "\n");

async function runOne(job: ChildJob, i: number): Promise<void> {
  emit({ i, event: "start" });
  const dir = fs.mkdtempSync(path.join(job.workDir, `${job.target}-${i}-`));
  try {
    let model: string;
    try {
      model = makeMutant(job.target, job.seed, i, { dir: job.basesDir }).write(dir);
    } catch (e) {
      emit({ i, event: "done", outcome: "harness", error: (e as Error)?.constructor?.name, message: String((e as Error)?.message ?? e).slice(0, 300) });
      return;
    }
    try {
      const llm = await LLM.load(model, { threads: 1 });
      try {
        await llm.generate("def f(x):", { maxNewTokens: job.tokens });
      } finally {
        await llm.dispose();
      }
      emit({ i, event: "done", outcome: "ok" });
    } catch (e) {
      const typed = e instanceof LowbitError;
      emit({ i, event: "done", outcome: typed ? "typed" : "untyped", error: (e as Error)?.constructor?.name ?? typeof e, message: String((e as Error)?.message ?? e).slice(0, 300) });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const job = JSON.parse(input) as ChildJob;
  for (const i of job.indices) await runOne(job, i);
}

await main();
