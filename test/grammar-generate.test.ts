/**
 * Constrained generation on tinycode-7m: random JSON schemas, sampled at temperature 1, always
 * give JSON that parses and that ajv (a JSON-schema validator) accepts; GBNF grammars, greedy and
 * streamed generation, stop strings and logprobs with a grammar; bad grammars are GrammarErrors.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { LLM } from "../src/llm.js";
import { Xoshiro128 } from "../src/generate/sampler.js";
import { GrammarError } from "../src/errors.js";

const require = createRequire(import.meta.url);
// ajv's draft 2020-12 validator (prefixItems, $defs)
const Ajv2020 = require("ajv/dist/2020").default as new (o: object) => { compile(s: object): ((x: unknown) => boolean) & { errors?: unknown } };

let llm: LLM;
before(async () => {
  llm = await LLM.load(undefined, { dtype: "f32", threads: 2, contextLength: 4096 });
});
after(async () => {
  await llm.dispose();
});

type Schema = Record<string, unknown>;

/** Random schemas of the supported keywords, bounded (strings, arrays, depth) so every output has a length bound. */
function randomSchema(rng: Xoshiro128, depth = 0): Schema {
  const int = (n: number) => Math.floor(rng.nextFloat() * n);
  const pick = <T>(xs: T[]): T => xs[int(xs.length)]!;
  const word = () => pick(["id", "name", "x", "value", "tags", "ok", "count", "é", "a b", 'q"'] as const);
  const kinds = depth >= 2 ? ["string", "integer", "number", "boolean", "null", "enum", "const", "nullable", "anyOf"] : ["string", "integer", "number", "boolean", "enum", "object", "object", "array", "array", "anyOf", "const", "nullable"];
  switch (pick(kinds)) {
    case "string": {
      const max = 1 + int(8);
      return { type: "string", maxLength: max, ...(rng.nextFloat() < 0.3 ? { minLength: int(max + 1) } : {}) };
    }
    case "integer": return { type: "integer" };
    case "number": return { type: "number" };
    case "boolean": return { type: "boolean" };
    case "null": return { type: "null" };
    case "enum": return { enum: [pick(["red", "green", "blue"]), pick([1, 2.5, -3]), pick([true, null, "x\ny"])] };
    case "const": return { const: pick(["fixed", 42, false, { k: [1, "v"] }]) };
    case "nullable": return { type: [pick(["string", "integer", "boolean"]), "null"], ...(rng.nextFloat() < 0.5 ? {} : {}) , maxLength: 5 };
    case "anyOf": return { anyOf: [{ type: "integer" }, { type: "string", maxLength: 4 }, ...(rng.nextFloat() < 0.5 ? [{ type: "null" }] : [])] };
    case "array": {
      const max = 1 + int(3);
      return { type: "array", items: randomSchema(rng, depth + 1), maxItems: max, ...(rng.nextFloat() < 0.5 ? { minItems: int(max + 1) } : {}) };
    }
    default: {
      const n = 1 + int(4);
      const props: Schema = {};
      for (let i = 0; i < n; i++) props[`${word()}${i}`] = randomSchema(rng, depth + 1);
      const required = Object.keys(props).filter(() => rng.nextFloat() < 0.6);
      return { type: "object", properties: props, required, additionalProperties: false };
    }
  }
}

/** Most characters a schema's grammar can produce (json-schema.ts: whitespace <= 22 between tokens, numbers <= 35 digits). */
function maxChars(s: Schema): number {
  const SP = 22;
  const lit = (v: unknown) => JSON.stringify(v).length * 6;
  if (s.const !== undefined) return lit(s.const) + SP;
  if (s.enum) return Math.max(...(s.enum as unknown[]).map(lit)) + SP;
  if (s.anyOf) return Math.max(...(s.anyOf as Schema[]).map(maxChars));
  if (Array.isArray(s.type)) return Math.max(...s.type.map((t) => maxChars({ ...s, type: t })));
  switch (s.type) {
    case "string": return 2 + 6 * (s.maxLength as number) + SP;
    case "integer": return 17 + SP;
    case "number": return 52 + SP;
    case "boolean": return 5 + SP;
    case "null": return 4 + SP;
    case "array": return 2 + 2 * SP + (s.maxItems as number) * (maxChars(s.items as Schema) + 1 + SP);
    default: {
      const props = Object.entries(s.properties as Record<string, Schema>);
      return 2 + 2 * SP + props.reduce((a, [k, v]) => a + lit(k) + 2 * SP + 2 + maxChars(v), 0);
    }
  }
}

test("random JSON schemas, sampled at temperature 1: every output parses and validates (ajv)", async () => {
  const rng = new Xoshiro128(2026);
  const ajv = new Ajv2020({ strict: false });
  let n = 0, tokens = 0, grammarMs = 0, skipped = 0;
  while (n < 40) {
    const schema = randomSchema(rng);
    const bound = maxChars(schema);
    if (bound > 3000) {
      skipped++;
      continue; // every token is at least one byte: the bound must fit maxNewTokens below
    }
    const validate = ajv.compile(schema);
    const r = await llm.generate("{", { maxNewTokens: 3000, temperature: 1, seed: n, responseFormat: { type: "json_schema", json_schema: { name: `s${n}`, schema, strict: true } } });
    assert.equal(r.finishReason, "eos", `schema ${JSON.stringify(schema)}: ${JSON.stringify(r.text)}`);
    let value: unknown;
    assert.doesNotThrow(() => (value = JSON.parse(r.text)), `not JSON for ${JSON.stringify(schema)}: ${JSON.stringify(r.text)}`);
    assert.ok(validate(value), `invalid for ${JSON.stringify(schema)}: ${JSON.stringify(r.text)} ${JSON.stringify(validate.errors)}`);
    tokens += r.ids.length;
    grammarMs += r.grammarMs ?? NaN;
    n++;
  }
  assert.ok(Number.isFinite(grammarMs) && tokens > 40);
  assert.ok(skipped < 40, `too many unbounded schemas: ${skipped}`);
});

test("greedy and streamed constrained generation agree, and stop strings still cut the text", async () => {
  const schema = { type: "object", properties: { name: { type: "string", maxLength: 6 }, n: { type: "integer" }, tags: { type: "array", items: { type: "string", maxLength: 3 }, maxItems: 2 } }, required: ["name", "n", "tags"] };
  const opts = { maxNewTokens: 400, temperature: 0, responseFormat: { type: "json_schema" as const, schema } };
  const r = await llm.generate("def f():\n", opts);
  assert.equal(r.finishReason, "eos");
  const v = JSON.parse(r.text) as { name: string; n: number; tags: string[] };
  assert.equal(typeof v.name, "string");
  assert.ok(Number.isInteger(v.n) && Array.isArray(v.tags));
  const s = llm.stream("def f():\n", opts);
  let text = "";
  for await (const c of s) text += c;
  assert.equal(text, r.text);
  assert.deepEqual((await s.result).ids, r.ids);
  // a stop string ends the output where it first appears, as without a grammar
  const cut = await llm.generate("def f():\n", { ...opts, stop: [":"] });
  assert.equal(cut.finishReason, "stop");
  assert.equal(cut.text, r.text.slice(0, r.text.indexOf(":")));
  // logprobs come from the raw logits and cover every token
  const lp = await llm.generate("def f():\n", { ...opts, logprobs: 2 });
  assert.equal(lp.text, r.text);
  assert.equal(lp.logprobs!.length, lp.ids.length);
});

test("a GBNF grammar option constrains sampled output to its language; EOS only once it is complete", async () => {
  const grammar = `root ::= answer " " digit{2,3}
answer ::= "yes" | "no" | "maybe"
digit ::= [0-9]`;
  for (let seed = 0; seed < 8; seed++) {
    const r = await llm.generate("Q: ", { maxNewTokens: 50, temperature: 1, seed, grammar, stopAtEos: false });
    assert.match(r.text, /^(yes|no|maybe) [0-9]{2,3}$/, r.text);
    assert.equal(r.finishReason, "eos");
  }
  // json_object: any JSON object
  const o = await llm.generate("x = ", { maxNewTokens: 300, temperature: 0, responseFormat: { type: "json_object" } });
  if (o.finishReason === "eos") assert.equal(typeof JSON.parse(o.text), "object");
  else assert.equal(o.finishReason, "length");
});

test("bad grammars and schemas are GrammarErrors before anything runs", () => {
  // (validation is synchronous: generate and stream throw before they return)
  assert.throws(() => llm.generate("x", { grammar: "root ::= foo" }), (e: unknown) => e instanceof GrammarError && /undefined rule foo/.test((e as Error).message));
  assert.throws(() => llm.generate("x", { responseFormat: { type: "json_schema", schema: { type: "string", format: "email" } } }), GrammarError);
  assert.throws(() => llm.stream("x", { grammar: 'root ::= "a' }), GrammarError);
  assert.throws(() => llm.generate("x", { grammar: 'root ::= "a"', draft: llm }), /draft/);
});
