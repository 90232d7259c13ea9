/**
 * JSON Schema to GBNF (gbnf.ts), in the manner of llama.cpp's json-schema-to-grammar: every value
 * the grammar admits is JSON that the schema accepts.
 *
 * Supported: type (a name or a list), properties / required (properties in the schema's order,
 * the optional ones skippable), additionalProperties (false by default: llama.cpp's and OpenAI's
 * strict behaviour; true or a schema only for a map without declared properties), items /
 * prefixItems with minItems / maxItems, enum, const, anyOf (oneOf of one schema), allOf of objects, $ref to
 * #/$defs/..., #/definitions/... or # (recursion allowed), string minLength / maxLength,
 * string / number / integer / boolean / null, and {} or true for any JSON value. Annotations
 * (title, description, default, examples, ...) are ignored. Any other keyword would be a
 * constraint the output could break (pattern, format, minimum, ...): a GrammarError names it.
 *
 * Numbers are bounded as llama.cpp bounds them (at most 16 integral and 16 decimal digits);
 * whitespace between tokens is at most two newlines and 20 blanks, so a bounded schema gives a
 * bounded output.
 */
import { GrammarError } from "../errors.js";

const SPACE = '| " " | "\\n"{1,2} [ \\t]{0,20}';

const PRIMITIVES: Record<string, [string, string[]]> = {
  boolean: ['("true" | "false") space', []],
  null: ['"null" space', []],
  "decimal-part": ["[0-9]{1,16}", []],
  "integral-part": ["[0] | [1-9] [0-9]{0,15}", []],
  number: ['("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space', ["integral-part", "decimal-part"]],
  integer: ['("-"? integral-part) space', ["integral-part"]],
  char: ['[^"\\\\\\x7F\\x00-\\x1F] | [\\\\] (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})', []],
  string: ['"\\"" char* "\\"" space', ["char"]],
  value: ["object | array | string | number | boolean | null", ["object", "array", "string", "number", "boolean", "null"]],
  object: ['"{" space ( string ":" space value ("," space string ":" space value)* )? "}" space', ["string", "value"]],
  array: ['"[" space ( value ("," space value)* )? "]" space', ["value"]],
};

/** Keywords that describe and do not constrain. */
const ANNOTATIONS = new Set([
  "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly", "writeOnly",
  "$defs", "definitions", "name", "strict",
]);
/** Keywords this converter turns into grammar. */
const HANDLED = new Set([
  "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems",
  "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "minLength", "maxLength",
]);

type Schema = Record<string, unknown>;
const isObj = (x: unknown): x is Schema => typeof x === "object" && x !== null && !Array.isArray(x);

/** A GBNF string literal of `s`. */
export function gbnfLiteral(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (c === 10) out += "\\n";
    else if (c === 13) out += "\\r";
    else if (c === 9) out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return out + '"';
}

const MAX_RULES = 10_000;

class Converter {
  private readonly rules = new Map<string, string>();
  private readonly refs = new Map<string, string>();

  constructor(private readonly root: unknown) {}

  private fail(path: string, msg: string): never {
    throw new GrammarError(`json schema: ${msg} at ${path}`);
  }

  /** Adds a rule (named from `name`, made unique unless the same body is there); returns its name. */
  private add(name: string, body: string): string {
    const base = name.replace(/[^A-Za-z0-9-]+/g, "-").replace(/^-+|-+$/g, "") || "r";
    let n = base;
    for (let k = 1; this.rules.has(n) && this.rules.get(n) !== body; k++) n = `${base}${k}`;
    this.rules.set(n, body);
    if (this.rules.size > MAX_RULES) throw new GrammarError(`json schema: the grammar needs more than ${MAX_RULES} rules`);
    return n;
  }

  primitive(name: string): string {
    if (!this.rules.has(name)) {
      const [body, deps] = PRIMITIVES[name]!;
      this.rules.set(name, body);
      for (const d of deps) this.primitive(d);
    }
    return name;
  }

  private resolve(ref: string, path: string): unknown {
    if (!ref.startsWith("#")) this.fail(path, `only local $ref ("#/...") is supported, got ${JSON.stringify(ref).slice(0, 60)}`);
    let cur: unknown = this.root;
    for (const raw of ref.slice(1).split("/").slice(1)) {
      const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
      if (!isObj(cur) || !Object.hasOwn(cur, key)) this.fail(path, `$ref ${ref} points nowhere`);
      cur = cur[key];
    }
    return cur;
  }

  /** The rule (name) matching schema s; `name` suggests its name. */
  visit(s: unknown, name: string, path: string, depth = 0): string {
    if (depth > 64) this.fail(path, "nested deeper than 64 levels");
    if (s === true) return this.primitive("value");
    if (s === false) this.fail(path, "false admits no value");
    if (!isObj(s)) this.fail(path, "a schema must be an object or a boolean");
    for (const k of Object.keys(s)) {
      if (!HANDLED.has(k) && !ANNOTATIONS.has(k)) this.fail(path, `unsupported keyword ${JSON.stringify(k)}`);
    }
    if (s.$ref !== undefined) {
      if (typeof s.$ref !== "string") this.fail(path, "$ref must be a string");
      const known = this.refs.get(s.$ref);
      if (known) return known;
      const target = this.resolve(s.$ref, path);
      const base = `ref-${s.$ref === "#" ? "root" : s.$ref.split("/").pop()!}`.replace(/[^A-Za-z0-9-]+/g, "-");
      let rn = base;
      for (let k = 1; this.rules.has(rn); k++) rn = `${base}${k}`;
      this.rules.set(rn, "");
      this.refs.set(s.$ref, rn);
      const body = this.visit(target, `${rn}-body`, s.$ref, depth + 1);
      this.rules.set(rn, body);
      return rn;
    }
    if (s.const !== undefined) return this.add(name, `${gbnfLiteral(JSON.stringify(s.const))} space`);
    if (s.enum !== undefined) {
      if (!Array.isArray(s.enum) || s.enum.length === 0) this.fail(path, "enum must be a non-empty array");
      return this.add(name, `(${s.enum.map((v) => gbnfLiteral(JSON.stringify(v))).join(" | ")}) space`);
    }
    const alts = s.anyOf ?? s.oneOf;
    if (alts !== undefined) {
      const kw = s.anyOf !== undefined ? "anyOf" : "oneOf";
      if (!Array.isArray(alts) || alts.length === 0) this.fail(path, `${kw} must be a non-empty array`);
      // a value matching two alternatives breaks oneOf, and a grammar cannot keep them apart
      if (kw === "oneOf" && alts.length > 1) this.fail(path, "oneOf with several alternatives is not supported (a value may match more than one); use anyOf, as OpenAI's strict mode does");
      return this.add(name, alts.map((a, i) => this.visit(a, `${name}-${i}`, `${path}/${kw}/${i}`, depth + 1)).join(" | "));
    }
    if (s.allOf !== undefined) return this.visit(this.mergeAll(s, path), name, path, depth + 1);
    const type = s.type;
    if (Array.isArray(type)) {
      if (type.length === 0) this.fail(path, "type must not be an empty list");
      return this.add(name, type.map((t) => this.visit({ ...s, type: t }, `${name}-${String(t)}`, path, depth + 1)).join(" | "));
    }
    if (type === undefined) {
      if (s.properties !== undefined || s.additionalProperties !== undefined || s.required !== undefined) return this.object(s, name, path, depth);
      if (s.items !== undefined || s.prefixItems !== undefined) return this.array(s, name, path, depth);
      return this.primitive("value");
    }
    switch (type) {
      case "object": return this.object(s, name, path, depth);
      case "array": return this.array(s, name, path, depth);
      case "string": return this.string(s, name, path);
      case "number": case "integer": case "boolean": case "null": return this.primitive(type as string);
      default: this.fail(path, `unknown type ${JSON.stringify(type)}`);
    }
  }

  /** allOf: the object schemas' properties and required lists, merged. */
  private mergeAll(s: Schema, path: string): Schema {
    if (!Array.isArray(s.allOf) || s.allOf.length === 0) this.fail(path, "allOf must be a non-empty array");
    const { allOf, ...rest } = s;
    const parts = [rest, ...(allOf as unknown[]).map((p) => (isObj(p) && typeof p.$ref === "string" ? this.resolve(p.$ref, path) : p))];
    const props: Schema = {}, required: string[] = [];
    let additional: unknown;
    for (const p of parts) {
      if (!isObj(p)) this.fail(path, "allOf members must be object schemas");
      if (p.type !== undefined && p.type !== "object") this.fail(path, "allOf is supported for object schemas only");
      for (const k of Object.keys(p)) if (!["type", "properties", "required", "additionalProperties"].includes(k) && !ANNOTATIONS.has(k)) this.fail(path, `allOf member with ${JSON.stringify(k)} is not supported`);
      if (isObj(p.properties)) Object.assign(props, p.properties);
      if (Array.isArray(p.required)) required.push(...(p.required as string[]));
      if (p.additionalProperties !== undefined) additional = p.additionalProperties;
    }
    return { type: "object", properties: props, required: [...new Set(required)], ...(additional !== undefined ? { additionalProperties: additional } : {}) };
  }

  private string(s: Schema, name: string, path: string): string {
    const min = this.count(s, "minLength", path) ?? 0, max = this.count(s, "maxLength", path);
    if (min === 0 && max === undefined) return this.primitive("string");
    if (max !== undefined && max < min) this.fail(path, "maxLength below minLength");
    this.primitive("char");
    return this.add(name, `"\\"" char{${min},${max ?? ""}} "\\"" space`);
  }

  private count(s: Schema, key: string, path: string): number | undefined {
    const v = s[key];
    if (v === undefined) return undefined;
    if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > 10_000) this.fail(path, `${key} must be an integer in [0, 10000]`);
    return v as number;
  }

  private array(s: Schema, name: string, path: string, depth: number): string {
    const min = this.count(s, "minItems", path) ?? 0, max = this.count(s, "maxItems", path);
    if (max !== undefined && max < min) this.fail(path, "maxItems below minItems");
    if (s.prefixItems !== undefined) {
      if (!Array.isArray(s.prefixItems)) this.fail(path, "prefixItems must be an array");
      if (s.items !== undefined && s.items !== false) this.fail(path, "prefixItems with items other than false is not supported");
      const parts = s.prefixItems.map((p, i) => this.visit(p, `${name}-${i}`, `${path}/prefixItems/${i}`, depth + 1));
      if (parts.length < min || (max !== undefined && parts.length > max)) this.fail(path, "prefixItems length outside minItems..maxItems");
      const body = parts.length ? `${parts[0]} ${parts.slice(1).map((p) => `"," space ${p}`).join(" ")}` : "";
      return this.add(name, `"[" space ${body} "]" space`);
    }
    if (s.items === false) {
      if (min > 0) this.fail(path, "items false with minItems > 0 admits no value");
      return this.add(name, '"[" space "]" space');
    }
    const item = s.items === undefined ? this.primitive("value") : this.visit(s.items, `${name}-item`, `${path}/items`, depth + 1);
    const rest = `("," space ${item})`;
    let body: string;
    if (min === 0 && max === 0) body = "";
    else if (min === 0) body = `( ${item} ${rest}{0,${max === undefined ? "" : max - 1}} )?`;
    else body = `${item} ${rest}{${min - 1},${max === undefined ? "" : max - 1}}`;
    return this.add(name, `"[" space ${body} "]" space`);
  }

  private object(s: Schema, name: string, path: string, depth: number): string {
    const props = s.properties ?? {};
    if (!isObj(props)) this.fail(path, "properties must be an object");
    const required = s.required ?? [];
    if (!Array.isArray(required) || !required.every((r) => typeof r === "string")) this.fail(path, "required must be an array of strings");
    for (const r of required) if (!Object.hasOwn(props, r)) this.fail(path, `required property ${JSON.stringify(r)} is not in properties`);
    const keys = Object.keys(props);
    const extra = s.additionalProperties;
    if (keys.length === 0 && extra !== undefined && extra !== false) {
      // a map: any keys, values of the given schema
      const v = extra === true ? this.primitive("value") : this.visit(extra, `${name}-value`, `${path}/additionalProperties`, depth + 1);
      const kv = `${this.primitive("string")} ":" space ${v}`;
      return this.add(name, `"{" space ( ${kv} ("," space ${kv})* )? "}" space`);
    }
    const kvs = keys.map((k) => `${gbnfLiteral(JSON.stringify(k))} space ":" space ${this.visit(props[k], `${name}-${k}`, `${path}/properties/${k}`, depth + 1)}`);
    const req = keys.map((k) => required.includes(k));
    // rest(i, first): the members from i on; `first`: none written yet (no comma before the next)
    const rest = new Map<string, string>();
    const tail = (i: number, first: boolean): string => {
      const key = `${i},${first}`;
      const known = rest.get(key);
      if (known !== undefined) return known;
      let body: string;
      if (i === keys.length) body = "";
      else {
        const lead = first ? "" : '"," space ';
        const take = `${lead}${kvs[i]} ${tail(i + 1, false)}`.trim();
        const skip = tail(i + 1, first);
        // (an empty alternative goes first: after "|" GBNF reads on over a newline)
        body = req[i] ? take : skip === "" ? `| ${take}` : `${take} | ${skip}`;
      }
      const r = body === "" ? "" : this.add(`${name}-${i}${first ? "-first" : ""}`, body);
      rest.set(key, r);
      return r;
    };
    // further keys beside declared ones could repeat a declared name with another value: refused
    // (a map, additionalProperties without properties, is supported above)
    if (extra !== undefined && extra !== false) this.fail(path, "additionalProperties beside declared properties is not supported (an extra key could repeat a declared one); set it false, or use a map without properties");
    return this.add(name, `"{" space ${tail(0, true)} "}" space`);
  }

  /** The grammar text: root, the rules in order of creation, then space. */
  text(rootRule: string): string {
    const lines = [`root ::= ${rootRule}`];
    for (const [n, body] of this.rules) lines.push(`${n} ::= ${body}`);
    lines.push(`space ::= ${SPACE}`);
    return lines.join("\n") + "\n";
  }
}

/** GBNF text admitting exactly the JSON texts the schema accepts (within the limits above). */
export function schemaToGbnf(schema: unknown): string {
  const c = new Converter(schema);
  const r = c.visit(schema, "root-value", "#");
  return c.text(r);
}

/** GBNF text for any JSON object (response_format json_object). */
export function jsonObjectGbnf(): string {
  const c = new Converter({});
  return c.text(c.primitive("object"));
}
