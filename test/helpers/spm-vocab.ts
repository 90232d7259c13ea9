/**
 * A small SentencePiece-style (`llama`) vocabulary built from a corpus, for
 * testing the GGUF SPM tokenizer against llama.cpp: <unk>, <s>, </s>, the 256
 * byte tokens, a few user-defined / control / unused tokens, the corpus's
 * characters (minus some, which then need byte fallback) and its most
 * frequent substrings, scored coarsely so that many scores tie.
 */
import { gv } from "../../src/formats/gguf-write.js";
import type { GgufValue } from "../../src/formats/gguf-types.js";

export const T = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export const SPM_CORPUS = `
The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away.
def fibonacci(n):
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
    return fibonacci(n - 1) + fibonacci(n - 2)
for i in range(10): print(i, fibonacci(i))
Le renard brun saute par-dessus le chien paresseux. Où est la bibliothèque ? Très bien, merci.
El zorro marrón salta sobre el perro perezoso. ¿Dónde está la estación? Mañana.
Der schnelle braune Fuchs springt über den faulen Hund. Größe, Straße, Übung.
我们 今天 学习 机器 学习 和 自然 语言 处理。 你好 世界。
Tokenizers split text into pieces; pieces become ids; ids become vectors.
the then there these those this that than thin thing think thinking
`;

export interface SpmSpec {
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
}

/** Characters left out of the vocabulary (they need byte fallback). */
export const NOT_IN_VOCAB = ["好", "ñ", "Ü", "\n", "\t", "?"];

export function buildSpmVocab(nPieces = 800, omitBytes: readonly number[] = []): SpmSpec {
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const add = (t: string, score: number, type: number): void => {
    tokens.push(t);
    scores.push(score);
    types.push(type);
  };
  add("<unk>", 0, T.UNKNOWN);
  add("<s>", 0, T.CONTROL);
  add("</s>", 0, T.CONTROL);
  for (let b = 0; b < 256; b++) {
    if (!omitBytes.includes(b)) add(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, 0, T.BYTE);
  }
  add("<tool>", 0, T.USER_DEFINED);
  add("<sep>", 0, T.CONTROL);
  add("<unused0>", 0, T.UNUSED);

  const words = SPM_CORPUS.split(/\s+/).filter((w) => w.length > 0).map((w) => "\u2581" + w);
  const chars = new Set<string>();
  const counts = new Map<string, number>();
  for (const w of words) {
    const cs = Array.from(w);
    for (const c of cs) chars.add(c);
    for (let i = 0; i < cs.length; i++) {
      for (let len = 2; len <= 8 && i + len <= cs.length; len++) {
        const s = cs.slice(i, i + len).join("");
        counts.set(s, (counts.get(s) ?? 0) + 1);
      }
    }
  }
  const pieces = [...counts.entries()]
    .map(([s, c]) => ({ s, weight: c + Array.from(s).length }))
    .sort((a, b) => b.weight - a.weight || (a.s < b.s ? -1 : a.s > b.s ? 1 : 0))
    .slice(0, nPieces);
  // coarse scores: many ties, which llama.cpp breaks by position
  for (const p of pieces) add(p.s, -Math.round(40 / Math.sqrt(p.weight)) / 2, T.NORMAL);
  const sortedChars = [...chars].sort();
  sortedChars.forEach((c, i) => {
    if (!NOT_IN_VOCAB.includes(c)) add(c, -100 - (i % 7), T.NORMAL);
  });
  return { tokens, scores: Float32Array.from(scores), types: Int32Array.from(types) };
}

/** tokenizer.ggml.* entries for an SPM vocabulary, with llama.cpp's defaults written out (or left out with `minimal`). */
export function spmEntries(v: SpmSpec, extra: [string, GgufValue][] = [], minimal = false): [string, GgufValue][] {
  const e: [string, GgufValue][] = [
    ["tokenizer.ggml.model", gv.str("llama")],
    ["tokenizer.ggml.tokens", gv.arr("string", v.tokens)],
    ["tokenizer.ggml.scores", gv.arr("f32", v.scores)],
    ["tokenizer.ggml.token_type", gv.arr("i32", v.types)],
  ];
  if (!minimal) {
    e.push(
      ["tokenizer.ggml.bos_token_id", gv.u32(1)],
      ["tokenizer.ggml.eos_token_id", gv.u32(2)],
      ["tokenizer.ggml.unknown_token_id", gv.u32(0)],
      ["tokenizer.ggml.add_bos_token", gv.bool(true)],
      ["tokenizer.ggml.add_eos_token", gv.bool(false)],
    );
  }
  const keys = new Set(extra.map(([k]) => k));
  return [...e.filter(([k]) => !keys.has(k)), ...extra];
}
