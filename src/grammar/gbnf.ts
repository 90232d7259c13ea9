/**
 * GBNF (llama.cpp's grammar format, grammars/README.md there) parsed into flat rule tables.
 *
 *   root   ::= object
 *   object ::= "{" ws ( pair ( "," ws pair )* )? "}"   # comments run to the end of the line
 *   ws     ::= [ \t\n]*
 *
 * Terminals: "literals" and [character classes] ([^...] negated, a-z ranges, `.` any character),
 * with the escapes \n \r \t \\ \" \[ \] \- \xHH \uHHHH \UHHHHHHHH. Operators: grouping ( ),
 * alternation |, repetition * + ? {m} {m,} {m,n}. Outside parentheses a newline ends a rule.
 * Repetitions and groups become generated rules (right-recursive: `x*` is `R ::= x R |`).
 *
 * The result (Grammar) is what the automaton (automaton.ts) walks: every alternative is a run of
 * elements in `kind`/`arg` ended by an END element. Bad text, an undefined rule, a missing root and
 * left recursion are GrammarErrors naming the line.
 */
import { GrammarError } from "../errors.js";

export const END = 0, CHAR = 1, REF = 2;

/** A set of code points: sorted, merged [lo, hi] pairs, or their complement. */
export interface CharSet {
  ranges: Int32Array;
  negate: boolean;
}

export interface Grammar {
  /** element kinds (END, CHAR, REF) of every alternative, back to back */
  kind: Uint8Array;
  /** CHAR: index into `sets`; REF: rule index */
  arg: Int32Array;
  sets: CharSet[];
  /** per rule, the element index where each alternative starts */
  alts: Int32Array[];
  names: string[];
  root: number;
}

/** The most elements a grammar may expand to (repetition counts multiply its size). */
export const MAX_ELEMENTS = 1 << 20;
const MAX_DEPTH = 200; // nested parentheses
const MAX_REPEAT = 10_000;

type Item = { kind: number; arg: number }[];

/** True when cp is in the set. */
export function setHas(s: CharSet, cp: number): boolean {
  const r = s.ranges;
  let hit = false;
  for (let i = 0; i < r.length && !hit; i += 2) hit = cp >= r[i]! && cp <= r[i + 1]!;
  return hit !== s.negate;
}

/** True when some code point in [lo, hi] is in the set. */
export function setMeets(s: CharSet, lo: number, hi: number): boolean {
  const r = s.ranges;
  if (!s.negate) {
    for (let i = 0; i < r.length; i += 2) if (r[i]! <= hi && r[i + 1]! >= lo) return true;
    return false;
  }
  // the complement meets [lo, hi] unless the (sorted, merged) ranges cover it
  let at = lo;
  for (let i = 0; i < r.length && at <= hi; i += 2) {
    if (r[i]! > at) return true;
    if (r[i + 1]! >= at) at = r[i + 1]! + 1;
  }
  return at <= hi;
}

function mergeRanges(pairs: number[]): Int32Array {
  const list: [number, number][] = [];
  for (let i = 0; i < pairs.length; i += 2) list.push([pairs[i]!, pairs[i + 1]!]);
  list.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of list) {
    const n = out.length;
    if (n && lo <= out[n - 1]! + 1) out[n - 1] = Math.max(out[n - 1]!, hi);
    else out.push(lo, hi);
  }
  return Int32Array.from(out);
}

const isWord = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_-]/.test(c);

class Parser {
  private i = 0;
  private readonly rules: (Item[][] | null)[] = []; // alternatives of items (an item: a symbol's elements)
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];
  private readonly firstUse = new Map<number, number>(); // rule -> offset of its first reference
  private readonly defined = new Set<number>();
  private readonly sets: CharSet[] = [];
  private readonly setIds = new Map<string, number>();
  private size = 0;

  constructor(private readonly src: string) {}

  private fail(msg: string, at = this.i): never {
    const line = this.src.slice(0, at).split("\n").length;
    const col = at - this.src.lastIndexOf("\n", at - 1);
    const near = JSON.stringify(this.src.slice(at, at + 20));
    throw new GrammarError(`grammar: ${msg} at line ${line}, column ${col} (near ${near})`);
  }

  private ruleId(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
      this.rules.push(null);
    }
    return id;
  }

  private newRule(base: string, alts: Item[][]): number {
    // generated names hold "#", which no rule written in the grammar can
    const id = this.ruleId(`${base}#group${this.names.length}`);
    this.rules[id] = alts;
    this.defined.add(id);
    for (const a of alts) for (const it of a) this.grow(it.length);
    this.grow(alts.length);
    return id;
  }

  private grow(n: number): void {
    this.size += n;
    if (this.size > MAX_ELEMENTS) this.fail(`grammar expands to more than ${MAX_ELEMENTS} elements`);
  }

  private setId(ranges: number[], negate: boolean): number {
    const merged = mergeRanges(ranges);
    const key = `${negate ? "^" : ""}${merged.join(",")}`;
    let id = this.setIds.get(key);
    if (id === undefined) {
      id = this.sets.length;
      this.sets.push({ ranges: merged, negate });
      this.setIds.set(key, id);
    }
    return id;
  }

  /** Skips blanks and comments; newlines only when `newlines`. */
  private space(newlines: boolean): void {
    const s = this.src;
    while (this.i < s.length) {
      const c = s[this.i]!;
      if (c === "#") {
        while (this.i < s.length && s[this.i] !== "\n" && s[this.i] !== "\r") this.i++;
      } else if (c === " " || c === "\t" || (newlines && (c === "\n" || c === "\r"))) this.i++;
      else break;
    }
  }

  private name(): string {
    const start = this.i;
    while (isWord(this.src[this.i])) this.i++;
    if (this.i === start) this.fail("expecting a rule name");
    return this.src.slice(start, this.i);
  }

  private hex(len: number): number {
    const h = this.src.slice(this.i, this.i + len);
    if (h.length !== len || !/^[0-9a-fA-F]+$/.test(h)) this.fail(`expecting ${len} hex digits`);
    this.i += len;
    const v = parseInt(h, 16);
    if (v > 0x10ffff) this.fail(`code point ${h} beyond U+10FFFF`, this.i - len);
    return v;
  }

  /** One (possibly escaped) character of a literal or class, as a code point. */
  private char(): number {
    const s = this.src;
    if (this.i >= s.length) this.fail("unexpected end of grammar");
    if (s[this.i] === "\\") {
      const e = s[this.i + 1];
      this.i += 2;
      switch (e) {
        case "x": return this.hex(2);
        case "u": return this.hex(4);
        case "U": return this.hex(8);
        case "n": return 10;
        case "r": return 13;
        case "t": return 9;
        case "\\": case "\"": case "[": case "]": case "-": case "/": return e.codePointAt(0)!;
        default: this.fail(`unknown escape \\${e ?? ""}`, this.i - 2);
      }
    }
    const cp = s.codePointAt(this.i)!;
    this.i += cp > 0xffff ? 2 : 1;
    return cp;
  }

  parse(): Grammar {
    this.space(true);
    while (this.i < this.src.length) {
      const at = this.i;
      const name = this.name();
      const id = this.ruleId(name);
      if (this.defined.has(id)) this.fail(`rule ${name} defined twice`, at);
      this.space(false);
      if (!this.src.startsWith("::=", this.i)) this.fail("expecting ::=");
      this.i += 3;
      this.space(true);
      this.rules[id] = this.alternates(name, 0);
      this.defined.add(id);
      const c = this.src[this.i];
      if (c === "\r" || c === "\n") this.i++;
      else if (c !== undefined) this.fail("expecting newline or end");
      this.space(true);
    }
    for (const [id, at] of this.firstUse) if (!this.defined.has(id)) this.fail(`undefined rule ${this.names[id]}`, at);
    const root = this.ids.get("root");
    if (root === undefined || !this.defined.has(root)) throw new GrammarError("grammar: no rule named root");
    return this.flatten(root);
  }

  private alternates(name: string, depth: number): Item[][] {
    const alts = [this.sequence(name, depth)];
    while (this.src[this.i] === "|") {
      this.i++;
      this.space(true);
      alts.push(this.sequence(name, depth));
    }
    return alts;
  }

  private sequence(name: string, depth: number): Item[] {
    const nested = depth > 0;
    const items: Item[] = [];
    const s = this.src;
    for (;;) {
      const c = s[this.i];
      if (c === undefined || c === "|" || c === ")" || c === "\n" || c === "\r") break;
      const at = this.i;
      if (c === '"') {
        this.i++;
        const item: Item = [];
        while (s[this.i] !== '"') {
          if (this.i >= s.length) this.fail("unterminated literal", at);
          const cp = this.char();
          item.push({ kind: CHAR, arg: this.setId([cp, cp], false) });
        }
        this.i++;
        items.push(item);
        this.grow(item.length);
      } else if (c === "[") {
        this.i++;
        const negate = s[this.i] === "^";
        if (negate) this.i++;
        const ranges: number[] = [];
        while (s[this.i] !== "]") {
          if (this.i >= s.length) this.fail("unterminated character class", at);
          const lo = this.char();
          if (s[this.i] === "-" && s[this.i + 1] !== "]" && this.i + 1 < s.length) {
            this.i++;
            const hi = this.char();
            if (hi < lo) this.fail("character range out of order", at);
            ranges.push(lo, hi);
          } else ranges.push(lo, lo);
        }
        this.i++;
        items.push([{ kind: CHAR, arg: this.setId(ranges, negate) }]);
        this.grow(1);
      } else if (c === ".") {
        this.i++;
        items.push([{ kind: CHAR, arg: this.setId([], true) }]);
        this.grow(1);
      } else if (isWord(c)) {
        const id = this.ruleId(this.name());
        if (!this.firstUse.has(id)) this.firstUse.set(id, at);
        items.push([{ kind: REF, arg: id }]);
        this.grow(1);
      } else if (c === "(") {
        if (depth >= MAX_DEPTH) this.fail(`parentheses nested deeper than ${MAX_DEPTH}`);
        this.i++;
        this.space(true);
        const alts = this.alternates(name, depth + 1);
        if (s[this.i] !== ")") this.fail("expecting ) to close the group", at);
        this.i++;
        items.push([{ kind: REF, arg: this.newRule(name, alts) }]);
      } else if (c === "*" || c === "+" || c === "?" || c === "{") {
        if (items.length === 0) this.fail(`${c} with nothing before it`);
        this.i++;
        let min = 0, max = Infinity;
        if (c === "+") min = 1;
        else if (c === "?") max = 1;
        else if (c === "{") {
          this.space(nested);
          min = this.int();
          this.space(nested);
          max = min;
          if (s[this.i] === ",") {
            this.i++;
            this.space(nested);
            max = /[0-9]/.test(s[this.i] ?? "") ? this.int() : Infinity;
            this.space(nested);
          }
          if (s[this.i] !== "}") this.fail("expecting } to close the repetition", at);
          this.i++;
          if (max < min) this.fail(`repetition {${min},${max}} has max < min`, at);
        }
        items.push(...this.repeat(name, items.pop()!, min, max));
      } else this.fail(`unexpected ${JSON.stringify(c)}`);
      this.space(nested);
    }
    return items;
  }

  private int(): number {
    const m = /^[0-9]+/.exec(this.src.slice(this.i, this.i + 12));
    if (!m) this.fail("expecting a number");
    this.i += m[0].length;
    const v = Number(m[0]);
    if (v > MAX_REPEAT) this.fail(`repetition count ${v} above ${MAX_REPEAT}`);
    return v;
  }

  /** `x{min,max}` as items: min copies of x, then x* (max infinite) or nested optionals. */
  private repeat(name: string, x: Item, min: number, max: number): Item[] {
    const out: Item[] = [];
    for (let k = 0; k < min; k++) out.push(x);
    this.grow(x.length * min);
    if (max === Infinity) {
      // R ::= x R |
      const id = this.ruleId(`${name}#star${this.names.length}`);
      this.rules[id] = [[x, [{ kind: REF, arg: id }]], []];
      this.defined.add(id);
      this.grow(x.length + 3);
      out.push([{ kind: REF, arg: id }]);
    } else if (max > min) {
      // x (x (x)?)? ... : opt_k ::= x opt_{k-1} |
      let inner = -1;
      for (let k = 0; k < max - min; k++) {
        const id = this.ruleId(`${name}#opt${this.names.length}`);
        this.rules[id] = [inner < 0 ? [x] : [x, [{ kind: REF, arg: inner }]], []];
        this.defined.add(id);
        this.grow(x.length + 3);
        inner = id;
      }
      out.push([{ kind: REF, arg: inner }]);
    }
    return out;
  }

  /** The rules as flat element arrays; rejects left recursion. */
  private flatten(root: number): Grammar {
    const rules = this.rules as Item[][][];
    checkLeftRecursion(rules, this.names);
    const kind: number[] = [], arg: number[] = [];
    const alts = rules.map((r) =>
      Int32Array.from(r.map((alt) => {
        const start = kind.length;
        for (const it of alt) for (const e of it) (kind.push(e.kind), arg.push(e.arg));
        kind.push(END);
        arg.push(0);
        return start;
      })),
    );
    return { kind: Uint8Array.from(kind), arg: Int32Array.from(arg), sets: this.sets, alts, names: this.names, root };
  }
}

/** A rule that can begin with itself (through rules that may match nothing) loops the automaton: refused. */
function checkLeftRecursion(rules: Item[][][], names: string[]): void {
  const nullable = new Array<boolean>(rules.length).fill(false);
  const itemNullable = (it: Item) => it.every((e) => e.kind === REF && nullable[e.arg]);
  for (let changed = true; changed; ) {
    changed = false;
    rules.forEach((r, id) => {
      if (!nullable[id] && r.some((alt) => alt.every(itemNullable))) changed = nullable[id] = true;
    });
  }
  // edges: rule -> rules it can start with
  const starts = rules.map((r) => {
    const out = new Set<number>();
    for (const alt of r) {
      outer: for (const it of alt) {
        for (const e of it) {
          if (e.kind !== REF) break outer;
          out.add(e.arg);
          if (!nullable[e.arg]) break outer;
        }
      }
    }
    return [...out];
  });
  const state = new Uint8Array(rules.length); // 0 new, 1 on the path, 2 done
  for (let r0 = 0; r0 < rules.length; r0++) {
    if (state[r0]) continue;
    const stack: [number, number][] = [[r0, 0]];
    state[r0] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [r, k] = top;
      if (k < starts[r]!.length) {
        top[1]++;
        const s = starts[r]![k]!;
        if (state[s] === 1) throw new GrammarError(`grammar: rule ${names[s]} is left-recursive (it can begin with itself)`);
        if (state[s] === 0) {
          state[s] = 1;
          stack.push([s, 0]);
        }
      } else {
        state[r] = 2;
        stack.pop();
      }
    }
  }
}

/** Parses GBNF text; GrammarError on anything wrong. */
export function parseGbnf(text: string): Grammar {
  if (typeof text !== "string") throw new GrammarError("grammar must be a string of GBNF text");
  return new Parser(text).parse();
}
