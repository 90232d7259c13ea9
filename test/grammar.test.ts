/**
 * GBNF parsing (gbnf.ts), the grammar automaton (automaton.ts) and its token masks over a hand
 * vocabulary, and JSON schema to grammar (json-schema.ts), without a model.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseGbnf } from "../src/grammar/gbnf.js";
import { GrammarAutomaton } from "../src/grammar/automaton.js";
import { buildTrie } from "../src/grammar/vocab.js";
import { schemaToGbnf, jsonObjectGbnf } from "../src/grammar/json-schema.js";
import { grammarText } from "../src/grammar/constraint.js";
import { GrammarError, InvalidOptionError } from "../src/errors.js";

const enc = new TextEncoder();

/** A vocabulary of the given token strings (ids in order). */
function vocab(tokens: string[]) {
  return buildTrie(tokens.map((t) => enc.encode(t)));
}

/** Every single byte as a token: strings are fed byte by byte. */
const BYTES = buildTrie(Array.from({ length: 256 }, (_, b) => Uint8Array.of(b)));

/** Whether the grammar matches the whole of s (fed byte by byte). */
function matches(gbnf: string, s: string): boolean {
  const a = new GrammarAutomaton(parseGbnf(gbnf), BYTES);
  const st = a.advance(a.start, enc.encode(s));
  return st !== null && st.accepting;
}

/** Whether s is a prefix of something the grammar matches. */
function viable(gbnf: string, s: string): boolean {
  const a = new GrammarAutomaton(parseGbnf(gbnf), BYTES);
  return a.advance(a.start, enc.encode(s)) !== null;
}

test("gbnf: literals, classes, alternation, groups and repetition match what they should", () => {
  const g = `root ::= "ab" [0-9]+ ("x" | "yz")? tail
tail ::= [^a-c]{2,3}   # a comment
`;
  for (const s of ["ab1dd", "ab123xdde", "ab9yzzz"]) assert.ok(matches(g, s), s);
  for (const s of ["ab", "abxdd", "ab1d", "ab1dddd", "ab1xad", "ab1ya"]) assert.ok(!matches(g, s), s);
  assert.ok(viable(g, "ab12"));
  assert.ok(!viable(g, "ac"));
});

test("gbnf: {m}, {m,}, {m,n}, ?, * and the any-char dot", () => {
  assert.ok(matches('root ::= "a"{3}', "aaa"));
  assert.ok(!matches('root ::= "a"{3}', "aa"));
  assert.ok(!matches('root ::= "a"{3}', "aaaa"));
  assert.ok(matches('root ::= "a"{2,}', "aaaaaa"));
  assert.ok(!matches('root ::= "a"{2,}', "a"));
  assert.ok(matches('root ::= "a"{0,2} "b"', "b"));
  assert.ok(matches('root ::= "a"{0,2} "b"', "aab"));
  assert.ok(!matches('root ::= "a"{0,2} "b"', "aaab"));
  assert.ok(matches('root ::= "ab"*', "ababab"));
  assert.ok(!matches('root ::= "ab"*', "aba"));
  assert.ok(matches('root ::= . . "!"', "é€!"));
  assert.ok(!matches('root ::= . "!"', "ab!"));
});

test("gbnf: escapes, multi-line rules inside parentheses, recursion", () => {
  const g = `root ::= (
    "\\x41" "\\u00e9" "\\n" [\\]\\-]
  )
`;
  assert.ok(matches(g, "Aé\n]"));
  assert.ok(matches(g, "Aé\n-"));
  assert.ok(!matches(g, "Aé\n["));
  // balanced parentheses: right recursion through a rule that is not at the left edge
  const p = `root ::= item*
item ::= "(" root ")"`;
  assert.ok(matches(p, "(()(()))"));
  assert.ok(!matches(p, "(()"));
  assert.ok(!matches(p, "())"));
});

test("gbnf: non-ASCII classes are checked per code point, partial UTF-8 stays viable only when some character fits", () => {
  const g = "root ::= [а-я]+"; // Cyrillic а..я (2-byte UTF-8)
  assert.ok(matches(g, "привет"));
  assert.ok(!matches(g, "hello"));
  const a = new GrammarAutomaton(parseGbnf(g), BYTES);
  assert.ok(a.next(a.start, 0xd0) !== null); // lead byte of а..п
  assert.equal(a.next(a.start, 0xe2), null); // a 3-byte lead: no character in [а-я]
  const s = a.next(a.start, 0xd0)!;
  assert.equal(s.accepting, false); // half a character is never complete
  assert.equal(a.next(s, 0x41), null); // not a continuation byte
});

test("gbnf: malformed grammars are GrammarErrors naming the problem", () => {
  const bad: [string, RegExp][] = [
    ['root ::= "abc', /unterminated literal/],
    ["root ::= [a-", /unterminated character class/],
    ["root ::= foo", /undefined rule foo/],
    ['item ::= "a"', /no rule named root/],
    ['root ::= "a"\nroot ::= "b"', /defined twice/],
    ['root ::= ( "a" ', /expecting \)/],
    ['root ::= "\\q"', /unknown escape/],
    ['root ::= "a"{3,1}', /max < min/],
    ["root ::= * \"a\"", /with nothing before it/],
    ['root ::= root "a"', /left-recursive/],
    ['root ::= x "a"\nx ::= "b"? root', /left-recursive/],
    ["root ::= [z-a]", /out of order/],
    ['root "a"', /expecting ::=/],
    ['root ::= "a"{20000}', /above 10000/],
    ['root ::= ' + "(".repeat(300) + '"a"' + ")".repeat(300), /nested deeper/],
  ];
  for (const [g, re] of bad) {
    assert.throws(() => parseGbnf(g), (e: unknown) => e instanceof GrammarError && e instanceof InvalidOptionError && re.test(e.message), g);
  }
  assert.throws(() => parseGbnf(`root ::= "${"a".repeat(200)}"{10000}`), /more than 1048576 elements/); // expansion bound
});

test("masks: a token is allowed exactly when its bytes keep the grammar viable; EOS follows `accepting`", () => {
  const tokens = ["a", "b", "ab", "ba", "abc", "c", "{", "}", '"', "é", "\xe9"];
  const v = buildTrie(tokens.map((t, i) => (i === 10 ? Uint8Array.of(0xc3) : enc.encode(t)))); // id 10: half of é
  const a = new GrammarAutomaton(parseGbnf('root ::= "a" "b"* ("c" | "é")'), v);
  const allowedIds = (st: ReturnType<typeof a.advance>) => {
    const m = a.mask(st!);
    const set = new Set(m.allowed ? m.ids : tokens.map((_, i) => i).filter((i) => !m.ids.includes(i)));
    return [...set].sort((x, y) => x - y);
  };
  assert.deepEqual(allowedIds(a.start), [0, 2, 4]); // a, ab, abc
  const afterA = a.advance(a.start, enc.encode("a"))!;
  assert.deepEqual(allowedIds(afterA), [1, 5, 9, 10]); // b, c, é, the half of é
  assert.equal(afterA.accepting, false);
  const done = a.advance(afterA, enc.encode("bbc"))!;
  assert.equal(done.accepting, true);
  assert.ok(a.complete(done));
  assert.deepEqual(allowedIds(done), []);
  // brute force: every token sequence of length <= 3 the masks allow is viable and vice versa
  const ids = tokens.map((_, i) => i);
  const walk = (st: NonNullable<ReturnType<typeof a.advance>>, depth: number) => {
    if (depth === 3) return;
    const allowed = new Set(allowedIds(st));
    for (const id of ids) {
      const next = a.advance(st, v.bytes[id]!);
      assert.equal(allowed.has(id), next !== null, `token ${id}`);
      if (next) walk(next, depth + 1);
    }
  };
  walk(a.start, 0);
});

test("json schema: the grammar of a schema matches valid instances and refuses invalid ones", () => {
  const schema = {
    type: "object",
    properties: {
      name: { type: "string", maxLength: 4 },
      n: { type: "integer" },
      x: { type: "number" },
      tags: { type: "array", items: { enum: ["a", "b", 3] }, minItems: 1, maxItems: 2 },
      kind: { const: "k" },
      opt: { anyOf: [{ type: "null" }, { type: "boolean" }] },
      ref: { $ref: "#/$defs/pt" },
    },
    required: ["name", "n"],
    $defs: { pt: { type: "object", properties: { x: { type: "integer" } }, required: ["x"] } },
  };
  const g = schemaToGbnf(schema);
  const ok = [
    '{"name": "ab", "n": 0}',
    '{"name":"", "n": -12, "x": 1.5e3, "tags": ["a", 3], "kind": "k", "opt": null, "ref": {"x": 2}}',
    '{ "name": "\\u00e9", "n": 7, "opt": true }',
    '{"name": "a", "n": 1, "ref": {"x": 0}}\n',
  ];
  for (const s of ok) assert.ok(matches(g, s), s);
  const bad = [
    '{"n": 0}', // missing name
    '{"name": "abcde", "n": 0}', // too long
    '{"name": "a", "n": 1.5}', // not an integer
    '{"name": "a", "n": 01}', // leading zero
    '{"name": "a", "n": 1, "tags": []}', // minItems
    '{"name": "a", "n": 1, "tags": ["a", "b", "a"]}', // maxItems
    '{"name": "a", "n": 1, "kind": "j"}',
    '{"name": "a", "n": 1, "extra": 1}', // additionalProperties false by default
    '{"n": 1, "name": "a"}', // declared order
    '{"name": "a", "n": 1, "ref": {}}',
  ];
  for (const s of bad) assert.ok(!matches(g, s), s);
});

test("json schema: recursion, additionalProperties maps, allOf, prefixItems, type lists", () => {
  const tree = { $ref: "#/$defs/node", $defs: { node: { type: "object", properties: { v: { type: "integer" }, kids: { type: "array", items: { $ref: "#/$defs/node" } } }, required: ["v"] } } };
  assert.ok(matches(schemaToGbnf(tree), '{"v": 1, "kids": [{"v": 2}, {"v": 3, "kids": []}]}'));
  assert.ok(!matches(schemaToGbnf(tree), '{"v": 1, "kids": [{}]}'));
  const map = { type: "object", additionalProperties: { type: "boolean" } };
  assert.ok(matches(schemaToGbnf(map), '{"x": true, "y": false}'));
  assert.ok(!matches(schemaToGbnf(map), '{"x": 1}'));
  const all = { allOf: [{ type: "object", properties: { a: { type: "integer" } }, required: ["a"] }, { properties: { b: { type: "string" } } }] };
  assert.ok(matches(schemaToGbnf(all), '{"a": 1, "b": "x"}'));
  const tup = { type: "array", prefixItems: [{ type: "string" }, { type: "integer" }] };
  assert.ok(matches(schemaToGbnf(tup), '["a", 1]'));
  assert.ok(!matches(schemaToGbnf(tup), '["a"]'));
  const nullable = { type: ["string", "null"] };
  assert.ok(matches(schemaToGbnf(nullable), "null"));
  assert.ok(matches(schemaToGbnf(nullable), '"x"'));
  assert.ok(!matches(schemaToGbnf(nullable), "1"));
  assert.ok(matches(jsonObjectGbnf(), '{"a": [1, {"b": null}], "c": "d"}'));
  assert.ok(!matches(jsonObjectGbnf(), "[1]"));
});

test("json schema: unsupported or malformed schemas are GrammarErrors naming the place", () => {
  const bad: [unknown, RegExp][] = [
    [{ type: "string", pattern: "^a" }, /unsupported keyword "pattern" at #/],
    [{ type: "object", properties: { n: { type: "integer", minimum: 0 } } }, /unsupported keyword "minimum" at #\/properties\/n/],
    [{ type: "strin" }, /unknown type "strin"/],
    [{ $ref: "#/$defs/none" }, /points nowhere/],
    [{ $ref: "http://x/y" }, /only local \$ref/],
    [{ enum: [] }, /enum must be a non-empty array/],
    [{ type: "object", properties: {}, required: ["a"] }, /required property "a" is not in properties/],
    [{ type: "array", minItems: 3, maxItems: 2 }, /maxItems below minItems/],
    [false, /admits no value/],
    ["x", /must be an object or a boolean/],
    // what a grammar cannot keep, refused so that every accepted schema's output validates
    [{ oneOf: [{ type: "integer" }, { type: "number" }] }, /oneOf with several alternatives is not supported/],
    [{ type: "object", properties: { a: { type: "string" } }, additionalProperties: { type: "integer" } }, /additionalProperties beside declared properties/],
    [{ type: "object", properties: { a: { type: "string" } }, additionalProperties: true }, /additionalProperties beside declared properties/],
  ];
  // a oneOf of one schema is that schema
  assert.ok(matches(schemaToGbnf({ oneOf: [{ type: "integer" }] }), "12"));
  for (const [s, re] of bad) assert.throws(() => schemaToGbnf(s), (e: unknown) => e instanceof GrammarError && re.test(e.message), JSON.stringify(s));
});

test("response formats: OpenAI's shapes and the plain { type, schema } give the same grammar; bad shapes are errors", () => {
  const schema = { type: "object", properties: { a: { type: "boolean" } }, required: ["a"] };
  const g1 = grammarText({ responseFormat: { type: "json_schema", json_schema: { name: "x", schema, strict: true } } });
  const g2 = grammarText({ responseFormat: { type: "json_schema", schema } });
  assert.equal(g1, g2);
  assert.equal(g1, schemaToGbnf(schema));
  assert.equal(grammarText({ responseFormat: { type: "text" } }), null);
  assert.equal(grammarText({}), null);
  assert.equal(grammarText({ responseFormat: { type: "json_object" } }), jsonObjectGbnf());
  assert.throws(() => grammarText({ responseFormat: { type: "json_schema" } }), /needs a schema/);
  assert.throws(() => grammarText({ responseFormat: { type: "yaml" } as never }), /responseFormat.type must be/);
  assert.throws(() => grammarText({ grammar: 'root ::= "a"', responseFormat: { type: "json_object" } }), /not both/);
  assert.throws(() => grammarText({ grammar: 3 as never }), /GBNF text/);
});

test("automaton: past its state bound the cache is dropped and rebuilt, and held states still give the same answers", async () => {
  const { LIMITS } = await import("../src/grammar/automaton.js");
  const g = 'root ::= "[" ([0-9]{1,3} ("," [0-9]{1,3}){0,30})? "]"';
  const text = "[" + Array.from({ length: 25 }, (_, i) => String((i * 37) % 1000)).join(",") + "]";
  const saved = LIMITS.states;
  try {
    const masks: number[][] = [];
    for (const limit of [saved, 8]) {
      LIMITS.states = limit;
      const a = new GrammarAutomaton(parseGbnf(g), BYTES);
      let st = a.start;
      const seen: number[] = [];
      for (const b of enc.encode(text)) {
        const m = a.mask(st);
        seen.push(m.count);
        st = a.advance(st, Uint8Array.of(b))!;
        assert.ok(st, `byte ${String.fromCharCode(b)}`);
      }
      assert.ok(st.accepting);
      masks.push(seen);
    }
    assert.deepEqual(masks[1], masks[0]);
  } finally {
    LIMITS.states = saved;
  }
});
