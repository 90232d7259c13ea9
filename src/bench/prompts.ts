/**
 * What a benchmark feeds the model: a prompt of an exact length (the shipped
 * Python file, cut or repeated), or the 164 HumanEval prompts, each run once
 * per repetition with TTFT and TPOT averaged over them (as inference papers
 * report HumanEval latency).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidOptionError } from "../errors.js";
import { generationPrompt, loadProblems } from "../eval/humaneval.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const BENCH_PROMPT_FILE = join(ROOT, "src", "bench", "prompt.py.txt");

/** One prompt setting of a benchmark: "32", "1024", "humaneval" (or "humaneval:20" with a limit). */
export type PromptSpec = { kind: "length"; length: number } | { kind: "humaneval"; limit?: number };

/** A prompt setting with its texts resolved (tokenized later, by each model's tokenizer). */
export interface PromptCase {
  /** "32", "humaneval (164)" */
  label: string;
  spec: PromptSpec;
  /** HumanEval: one text per problem; length: none (ids are cut from the bench file) */
  texts?: string[];
  /** prompts per measured run: 1, or the HumanEval problems */
  count: number;
}

/**
 * "32,1024" / "humaneval" / "32,humaneval" -> specs. `limit` (--limit) keeps the
 * first N HumanEval problems.
 */
export function parsePromptSpecs(v: string, limit?: number): PromptSpec[] {
  const parts = v.split(",").map((x) => x.trim());
  if (v.trim() === "" || parts.some((p) => p === "")) throw new InvalidOptionError(`--prompts must be comma-separated lengths or "humaneval", got ${JSON.stringify(v)}`);
  const specs = parts.map((p): PromptSpec => {
    if (p.toLowerCase() === "humaneval") return limit !== undefined ? { kind: "humaneval", limit } : { kind: "humaneval" };
    const n = /^\d+$/.test(p) ? Number(p) : NaN;
    if (!Number.isSafeInteger(n) || n < 1 || n > 1 << 20) throw new InvalidOptionError(`--prompts: ${JSON.stringify(p)} is neither a prompt length (1 to ${1 << 20} tokens) nor "humaneval"`);
    return { kind: "length", length: n };
  });
  if (limit !== undefined && !specs.some((s) => s.kind === "humaneval")) throw new InvalidOptionError("--limit applies to --prompts humaneval only");
  return specs;
}

/** Resolves specs to cases (reads the HumanEval file once). */
export function promptCases(specs: PromptSpec[]): PromptCase[] {
  let problems: string[] | undefined;
  return specs.map((spec) => {
    if (spec.kind === "length") return { label: String(spec.length), spec, count: 1 };
    problems ??= loadProblems().map(generationPrompt);
    const texts = problems.slice(0, spec.limit ?? problems.length);
    return { label: `humaneval (${texts.length})`, spec, texts, count: texts.length };
  });
}

/** Deterministic code prompt of exactly n tokens (the shipped Python file, repeated if needed). */
export function lengthPromptIds(encode: (text: string) => number[], n: number): number[] {
  const base = encode(readFileSync(BENCH_PROMPT_FILE, "utf8"));
  const ids: number[] = [];
  while (ids.length < n) ids.push(...base);
  return ids.slice(0, n);
}

/** The token ids of every prompt of a case, in the model's tokenizer. */
export function caseIds(c: PromptCase, encode: (text: string) => number[]): number[][] {
  if (c.spec.kind === "length") return [lengthPromptIds(encode, c.spec.length)];
  return c.texts!.map((t) => encode(t));
}

/** The longest prompt of a case in tokens (context sizing). */
export function maxPromptTokens(ids: number[][]): number {
  return Math.max(...ids.map((x) => x.length));
}

/** Mean of a list (the per-repetition average over a case's prompts). */
export function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}
