/**
 * The vocabulary as byte strings, in a trie, for grammar masking (automaton.ts): each token id's
 * bytes as the model's text gets them, so a walk down the trie under a grammar state finds every
 * token the grammar allows in one pass over their shared prefixes.
 *
 * A token's bytes: a byte-level BPE token (GPT-2's byte-to-unicode alphabet) maps back char by
 * char; a "<0xNN>" byte-fallback token is that byte; any other token is its text after a fixed
 * prefix token (decode([p, id]) minus decode([p]): SentencePiece's leading-space handling applies
 * to the prefix, not to the token), as UTF-8. Special tokens (which skipSpecialTokens removes),
 * tokens whose bytes cannot be told (a U+FFFD in the text) and ids past the tokenizer's vocabulary
 * get no bytes: a grammar never allows them (EOS is handled by the automaton itself).
 *
 * Built once per tokenizer and output size (about 0.1 s for 16k tokens) and cached.
 */
import type { Tokenizer } from "../tokenizer.js";

/** The token trie in flat arrays: node n's edges are [edgeStart[n], edgeStart[n+1]); its tokens [tokStart[n], tokStart[n+1]). */
export interface VocabTrie {
  /** the model's output size (logits length) */
  size: number;
  /** bytes of each id (null: never allowed) */
  bytes: (Uint8Array | null)[];
  edgeStart: Int32Array;
  edgeByte: Uint8Array;
  edgeChild: Int32Array;
  tokStart: Int32Array;
  tokIds: Int32Array;
  nodes: number;
}

/** GPT-2's byte <-> printable-char table of byte-level BPE: char code -> byte. */
function byteLevelDecoder(): Map<number, number> {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return new Map(cs.map((c, i) => [c, bs[i]!]));
}

const utf8 = new TextEncoder();
const lossy = new TextDecoder("utf-8", { fatal: false });
const REPLACEMENT = "\uFFFD";

/** Each id's bytes (see the file comment); `size`: the model's output size. */
export function tokenBytes(tok: Tokenizer, size: number): (Uint8Array | null)[] {
  const byteLevel = byteLevelDecoder();
  const out: (Uint8Array | null)[] = new Array<Uint8Array | null>(size).fill(null);
  const n = Math.min(size, tok.vocabSize);
  // a prefix token that decodes to plain text ("a"), so leading spaces of the token survive
  const pre = tok.encode("a");
  const prefix = pre.length === 1 ? pre : null;
  const preText = prefix ? tok.decode(prefix) : "";
  /** One id the slow way: its own decodings. */
  const single = (id: number): Uint8Array | null => {
    const text = tok.decode([id]);
    if (text === "" || tok.decode([id], { skipSpecialTokens: true }) === "") return null; // nothing, or a special token
    const raw = tok.idToToken(id);
    const mapped = raw === undefined ? null : mapBytes(raw, byteLevel);
    if (mapped && lossy.decode(mapped) === text) return mapped;
    const m = raw === undefined ? null : /^<0x([0-9A-Fa-f]{2})>$/.exec(raw);
    if (m) return Uint8Array.of(parseInt(m[1]!, 16));
    let s = text;
    if (prefix) {
      const both = tok.decode([...prefix, id]);
      if (both.startsWith(preText)) s = both.slice(preText.length);
    }
    return s === "" || s.includes(REPLACEMENT) ? null : utf8.encode(s);
  };
  // Chunks of ids at once: when a chunk has no special token (its text is the same with them
  // skipped) and its tokens all map through the byte-level table to the chunk's text, the map is
  // right for each (a byte-level tokenizer decodes the joined bytes as UTF-8, as TextDecoder does).
  const CHUNK = 256;
  for (let lo = 0; lo < n; lo += CHUNK) {
    const ids: number[] = [];
    for (let id = lo; id < Math.min(n, lo + CHUNK); id++) ids.push(id);
    const text = tok.decode(ids);
    const mapped = ids.map((id) => {
      const raw = tok.idToToken(id);
      return raw === undefined ? null : mapBytes(raw, byteLevel);
    });
    if (mapped.every((b) => b !== null) && text === tok.decode(ids, { skipSpecialTokens: true })) {
      const all = new Uint8Array(mapped.reduce((a, b) => a + b!.length, 0));
      let at = 0;
      for (const b of mapped) (all.set(b!, at), (at += b!.length));
      if (lossy.decode(all) === text) {
        ids.forEach((id, i) => (out[id] = mapped[i]!));
        continue;
      }
    }
    for (const id of ids) out[id] = single(id);
  }
  return out;
}

/** A byte-level BPE token's bytes, or null when a char is outside the table. */
function mapBytes(raw: string, table: Map<number, number>): Uint8Array | null {
  const out = new Uint8Array(raw.length);
  let k = 0;
  for (const ch of raw) {
    const b = table.get(ch.codePointAt(0)!);
    if (b === undefined) return null;
    out[k++] = b;
  }
  return k ? out.subarray(0, k) : null;
}

/** Builds the trie of the ids' byte strings. */
export function buildTrie(bytes: (Uint8Array | null)[]): VocabTrie {
  // children as maps while building, then flattened breadth-first
  const kids: Map<number, number>[] = [new Map()];
  const toks: number[][] = [[]];
  bytes.forEach((b, id) => {
    if (!b) return;
    let n = 0;
    for (const x of b) {
      let c = kids[n]!.get(x);
      if (c === undefined) {
        c = kids.length;
        kids.push(new Map());
        toks.push([]);
        kids[n]!.set(x, c);
      }
      n = c;
    }
    toks[n]!.push(id);
  });
  const nodes = kids.length;
  const edgeStart = new Int32Array(nodes + 1), tokStart = new Int32Array(nodes + 1);
  let edges = 0, ntok = 0;
  for (let n = 0; n < nodes; n++) {
    edgeStart[n] = edges;
    tokStart[n] = ntok;
    edges += kids[n]!.size;
    ntok += toks[n]!.length;
  }
  edgeStart[nodes] = edges;
  tokStart[nodes] = ntok;
  const edgeByte = new Uint8Array(edges), edgeChild = new Int32Array(edges), tokIds = new Int32Array(ntok);
  for (let n = 0; n < nodes; n++) {
    let e = edgeStart[n]!;
    for (const [b, c] of [...kids[n]!].sort((x, y) => x[0] - y[0])) {
      edgeByte[e] = b;
      edgeChild[e++] = c;
    }
    tokIds.set(toks[n]!, tokStart[n]!);
  }
  return { size: bytes.length, bytes, edgeStart, edgeByte, edgeChild, tokStart, tokIds, nodes };
}

const cache = new WeakMap<Tokenizer, Map<number, VocabTrie>>();

/** The (cached) trie of a tokenizer's vocabulary for a model with `size` outputs. */
export function vocabTrie(tok: Tokenizer, size: number): VocabTrie {
  let bySize = cache.get(tok);
  if (!bySize) cache.set(tok, (bySize = new Map()));
  let t = bySize.get(size);
  if (!t) bySize.set(size, (t = buildTrie(tokenBytes(tok, size))));
  return t;
}
