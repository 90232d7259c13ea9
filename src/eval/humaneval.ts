/**
 * HumanEval (Chen et al. 2021): completions of each problem's prompt, executed
 * with the problem's tests in the sandbox (sandbox.ts), scored as pass@k.
 *
 * As in the original harness: the prompt is the problem's `prompt` text (no
 * BOS, no chat template; trailing whitespace removed before the model sees it,
 * see generationPrompt), the completion stops at "\ndef", "\nclass", "\nif",
 * "\nprint" or "\n#", and the program run is
 * `prompt + completion + "\n" + test + "\n" + "check(<entry_point>)"`.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { DataError, InvalidOptionError } from "../errors.js";
import type { LLM } from "../llm.js";
import { requireSandbox, runPython, type SandboxOptions, type SandboxStatus } from "./sandbox.js";

export const STOP_SEQUENCES = ["\ndef", "\nclass", "\nif", "\nprint", "\n#"];

/** data/humaneval/HumanEval.jsonl.gz in the package (dist/src/eval -> repo root, or src/eval). */
export function defaultHumanEvalPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, "..", "..", "..", "data", "humaneval", "HumanEval.jsonl.gz"), join(here, "..", "..", "data", "humaneval", "HumanEval.jsonl.gz")];
  return candidates.find((p) => existsSync(p)) ?? candidates[0];
}

export interface Problem {
  task_id: string;
  prompt: string;
  entry_point: string;
  canonical_solution: string;
  test: string;
}

/** Reads a HumanEval jsonl file (gzipped when it ends in .gz). */
export function loadProblems(file = defaultHumanEvalPath()): Problem[] {
  let text: string;
  try {
    const raw = readFileSync(file);
    text = (file.endsWith(".gz") ? gunzipSync(raw) : raw).toString("utf8");
  } catch (e) {
    throw new DataError(`cannot read HumanEval file ${file}: ${(e as Error).message}`, { cause: e });
  }
  const out: Problem[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line) as Record<string, unknown>;
    } catch (e) {
      throw new DataError(`${file}:${i + 1}: not valid JSON`, { cause: e });
    }
    for (const k of ["task_id", "prompt", "entry_point", "canonical_solution", "test"]) {
      if (typeof v[k] !== "string") throw new DataError(`${file}:${i + 1}: field "${k}" missing or not a string`);
    }
    out.push(v as unknown as Problem);
  });
  if (out.length === 0) throw new DataError(`${file}: no problems`);
  return out;
}

/**
 * The text a model continues: the prompt without its trailing whitespace.
 * Byte-level BPE merges a newline with the next line's indentation ("\n   "
 * is one token), so a prompt ending in a bare "\n" is out of distribution:
 * tinycode models then start a new top-level statement instead of the body.
 * bigcode-evaluation-harness strips HumanEval prompts for the same reason.
 */
export function generationPrompt(p: Problem): string {
  return p.prompt.trimEnd();
}

/** The program executed for one completion of `prompt` (default: the problem's prompt as given). */
export function programFor(p: Problem, completion: string, prompt = p.prompt): string {
  return `${prompt}${completion}\n${p.test}\ncheck(${p.entry_point})\n`;
}

/**
 * Unbiased pass@k estimator for n samples of which c pass:
 * 1 - C(n-c, k) / C(n, k), as the product 1 - prod_{i=n-c+1}^{n} (1 - k/i).
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k) || n < 1 || c < 0 || c > n || k < 1 || k > n) {
    throw new InvalidOptionError(`pass@k needs integers 0 <= c <= n, 1 <= k <= n; got n=${n}, c=${c}, k=${k}`);
  }
  if (n - c < k) return 1;
  let prod = 1;
  for (let i = n - c + 1; i <= n; i++) prod *= 1 - k / i;
  return 1 - prod;
}

export interface SampleRecord {
  task_id: string;
  sample: number;
  completion: string;
  passed: boolean;
  status: SandboxStatus;
  /** sandbox wall time of this sample */
  ms: number;
  /** generation time of this sample */
  genMs: number;
  /** last lines of stderr when it did not pass */
  error?: string;
}

export interface HumanEvalOptions {
  /** First N problems only. */
  limit?: number;
  /** Samples per problem (default 1, greedy). */
  samples?: number;
  /** Sampling temperature (default 0 = greedy; samples > 1 needs > 0). */
  temperature?: number;
  /** Base seed; sample s of problem i uses seed + i * samples + s. */
  seed?: number;
  maxNewTokens?: number;
  /** assisted generation (generate's draft / draftTokens) */
  draft?: LLM;
  draftTokens?: number;
  /** prompt-lookup decoding (generate's promptLookup / promptLookupNgram) */
  promptLookup?: number;
  promptLookupNgram?: number;
  sandbox?: SandboxOptions;
  /** Called with every finished sample (e.g. to append to a jsonl file). */
  onRecord?: (r: SampleRecord, done: number, total: number) => void;
  /**
   * Supplies completions instead of the model (tests of the execution path);
   * when given, the model is not used.
   */
  complete?: (p: Problem, sample: number) => Promise<string> | string;
}

export interface HumanEvalResult {
  problems: number;
  samples: number;
  /** pass@k for k in {1, 10, 100} that are <= samples */
  passAtK: Record<string, number>;
  /** problems with at least one passing sample */
  solved: number;
  statuses: Record<SandboxStatus, number>;
  seconds: number;
  records: SampleRecord[];
}

export async function humanEval(model: LLM | null, problems: Problem[], o: HumanEvalOptions = {}): Promise<HumanEvalResult> {
  const samples = o.samples ?? 1;
  const temperature = o.temperature ?? 0;
  if (!Number.isInteger(samples) || samples < 1) throw new InvalidOptionError(`samples must be a positive integer, got ${String(samples)}`);
  if (samples > 1 && !(temperature > 0)) throw new InvalidOptionError("samples > 1 needs a temperature > 0 (greedy samples are all the same)");
  if (o.limit !== undefined) {
    if (!Number.isInteger(o.limit) || o.limit < 1) throw new InvalidOptionError(`limit must be a positive integer, got ${String(o.limit)}`);
    problems = problems.slice(0, o.limit);
  }
  if (!o.complete && !model) throw new InvalidOptionError("humanEval needs a model or a complete() function");
  requireSandbox(); // before any generation: programs are refused, never run less isolated
  const t0 = performance.now();
  const total = problems.length * samples;
  const records: SampleRecord[] = [];
  const statuses: Record<SandboxStatus, number> = { passed: 0, failed: 0, timeout: 0, error: 0 };
  const perProblem: number[] = [];
  for (let i = 0; i < problems.length; i++) {
    const p = problems[i];
    let c = 0;
    for (let s = 0; s < samples; s++) {
      const g0 = performance.now();
      let completion: string;
      let prompt = p.prompt; // hooks complete the prompt as given; the model continues generationPrompt(p)
      if (o.complete) completion = await o.complete(p, s);
      else {
        prompt = generationPrompt(p);
        const r = await model!.generate(model!.encode(prompt), {
          maxNewTokens: o.maxNewTokens ?? 384,
          temperature,
          stop: STOP_SEQUENCES,
          ...(temperature > 0 && o.seed !== undefined ? { seed: o.seed + i * samples + s } : {}),
          ...(o.draft ? { draft: o.draft, ...(o.draftTokens !== undefined ? { draftTokens: o.draftTokens } : {}) } : {}),
          ...(o.promptLookup !== undefined ? { promptLookup: o.promptLookup, ...(o.promptLookupNgram !== undefined ? { promptLookupNgram: o.promptLookupNgram } : {}) } : {}),
        });
        completion = r.text;
      }
      const genMs = performance.now() - g0;
      const run = await runPython(programFor(p, completion, prompt), o.sandbox);
      const passed = run.status === "passed";
      if (passed) c++;
      statuses[run.status]++;
      const rec: SampleRecord = { task_id: p.task_id, sample: s, completion, passed, status: run.status, ms: Math.round(run.ms), genMs: Math.round(genMs) };
      if (!passed) rec.error = run.stderr.trim().split("\n").slice(-3).join("\n") || (run.signal ?? `exit ${String(run.exitCode)}`);
      records.push(rec);
      o.onRecord?.(rec, records.length, total);
    }
    perProblem.push(c);
  }
  const pk: Record<string, number> = {};
  for (const k of [1, 10, 100]) {
    if (k > samples) continue;
    pk[`pass@${k}`] = perProblem.reduce((a, c) => a + passAtK(samples, c, k), 0) / perProblem.length;
  }
  return {
    problems: problems.length,
    samples,
    passAtK: pk,
    solved: perProblem.filter((c) => c > 0).length,
    statuses,
    seconds: (performance.now() - t0) / 1000,
    records,
  };
}
