/**
 * Multiple-choice ("cloze") evaluation by log-likelihood, as lm-evaluation-harness
 * scores LAMBADA-, PIQA- or HellaSwag-style tasks:
 *
 *   - an item is {context, choices, answer}; each choice is scored by the summed
 *     log-probability of its tokens after the context's tokens (context and
 *     choice are tokenized separately and concatenated, so put the separating
 *     space or newline at the start of each choice, as those tasks do);
 *   - `acc`: the choice with the highest summed log-likelihood is right;
 *     `acc_norm`: the same after dividing by the choice's length in characters;
 *   - an empty context is replaced by the EOS token (a context of one token);
 *   - contexts longer than `contextTokens` keep their last `contextTokens` tokens.
 *
 * The built-in task (codeCloze.ts) comes from held-out Python files: the true
 * next line against three lines from other files.
 */
import { readFileSync } from "node:fs";
import { DataError, InvalidOptionError } from "../errors.js";
import type { LLM } from "../llm.js";

export interface ClozeItem {
  context: string;
  choices: string[];
  /** index of the right choice */
  answer: number;
  /** where the item comes from (the code task: "file:line") */
  source?: string;
}

export interface ClozeOptions {
  /** keep at most this many context tokens (the last ones); default 256 */
  contextTokens?: number;
  /** called after each item (done, total) */
  onProgress?: (done: number, total: number) => void;
}

export interface ClozeRecord {
  item: number;
  answer: number;
  /** argmax of the summed log-likelihood */
  pred: number;
  /** argmax of the log-likelihood per character */
  predNorm: number;
  /** summed log-likelihood of each choice (nats) */
  ll: number[];
  /** tokens of each choice */
  tokens: number[];
}

export interface ClozeResult {
  items: number;
  acc: number;
  accNorm: number;
  /** expected accuracy of guessing: mean of 1 / choices */
  chance: number;
  contextTokens: number;
  seconds: number;
  records: ClozeRecord[];
}

function fail(file: string, line: number, why: string): never {
  throw new DataError(`${file}:${line}: ${why}`);
}

/** Checks one parsed item (answer may be an index or the text of a choice). */
export function validateItem(v: unknown, where: (why: string) => never): ClozeItem {
  if (v === null || typeof v !== "object" || Array.isArray(v)) where("expected a JSON object {context, choices, answer}");
  const o = v as Record<string, unknown>;
  if (typeof o.context !== "string") where('"context" must be a string');
  if (!Array.isArray(o.choices) || o.choices.length < 2 || o.choices.some((c) => typeof c !== "string" || c === "")) where('"choices" must be an array of at least 2 non-empty strings');
  const choices = o.choices as string[];
  let answer: number;
  if (typeof o.answer === "number") answer = o.answer;
  else if (typeof o.answer === "string" && choices.includes(o.answer)) answer = choices.indexOf(o.answer);
  else where('"answer" must be the index of the right choice (or its exact text)');
  if (!Number.isInteger(answer) || answer < 0 || answer >= choices.length) where(`"answer" ${String(o.answer)} is not an index into the ${choices.length} choices`);
  return { context: o.context as string, choices, answer, ...(typeof o.source === "string" ? { source: o.source } : {}) };
}

/** Reads a multiple-choice jsonl file: one {context, choices, answer} object per non-blank line. */
export function readClozeJsonl(file: string): ClozeItem[] {
  let raw: string;
  try {
    raw = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(`cannot read cloze file ${file}: ${code === "ENOENT" ? "file not found" : code === "EISDIR" ? "is a directory" : (e as Error).message}`, { cause: e });
  }
  const items: ClozeItem[] = [];
  raw.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      fail(file, i + 1, `line is not valid JSON (${(e as Error).message})`);
    }
    items.push(validateItem(v, (why) => fail(file, i + 1, why)));
  });
  if (items.length === 0) throw new DataError(`${file}: no items (expected jsonl of {context, choices, answer})`);
  return items;
}

const argmax = (xs: number[]): number => xs.reduce((best, x, i) => (x > xs[best]! ? i : best), 0);

/** Scores every item; see the module comment for the definition. */
export async function cloze(model: LLM, items: ClozeItem[], o: ClozeOptions = {}): Promise<ClozeResult> {
  const contextTokens = o.contextTokens ?? 256;
  if (!Number.isSafeInteger(contextTokens) || contextTokens < 1) throw new InvalidOptionError(`contextTokens must be an integer >= 1, got ${String(contextTokens)}`);
  if (items.length === 0) throw new InvalidOptionError("cloze needs at least one item");
  const eos = model.config.eosTokenIds[0];
  const t0 = performance.now();
  const records: ClozeRecord[] = [];
  let right = 0, rightNorm = 0, chance = 0;
  o.onProgress?.(0, items.length);
  for (const [k, it] of items.entries()) {
    let ctx = model.encode(it.context);
    if (ctx.length === 0) {
      if (eos === undefined) throw new DataError("an item has an empty context and the model defines no EOS token to stand for it");
      ctx = [eos];
    }
    if (ctx.length > contextTokens) ctx = ctx.slice(ctx.length - contextTokens);
    const choiceIds = it.choices.map((c) => model.encode(c));
    if (choiceIds.some((c) => c.length === 0)) throw new DataError(`item ${k}: a choice encodes to no tokens`);
    const nll = await model.choiceNll(ctx, choiceIds);
    const ll = nll.map((x) => -x.reduce((a, b) => a + b, 0));
    const pred = argmax(ll);
    const predNorm = argmax(ll.map((x, i) => x / it.choices[i]!.length));
    if (pred === it.answer) right++;
    if (predNorm === it.answer) rightNorm++;
    chance += 1 / it.choices.length;
    records.push({ item: k, answer: it.answer, pred, predNorm, ll, tokens: choiceIds.map((c) => c.length) });
    o.onProgress?.(k + 1, items.length);
  }
  const n = items.length;
  return { items: n, acc: right / n, accNorm: rightNorm / n, chance: chance / n, contextTokens, seconds: (performance.now() - t0) / 1000, records };
}
