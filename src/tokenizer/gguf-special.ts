/**
 * Special tokens written in text, found as llama.cpp does
 * (tokenizer_st_partition in llama-vocab.cpp): the tokens of type CONTROL,
 * USER_DEFINED and UNKNOWN, longest text first, each cut out of every piece
 * of text still unmatched. Overlaps thus go to the longer token, wherever it
 * starts ("<|ab|>>" with tokens "<|ab" and "ab|>>" -> "<|", "ab|>>").
 */
import { TOKEN_TYPE } from "./gguf-keys.js";

const MATCHED: ReadonlySet<number> = new Set([TOKEN_TYPE.CONTROL, TOKEN_TYPE.USER_DEFINED, TOKEN_TYPE.UNKNOWN]);

/** Ids of the tokens matched in text, longest first (then by id). */
export function specialTokenIds(tokens: readonly string[], types: Int32Array): number[] {
  const ids: number[] = [];
  for (let i = 0; i < tokens.length; i++) if (MATCHED.has(types[i]!) && tokens[i]!.length > 0) ids.push(i);
  return ids.sort((a, b) => tokens[b]!.length - tokens[a]!.length || a - b);
}

/** `text` cut at the special tokens `ids` (from specialTokenIds): non-empty strings and token ids, in order. */
export function partitionSpecial(text: string, tokens: readonly string[], ids: readonly number[]): (string | number)[] {
  let frags: (string | number)[] = [text];
  for (const id of ids) {
    const tok = tokens[id]!;
    if (!frags.some((f) => typeof f === "string" && f.includes(tok))) continue;
    const next: (string | number)[] = [];
    for (const f of frags) {
      if (typeof f === "number" || !f.includes(tok)) {
        next.push(f);
        continue;
      }
      f.split(tok).forEach((part, k) => {
        if (k > 0) next.push(id);
        if (part.length > 0) next.push(part);
      });
    }
    frags = next;
  }
  return frags;
}
