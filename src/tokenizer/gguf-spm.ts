/**
 * The SentencePiece-style tokenizer of GGUF `llama` vocabularies, with the
 * semantics of llama.cpp's SPM tokenizer (llm_tokenizer_spm in
 * llama-vocab.cpp), which is the reference for GGUF files:
 *
 * - special tokens (types CONTROL, USER_DEFINED, UNKNOWN) written in the text
 *   are cut out first, longest token text first;
 * - each remaining piece of text gets a " " prepended (add_space_prefix) when
 *   it starts the text or follows a special token; spaces become "▁";
 * - the piece is split into characters, and adjacent symbols are merged
 *   greedily: always the pair whose concatenation is a vocabulary token of
 *   the highest score (ties: the leftmost pair), until no pair is a token;
 * - a symbol that is not a token (a character outside the vocabulary) is
 *   written as its UTF-8 bytes, "<0xNN>" tokens (byte fallback), else the
 *   unknown token.
 *
 * Decoding: NORMAL pieces with "▁" -> " ", BYTE tokens as their byte, other
 * tokens as their text (CONTROL and UNKNOWN ones dropped when skipping special
 * tokens, UNUSED ones always), the bytes read as UTF-8, and one leading space
 * removed from the first piece when add_space_prefix is set.
 */
import { TokenizerError } from "../errors.js";
import type { TokenizerBackend } from "../tokenizer-backend.js";
import { TOKEN_TYPE } from "./gguf-keys.js";
import { partitionSpecial, specialTokenIds } from "./gguf-special.js";

const SPACE_MARK = "\u2581";
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export interface SpmVocab {
  tokens: readonly string[];
  scores: Float32Array;
  types: Int32Array;
  /** prepend " " to text that starts the input or follows a special token */
  addSpacePrefix: boolean;
  unkTokenId: number | null;
}

/** A candidate merge of symbols `left` and `right` (adjacent), whose text is a token of `score`. */
interface Bigram { left: number; right: number; score: number; size: number }

/** Max-heap of bigrams: highest score first, then the leftmost. */
class BigramHeap {
  private readonly items: Bigram[] = [];
  get size(): number { return this.items.length; }
  private before(a: Bigram, b: Bigram): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }
  push(b: Bigram): void {
    const h = this.items;
    h.push(b);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): Bigram {
    const h = this.items;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

export class SpmBackend implements TokenizerBackend {
  readonly size: number;
  private readonly ids = new Map<string, number>();
  /** ids of the tokens matched in raw text, longest text first */
  private readonly specialIds: number[];
  /** byte value -> token id (-1: none) */
  private readonly byteIds = new Int32Array(256).fill(-1);
  /** id -> byte value of BYTE tokens (-1: not a byte token) */
  private readonly byteOf: Int16Array;
  private readonly utf8 = new TextDecoder("utf-8");
  private readonly enc = new TextEncoder();

  constructor(private readonly vocab: SpmVocab) {
    const { tokens, types } = vocab;
    this.size = tokens.length;
    tokens.forEach((t, i) => this.ids.set(t, i));
    this.byteOf = new Int16Array(tokens.length).fill(-1);
    tokens.forEach((t, i) => {
      if (types[i] !== TOKEN_TYPE.BYTE) return;
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
      if (!m) throw new TokenizerError(`token ${i} ${JSON.stringify(t)} has type BYTE but is not of the form <0xNN>`);
      this.byteOf[i] = parseInt(m[1]!, 16);
    });
    for (let b = 0; b < 256; b++) {
      const hex = `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
      const id = this.ids.get(hex) ?? (b < 0x80 ? this.ids.get(String.fromCharCode(b)) : undefined);
      if (id !== undefined) this.byteIds[b] = id;
    }
    this.specialIds = specialTokenIds(tokens, types);
  }

  encode(text: string): number[] {
    text = text.replace(LONE_SURROGATE, "\uFFFD");
    const out: number[] = [];
    let prevSpecial = true;
    for (const frag of partitionSpecial(text, this.vocab.tokens, this.specialIds)) {
      if (typeof frag === "number") {
        out.push(frag);
        prevSpecial = true;
        continue;
      }
      const piece = (this.vocab.addSpacePrefix && prevSpecial ? " " : "") + frag;
      this.encodePiece(piece.replaceAll(" ", SPACE_MARK), out);
      prevSpecial = false;
    }
    return out;
  }

  /** Greedy highest-score merging of one piece (spaces already "▁"), appended to `out`. */
  private encodePiece(piece: string, out: number[]): void {
    const text = Array.from(piece);
    const n = text.length;
    if (n === 0) return;
    const len = text.map((c) => c.length);
    const prev = text.map((_, i) => i - 1);
    const next = text.map((_, i) => (i + 1 < n ? i + 1 : -1));
    const heap = new BigramHeap();
    const tryAdd = (l: number, r: number): void => {
      if (l < 0 || r < 0) return;
      const id = this.ids.get(text[l]! + text[r]!);
      if (id === undefined) return;
      heap.push({ left: l, right: r, score: this.vocab.scores[id]!, size: len[l]! + len[r]! });
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    while (heap.size > 0) {
      const b = heap.pop();
      // stale: one side was merged away or grew since this pair was queued
      if (len[b.left] === 0 || len[b.right] === 0 || len[b.left]! + len[b.right]! !== b.size) continue;
      text[b.left] += text[b.right]!;
      len[b.left] = b.size;
      len[b.right] = 0;
      next[b.left] = next[b.right]!;
      if (next[b.left]! >= 0) prev[next[b.left]!] = b.left;
      tryAdd(prev[b.left]!, b.left);
      tryAdd(b.left, next[b.left]!);
    }
    for (let i = 0; i !== -1; i = next[i]!) {
      const id = this.ids.get(text[i]!);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      for (const byte of this.enc.encode(text[i]!)) {
        const bid = this.byteIds[byte]!;
        if (bid >= 0) out.push(bid);
        else if (this.vocab.unkTokenId !== null) out.push(this.vocab.unkTokenId);
        else {
          throw new TokenizerError(
            `cannot encode ${JSON.stringify(text[i])}: no token <0x${byte.toString(16).toUpperCase().padStart(2, "0")}> and no unknown token`,
          );
        }
      }
    }
  }

  decode(ids: number[], skipSpecialTokens: boolean): string {
    const { tokens, types } = this.vocab;
    const bytes: number[] = [];
    let first = true;
    for (const id of ids) {
      const type = types[id]!;
      if (skipSpecialTokens && (type === TOKEN_TYPE.CONTROL || type === TOKEN_TYPE.UNKNOWN)) continue;
      let piece: Uint8Array | number[];
      if (type === TOKEN_TYPE.UNUSED) piece = [];
      else if (type === TOKEN_TYPE.BYTE) piece = [this.byteOf[id]!];
      else if (type === TOKEN_TYPE.NORMAL) piece = this.enc.encode(tokens[id]!.replaceAll(SPACE_MARK, " "));
      else piece = this.enc.encode(tokens[id]!);
      let start = 0;
      if (first && this.vocab.addSpacePrefix && piece.length > 0 && piece[0] === 0x20) start = 1;
      first = false;
      for (let k = start; k < piece.length; k++) bytes.push(piece[k]!);
    }
    return this.utf8.decode(new Uint8Array(bytes));
  }

  tokenToId(tok: string): number | undefined {
    return this.ids.get(tok);
  }

  idToToken(id: number): string | undefined {
    return this.vocab.tokens[id];
  }
}
