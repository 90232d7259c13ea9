/**
 * The built-in multiple-choice task: "which line comes next?" over held-out
 * source files, deterministic for a given corpus and seed.
 *
 * For each item a (file, line) position is drawn uniformly, without
 * replacement, among the corpus's eligible lines (eligible: below a non-blank
 * line of its file, at least `minLineChars` characters once stripped, at least
 * one letter). The context is the file up to the end of the previous line (at most
 * the last `contextChars` characters); the right choice is "\n" + that line.
 * The three distractors are eligible lines of *other* files, stripped and
 * given the right line's indentation (so indentation alone does not give the
 * answer), distinct from each other and from the right line. The choices are
 * then shuffled. The newline starts each choice (not the context) because the
 * byte-level BPE merges a newline with the next line's indentation.
 */
import { InvalidOptionError, DataError } from "../errors.js";
import type { ClozeItem } from "./cloze.js";

export interface CodeClozeOptions {
  /** number of items (default 300) */
  items?: number;
  /** default 1 */
  seed?: number;
  /** choices per item, the right one included (default 4) */
  choices?: number;
  /** characters of context kept before the line (default 4000) */
  contextChars?: number;
  /** shortest eligible line, stripped (default 10) */
  minLineChars?: number;
}

/** mulberry32: a small seeded generator, identical on every platform. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pos {
  file: number;
  line: number;
}

const indentOf = (s: string): string => /^[ \t]*/.exec(s)![0];

/** Builds the task from source texts (one file per text). */
export function buildCodeCloze(texts: string[], o: CodeClozeOptions = {}): ClozeItem[] {
  const n = o.items ?? 300;
  const k = o.choices ?? 4;
  const contextChars = o.contextChars ?? 4000;
  const minLen = o.minLineChars ?? 10;
  for (const [name, v, min] of [["items", n, 1], ["choices", k, 2], ["contextChars", contextChars, 1], ["minLineChars", minLen, 1]] as const) {
    if (!Number.isSafeInteger(v) || v < min) throw new InvalidOptionError(`${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  const rand = rng(o.seed ?? 1);
  const lines = texts.map((t) => t.split("\n"));
  const eligible: Pos[] = [];
  lines.forEach((ls, file) => {
    let before = false; // a non-blank line above: the context is not empty
    ls.forEach((l, line) => {
      const s = l.trim();
      if (before && s.length >= minLen && /[A-Za-z]/.test(s)) eligible.push({ file, line });
      if (s !== "") before = true;
    });
  });
  const files = new Set(eligible.map((p) => p.file));
  if (files.size < 2) throw new DataError("the code cloze task needs eligible lines in at least 2 files (distractors come from other files)");
  if (eligible.length < n) throw new DataError(`the corpus has ${eligible.length} eligible lines; ${n} items asked for`);
  // positions without replacement: a partial Fisher-Yates shuffle of the eligible list
  const order = eligible.slice();
  const items: ClozeItem[] = [];
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rand() * (order.length - i));
    [order[i], order[j]] = [order[j]!, order[i]!];
    const p = order[i]!;
    const right = lines[p.file]![p.line]!;
    const indent = indentOf(right);
    const seen = new Set([right.trim()]);
    const distractors: string[] = [];
    for (let tries = 0; distractors.length < k - 1; tries++) {
      if (tries > 1000 * k) throw new DataError(`cannot find ${k - 1} distinct distractor lines from other files for ${p.file}:${p.line + 1}`);
      const q = eligible[Math.floor(rand() * eligible.length)]!;
      if (q.file === p.file) continue;
      const s = lines[q.file]![q.line]!.trim();
      if (seen.has(s)) continue;
      seen.add(s);
      distractors.push(indent + s);
    }
    const choices = [right, ...distractors].map((c) => "\n" + c);
    // shuffle the choices; remember where the right one went
    const perm = choices.map((_, x) => x);
    for (let x = perm.length - 1; x > 0; x--) {
      const y = Math.floor(rand() * (x + 1));
      [perm[x], perm[y]] = [perm[y]!, perm[x]!];
    }
    const context = lines[p.file]!.slice(0, p.line).join("\n");
    items.push({
      context: context.length > contextChars ? context.slice(context.length - contextChars) : context,
      choices: perm.map((x) => choices[x]!),
      answer: perm.indexOf(0),
      source: `${p.file}:${p.line + 1}`,
    });
  }
  return items;
}
