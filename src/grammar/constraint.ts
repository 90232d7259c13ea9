/**
 * Constrained decoding as a logits processor: GenerateOptions' `grammar` (GBNF text) or
 * `responseFormat` (JSON / a JSON schema) becomes a grammar; each step the logits of the tokens
 * the grammar refuses become -Infinity before the sampler sees them, and EOS is allowed only
 * where the grammar is complete. Works with greedy decoding and every sampling option, streaming
 * and stop strings (the stop string still cuts the text).
 *
 * Cost per token: a cached mask per grammar state (automaton.ts), applied in one pass over the
 * logits; greedy decoding first checks the unconstrained choice, which the grammar usually allows,
 * by walking only that token's bytes. docs/GRAMMAR.md has the measurements.
 */
import { GrammarError, InvalidOptionError } from "../errors.js";
import type { Tokenizer } from "../tokenizer.js";
import { GrammarAutomaton, type State } from "./automaton.js";
import { parseGbnf, type Grammar } from "./gbnf.js";
import { jsonObjectGbnf, schemaToGbnf } from "./json-schema.js";
import { vocabTrie, type VocabTrie } from "./vocab.js";

/**
 * OpenAI's response_format: plain text, any JSON object, or JSON matching a schema
 * (`json_schema: { name, schema, strict }`, or the schema directly as `schema`).
 */
export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object"; schema?: object }
  | { type: "json_schema"; json_schema?: { schema?: object | boolean; name?: string; strict?: boolean | null; description?: string }; schema?: object | boolean };

export interface ConstraintOptions {
  responseFormat?: ResponseFormat;
  grammar?: string;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/** The GBNF text of the options, or null for unconstrained; bad shapes are InvalidOptionErrors, bad schemas GrammarErrors. */
export function grammarText(o: ConstraintOptions): string | null {
  const rf = o.responseFormat as unknown;
  if (o.grammar !== undefined && rf !== undefined && !(isObj(rf) && rf.type === "text")) {
    throw new InvalidOptionError("give grammar or responseFormat, not both");
  }
  if (o.grammar !== undefined) {
    if (typeof o.grammar !== "string") throw new InvalidOptionError("grammar must be a string of GBNF text");
    return o.grammar;
  }
  if (rf === undefined) return null;
  if (!isObj(rf)) throw new InvalidOptionError('responseFormat must be { type: "text" | "json_object" | "json_schema", ... }');
  switch (rf.type) {
    case "text":
      return null;
    case "json_object":
      return rf.schema !== undefined ? schemaToGbnf(rf.schema) : jsonObjectGbnf();
    case "json_schema": {
      const js = rf.json_schema;
      if (js !== undefined && !isObj(js)) throw new InvalidOptionError("responseFormat.json_schema must be an object { name, schema, strict }");
      const schema = js?.schema ?? rf.schema;
      if (schema === undefined) throw new InvalidOptionError("responseFormat json_schema needs a schema (json_schema.schema)");
      return schemaToGbnf(schema);
    }
    default:
      throw new InvalidOptionError(`responseFormat.type must be "text", "json_object" or "json_schema", got ${JSON.stringify(rf.type)?.slice(0, 40)}`);
  }
}

/** Parsed grammars by text (an LRU of a few; a server sees the same schema again and again). */
const parsed = new Map<string, { g: Grammar; automata: WeakMap<VocabTrie, GrammarAutomaton> }>();
const MAX_PARSED = 16;

function compiled(text: string): { g: Grammar; automata: WeakMap<VocabTrie, GrammarAutomaton> } {
  let c = parsed.get(text);
  if (c) {
    parsed.delete(text);
  } else {
    c = { g: parseGbnf(text), automata: new WeakMap() };
    if (parsed.size >= MAX_PARSED) parsed.delete(parsed.keys().next().value!);
  }
  parsed.set(text, c);
  return c;
}

/** Checks the options' grammar or schema (parsing it): what validateGenerateOptions calls. */
export function checkConstraint(o: ConstraintOptions): boolean {
  const text = grammarText(o);
  if (text === null) return false;
  compiled(text);
  return true;
}

/** One generation's grammar state over a model's vocabulary. */
export class TokenConstraint {
  private state: State;
  private readonly scratch: Float32Array;
  /** masking work done, for the measurements: ms spent in mask() and accept() */
  ms = 0;

  private constructor(private readonly auto: GrammarAutomaton, private readonly vocab: VocabTrie, private readonly eos: number[]) {
    this.state = auto.start;
    this.scratch = new Float32Array(vocab.size);
  }

  /** The constraint of the options for a model with `size` outputs, or null when unconstrained. */
  static of(o: ConstraintOptions, tok: Tokenizer, size: number, eos: number[]): TokenConstraint | null {
    const text = grammarText(o);
    if (text === null) return null;
    const c = compiled(text);
    const vocab = vocabTrie(tok, size);
    let auto = c.automata.get(vocab);
    if (!auto) c.automata.set(vocab, (auto = new GrammarAutomaton(c.g, vocab)));
    return new TokenConstraint(auto, vocab, eos.filter((id) => id >= 0 && id < size));
  }

  /** Whether the grammar allows token id now. */
  allows(id: number): boolean {
    if (this.eos.includes(id)) return this.state.accepting;
    const b = this.vocab.bytes[id];
    return !!b && this.auto.advance(this.state, b) !== null;
  }

  /** The logits with every refused token at -Infinity (a buffer reused by the next call). */
  mask(logits: Float32Array): Float32Array {
    const t0 = performance.now();
    const m = this.auto.mask(this.state);
    const out = this.scratch;
    if (m.allowed) {
      out.fill(-Infinity);
      const ids = m.ids;
      for (let i = 0; i < ids.length; i++) out[ids[i]!] = logits[ids[i]!]!;
    } else {
      out.set(logits);
      const ids = m.ids;
      for (let i = 0; i < ids.length; i++) out[ids[i]!] = -Infinity;
    }
    for (const e of this.eos) out[e] = this.state.accepting ? logits[e]! : -Infinity;
    if (m.count === 0 && !(this.state.accepting && this.eos.length)) {
      throw new GrammarError("grammar: no token of the vocabulary can continue the text here");
    }
    this.ms += performance.now() - t0;
    return out;
  }

  /** Moves past token id (which the grammar must allow). */
  accept(id: number): void {
    const t0 = performance.now();
    if (this.eos.includes(id)) {
      if (!this.state.accepting) throw new GrammarError(`grammar: EOS (token ${id}) before the grammar is complete`);
    } else {
      const b = this.vocab.bytes[id];
      const next = b ? this.auto.advance(this.state, b) : null;
      if (!next) throw new GrammarError(`grammar: token ${id} is not allowed here`);
      this.state = next;
    }
    this.ms += performance.now() - t0;
  }

  /** The grammar is complete and nothing can follow: generation ends. */
  get complete(): boolean {
    if (!this.state.accepting) return false;
    if (this.auto.complete(this.state)) return true;
    // a model without EOS ends where no token can go on
    return this.eos.length === 0 && this.auto.mask(this.state).count === 0;
  }
}
