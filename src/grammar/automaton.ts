/**
 * A parsed grammar (gbnf.ts) run as llama.cpp's llama-grammar runs it, over bytes, with memo:
 *
 * - A **stack** is where the parse is: the element to match next, below it where to go on when
 *   that rule ends (tail calls push nothing, so `x*` loops at constant depth). Stacks are
 *   interned as (element, parent) nodes; node 0 is the empty stack: the grammar has matched.
 * - A **state** is the set of live stacks, each with a character element on top (rule
 *   references expanded), plus the bytes of a UTF-8 character begun but not finished.
 * - States form a lazy DFA over bytes: `next(state, byte)` is computed once and kept in the
 *   state's 256-entry table. A step then costs one array read per byte.
 * - The **mask** of a state, the token ids the grammar allows next, comes from one depth-first
 *   walk of the vocabulary trie (vocab.ts) through those transitions, and is cached per state.
 *
 * The caches are bounded (states and mask bytes); past the bound they are dropped and rebuilt.
 */
import { GrammarError } from "../errors.js";
import { CHAR, END, REF, setHas, setMeets, type Grammar } from "./gbnf.js";
import type { VocabTrie } from "./vocab.js";

export const DEAD = -1;
const UNKNOWN = -2;
/** the most DFA states kept (exported for tests that shrink it) */
export const LIMITS = { states: 20_000 };
const MAX_STACK_NODES = 2_000_000;
const MAX_MASK_INTS = 16 << 20; // cached mask entries (4 bytes each)

/** A DFA state: its stacks (sorted node ids), the pending UTF-8 bytes, its byte transitions. */
export interface State {
  id: number;
  stacks: Int32Array;
  /** code point bits of a multi-byte character begun; `need` continuation bytes still to come */
  cp: number;
  need: number;
  /** that character's total length (to refuse overlong forms) */
  len: number;
  /** the grammar is complete here (and no character is half read) */
  accepting: boolean;
  trans: Int32Array;
  key: string;
}

/** A mask: the allowed ids, or (when most are allowed) the disallowed ones. */
export interface Mask {
  ids: Int32Array;
  allowed: boolean;
  /** number of allowed ids (besides EOS) */
  count: number;
}

const MIN_CP = [0, 0, 0x80, 0x800, 0x10000];

export class GrammarAutomaton {
  private readonly g: Grammar;
  private readonly vocab: VocabTrie;
  // stack nodes: element index and parent node (node 0: the empty stack)
  private sPos: number[] = [-1];
  private sParent: number[] = [-1];
  private sIds = new Map<number, number>();
  private states: State[] = [];
  private stateIds = new Map<string, number>();
  private masks = new Map<number, Mask>();
  private maskInts = 0;
  private found = new Int32Array(0);
  /** the start state */
  readonly start: State;

  constructor(g: Grammar, vocab: VocabTrie) {
    this.g = g;
    this.vocab = vocab;
    const init = new Set<number>();
    for (const a of g.alts[g.root]!) this.expand(a, 0, init);
    this.start = this.intern(sortedIds(init), 0, 0, 0);
  }

  private node(pos: number, parent: number): number {
    const key = pos + this.g.kind.length * parent;
    let id = this.sIds.get(key);
    if (id === undefined) {
      id = this.sPos.length;
      if (id >= MAX_STACK_NODES) throw new GrammarError("grammar: the parse is nested too deeply");
      this.sPos.push(pos);
      this.sParent.push(parent);
      this.sIds.set(key, id);
    }
    return id;
  }

  /** Adds to `out` the stacks with a character on top reachable from element `pos` over `parent`. */
  private expand(pos0: number, parent0: number, out: Set<number>): void {
    const { kind, arg, alts } = this.g;
    const work = [pos0, parent0];
    const seen = new Set<number>();
    while (work.length) {
      const parent = work.pop()!, pos = work.pop()!;
      const key = pos + kind.length * parent;
      if (seen.has(key)) continue;
      seen.add(key);
      const k = kind[pos];
      if (k === CHAR) out.add(this.node(pos, parent));
      else if (k === END) {
        if (parent === 0) out.add(0);
        else work.push(this.sPos[parent]!, this.sParent[parent]!);
      } else if (k === REF) {
        // the continuation after the reference; none when the alternative ends there (a tail call)
        const cont = kind[pos + 1] === END ? parent : this.node(pos + 1, parent);
        for (const a of alts[arg[pos]!]!) work.push(a, cont);
      }
    }
  }

  private intern(stacks: Int32Array, cp: number, need: number, len: number): State {
    const key = `${stacks.join(",")}|${cp},${need},${len}`;
    const id = this.stateIds.get(key);
    if (id !== undefined) return this.states[id]!;
    if (this.states.length >= LIMITS.states) this.reset();
    const s: State = {
      id: this.states.length, stacks, cp, need, len, key,
      accepting: need === 0 && stacks.length > 0 && stacks[0] === 0,
      trans: new Int32Array(256).fill(UNKNOWN),
    };
    this.states.push(s);
    this.stateIds.set(key, s.id);
    return s;
  }

  /** Drops the DFA and masks (states already handed out re-intern through `live`). */
  private reset(): void {
    // states handed out keep working: their transitions (ids of this cache) are forgotten
    for (const s of this.states) s.trans.fill(UNKNOWN);
    this.states = [];
    this.stateIds.clear();
    this.masks.clear();
    this.maskInts = 0;
  }

  /** `s` as a state of the current cache (after a reset, its equal). */
  live(s: State): State {
    return this.states[s.id] === s ? s : this.intern(s.stacks, s.cp, s.need, s.len);
  }

  /** The stacks after matching code point cp. */
  private stepCp(stacks: Int32Array, cp: number): Int32Array {
    const { kind, arg, sets } = this.g;
    const out = new Set<number>();
    for (const st of stacks) {
      if (st === 0) continue;
      const pos = this.sPos[st]!;
      if (kind[pos] === CHAR && setHas(sets[arg[pos]!]!, cp)) this.expand(pos + 1, this.sParent[st]!, out);
    }
    return sortedIds(out);
  }

  /** Whether some stack can take a code point in [lo, hi]. */
  private meets(stacks: Int32Array, lo: number, hi: number): boolean {
    const { arg, sets } = this.g;
    for (const st of stacks) if (st !== 0 && setMeets(sets[arg[this.sPos[st]!]!]!, lo, hi)) return true;
    return false;
  }

  /** The state after byte b, or null (DEAD). */
  next(s: State, b: number): State | null {
    const t = s.trans[b]!;
    if (t >= 0) return this.states[t]!;
    if (t === DEAD) return null;
    const r = this.compute(s, b);
    // a reset inside compute() leaves `s` outside the cache: nothing to record then
    if (this.states[s.id] === s) s.trans[b] = r ? r.id : DEAD;
    return r;
  }

  private compute(s: State, b: number): State | null {
    let cp: number, need: number, len: number;
    if (s.need === 0) {
      if (b < 0x80) return this.after(s.stacks, b);
      if (b >= 0xc2 && b <= 0xdf) (cp = b & 0x1f), (need = 1), (len = 2);
      else if ((b & 0xf0) === 0xe0) (cp = b & 0x0f), (need = 2), (len = 3);
      else if (b >= 0xf0 && b <= 0xf4) (cp = b & 0x07), (need = 3), (len = 4);
      else return null;
    } else {
      if ((b & 0xc0) !== 0x80) return null;
      cp = (s.cp << 6) | (b & 0x3f);
      need = s.need - 1;
      len = s.len;
      if (need === 0) {
        if (cp < MIN_CP[len]! || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
        return this.after(s.stacks, cp);
      }
    }
    const lo = Math.max(cp << (6 * need), MIN_CP[len]!);
    const hi = Math.min((cp << (6 * need)) | ((1 << (6 * need)) - 1), 0x10ffff);
    if (lo > hi || !this.meets(s.stacks, lo, hi)) return null;
    return this.intern(s.stacks, cp, need, len);
  }

  private after(stacks: Int32Array, cp: number): State | null {
    const next = this.stepCp(stacks, cp);
    return next.length ? this.intern(next, 0, 0, 0) : null;
  }

  /** The state after a token's bytes, or null when the grammar refuses them. */
  advance(s: State, bytes: Uint8Array): State | null {
    let cur: State | null = this.live(s);
    for (let i = 0; i < bytes.length && cur; i++) cur = this.next(cur, bytes[i]!);
    return cur;
  }

  /** The ids allowed after state s (EOS not included: the caller adds it when s.accepting). */
  mask(s0: State): Mask {
    const s = this.live(s0);
    const hit = this.masks.get(s.id);
    if (hit) return hit;
    const v = this.vocab;
    if (this.found.length !== v.size) this.found = new Int32Array(v.size);
    const allowed = this.found;
    let count = 0;
    // depth-first over (trie node, state id); tokens end at the nodes reached
    const nodes: number[] = [0], sts: State[] = [s];
    while (nodes.length) {
      const n = nodes.pop()!, st = sts.pop()!;
      for (let e = v.edgeStart[n]!, end = v.edgeStart[n + 1]!; e < end; e++) {
        // (next() inlined for known transitions: this loop runs once per trie node reached)
        const b = v.edgeByte[e]!, t = st.trans[b]!;
        const ns = t >= 0 ? this.states[t]! : t === DEAD ? null : this.next(st, b);
        if (!ns) continue;
        const c = v.edgeChild[e]!;
        for (let k = v.tokStart[c]!, kend = v.tokStart[c + 1]!; k < kend; k++) allowed[count++] = v.tokIds[k]!;
        if (v.edgeStart[c + 1]! > v.edgeStart[c]!) {
          nodes.push(c);
          sts.push(ns);
        }
      }
    }
    let m: Mask;
    if (count * 2 <= v.size) m = { ids: allowed.slice(0, count), allowed: true, count };
    else {
      const on = new Uint8Array(v.size);
      for (let i = 0; i < count; i++) on[allowed[i]!] = 1;
      const dis = new Int32Array(v.size - count);
      for (let id = 0, k = 0; id < v.size; id++) if (!on[id]) dis[k++] = id;
      m = { ids: dis, allowed: false, count };
    }
    if (this.maskInts + m.ids.length > MAX_MASK_INTS) {
      this.masks.clear();
      this.maskInts = 0;
    }
    if (this.states[s.id] === s) {
      this.masks.set(s.id, m);
      this.maskInts += m.ids.length;
    }
    return m;
  }

  /** Nothing but the end can follow: the grammar matched and no stack wants more. */
  complete(s: State): boolean {
    return s.accepting && s.stacks.length === 1;
  }
}

function sortedIds(set: Set<number>): Int32Array {
  return Int32Array.from(set).sort();
}
