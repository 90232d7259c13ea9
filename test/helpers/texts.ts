/** Texts to compare tokenizers on: shipped ones (always there) and the held-out set of ../shared (optional). */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { generationPrompt, loadProblems } from "../../src/eval/humaneval.js";
import { EMBEDDED_MODEL, REPO, sharedPath } from "./paths.js";

/** Unicode, odd whitespace, digits, contractions, special-token strings. */
export const TRICKY = [
  "héllo 你好 🙂 naïve — ∑ 𝔘 👨‍👩‍👧 ok",
  "<|endoftext|>x<fim_prefix>  \n\n\t a's 12345 ١٢٣ IT'S  \r\n x+=1;;  $$ ^^ ~~ |x| <=> ¿qué? «ok» 1,234.56 x²³ ½",
  "   \n  \n",
  "a\u00a0b\u2003c \u200b d\u3000e",
  "don't we'll I'M they've 'quoted' ''",
  "x = 1000000 + 3.14159e-10; y = 0x1F",
  "\uFFFD lone \uD800 surrogate",
];

export interface RefPrompt { prompt: string; input_ids: number[]; greedy_ids: number[]; greedy_text: string }

export function referencePrompts(): RefPrompt[] {
  return (JSON.parse(readFileSync(join(EMBEDDED_MODEL, "reference.json"), "utf8")) as { prompts: RefPrompt[] }).prompts;
}

/** The 164 HumanEval prompts (data/humaneval, shipped). */
export function humanEvalPrompts(): string[] {
  return loadProblems().map((p) => p.prompt);
}

/** The repo's own TypeScript sources (src/, shipped). */
export function repoSources(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts")) out.push(readFileSync(p, "utf8"));
    }
  };
  walk(join(REPO, "src"));
  return out;
}

/** python-heldout-test.jsonl's texts, or undefined when ../shared is absent. */
export function heldoutTexts(): string[] | undefined {
  const p = sharedPath("data", "python-heldout-test.jsonl");
  if (!p) return undefined;
  return readFileSync(p, "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => (JSON.parse(l) as { text: string }).text);
}

/** `s` with unpaired UTF-16 surrogates replaced by U+FFFD (what any UTF-8 encoding of it decodes back to). */
export function wellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

/** HumanEval prompts with their solutions, EOS after each, cut to n tokens: a long stream of code. */
export function codeStream(m: { encode(text: string): number[]; config: { eosTokenIds: number[] } }, n: number): number[] {
  const ids: number[] = [];
  for (const p of loadProblems()) {
    if (ids.length >= n) break;
    ids.push(...m.encode(generationPrompt(p) + p.canonical_solution), m.config.eosTokenIds[0]!);
  }
  return ids.slice(0, n);
}
