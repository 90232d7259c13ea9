/**
 * Structured output and function calling through the server, with the official `openai` client
 * on tinycode-7m: response_format (json_object, json_schema) on both endpoints, tools with
 * tool_choice required / named (the call always valid under the tool's parameters, plain and
 * streamed), auto and none, tool messages in the history, and bad schemas as 400s.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import OpenAI from "openai";
import { startOpenAiServer, type OpenAiServer } from "./helpers/openai-server.js";
import { ChatTemplate } from "../src/chat/template.js";
import { toolCallOf, toolSystemPrompt } from "../src/chat/tools.js";
import { Tokenizer } from "../src/tokenizer.js";
import { DEFAULT_MODEL_DIR } from "../src/llm.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const Ajv2020 = require("ajv/dist/2020").default as new (o: object) => { compile(s: object): ((x: unknown) => boolean) & { errors?: unknown } };
const ajv = new Ajv2020({ strict: false });

let client: OpenAI, served: OpenAiServer;
before(async () => {
  served = await startOpenAiServer(1024);
  ({ client } = served);
});
after(() => served.close());

const person = {
  type: "object",
  properties: { name: { type: "string", maxLength: 8 }, age: { type: "integer" }, pets: { type: "array", items: { enum: ["cat", "dog"] }, maxItems: 2 } },
  required: ["name", "age"],
  additionalProperties: false,
};

test("response_format json_schema / json_object: the content parses and validates, on chat and completions", async () => {
  const validate = ajv.compile(person);
  for (let seed = 0; seed < 4; seed++) {
    const c = await client.chat.completions.create({
      model: "tinycode-7m", messages: [{ role: "user", content: "A person as JSON" }], temperature: 1, seed, max_tokens: 400,
      response_format: { type: "json_schema", json_schema: { name: "person", schema: person, strict: true } },
    });
    assert.equal(c.choices[0]!.finish_reason, "stop");
    const v = JSON.parse(c.choices[0]!.message.content!);
    assert.ok(validate(v), c.choices[0]!.message.content!);
  }
  const done = await client.completions.create({ model: "tinycode-7m", prompt: "config = ", max_tokens: 300, temperature: 0, response_format: { type: "json_object" } } as never) as OpenAI.Completions.Completion;
  if (done.choices[0]!.finish_reason === "stop") assert.equal(typeof JSON.parse(done.choices[0]!.text), "object");
  // streamed: the pieces make the same JSON as the whole answer
  const body = { model: "tinycode-7m", messages: [{ role: "user" as const, content: "A person" }], temperature: 0, max_tokens: 300, response_format: { type: "json_schema" as const, json_schema: { name: "p", schema: person } } };
  const whole = await client.chat.completions.create(body);
  let text = "";
  for await (const ch of await client.chat.completions.create({ ...body, stream: true })) text += ch.choices[0]?.delta.content ?? "";
  assert.equal(text, whole.choices[0]!.message.content);
  assert.ok(validate(JSON.parse(text)));
});

test("a GBNF grammar field (llama.cpp's extension) constrains /v1/completions", async () => {
  const r = await fetch(`${client.baseURL}/completions`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: "The answer is ", grammar: 'root ::= ("yes" | "no") "."', max_tokens: 10, temperature: 1, seed: 5 }),
  });
  assert.equal(r.status, 200);
  const j = (await r.json()) as { choices: { text: string; finish_reason: string }[] };
  assert.match(j.choices[0]!.text, /^(yes|no)\.$/);
  assert.equal(j.choices[0]!.finish_reason, "stop");
});

test("bad schemas, grammars and tool definitions are 400 invalid_request_error naming the field", async () => {
  const bad = async (body: object, param: string, re: RegExp) => {
    await assert.rejects(client.chat.completions.create({ model: "tinycode-7m", messages: [{ role: "user", content: "x" }], max_tokens: 4, ...body } as never), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError, String(e));
      assert.equal(e.status, 400);
      assert.equal((e.error as { type?: string }).type, "invalid_request_error");
      assert.equal(e.param, param);
      assert.match(e.message, re);
      return true;
    });
  };
  await bad({ response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "string", pattern: "a+" } } } }, "response_format", /unsupported keyword "pattern"/);
  await bad({ response_format: { type: "json_schema", json_schema: { name: "x", schema: { $ref: "#/nowhere" } } } }, "response_format", /points nowhere/);
  await bad({ response_format: { type: "xml" } }, "response_format", /type must be/);
  await bad({ response_format: { type: "json_schema" } }, "response_format", /needs json_schema/);
  await bad({ grammar: "root ::= (" }, "grammar", /grammar:/);
  await bad({ tools: [{ type: "function", function: { name: "bad name" } }] }, "tools[0].function.name", /letters, digits/);
  await bad({ tools: [{ type: "function", function: { name: "f" } }], tool_choice: { type: "function", function: { name: "g" } } }, "tool_choice", /not among the tools/);
  await bad({ tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { x: { type: "string", format: "email" } } } } }], tool_choice: "required" }, "tools", /unsupported keyword "format"/);
  await bad({ tool_choice: "required" }, "tool_choice", /needs tools/);
});

const tools = [
  { type: "function" as const, function: { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 }, unit: { enum: ["c", "f"] } }, required: ["city", "unit"] } } },
  { type: "function" as const, function: { name: "add", description: "Add numbers", parameters: { type: "object", properties: { a: { type: "integer" }, b: { type: "integer" } }, required: ["a", "b"] } } },
  { type: "function" as const, function: { name: "ping", parameters: { type: "object", properties: {} } } },
];
const params = new Map(tools.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));

/** A call is one of the tools, its arguments JSON valid under that tool's parameters. */
function checkCall(call: { id?: string; type?: string; function?: { name?: string; arguments?: string } } | undefined, only?: string): void {
  assert.ok(call && call.function, "a tool call");
  assert.equal(call.type, "function");
  assert.match(call.id ?? "", /^call_/);
  const name = call.function.name!;
  if (only) assert.equal(name, only);
  const validate = params.get(name);
  assert.ok(validate, `unknown tool ${name}`);
  assert.ok(validate(JSON.parse(call.function.arguments!)), `${name}(${call.function.arguments})`);
}

test("tools with tool_choice required / named: always a valid call, finish_reason tool_calls", async () => {
  for (let seed = 0; seed < 6; seed++) {
    const choice = seed % 2 === 0 ? ("required" as const) : { type: "function" as const, function: { name: tools[seed % 3]!.function.name } };
    const c = await client.chat.completions.create({
      model: "tinycode-7m", messages: [{ role: "user", content: "What is the weather in Paris?" }], tools, tool_choice: choice, temperature: 1, seed, max_tokens: 300,
    });
    const ch = c.choices[0]!;
    assert.equal(ch.finish_reason, "tool_calls");
    assert.equal(ch.message.content, null);
    assert.equal(ch.message.tool_calls?.length, 1);
    checkCall(ch.message.tool_calls![0] as never, typeof choice === "string" ? undefined : choice.function.name);
  }
});

test("tools streamed: delta.tool_calls assemble into a valid call", async () => {
  for (let seed = 0; seed < 3; seed++) {
    const stream = await client.chat.completions.create({
      model: "tinycode-7m", messages: [{ role: "user", content: "Add 2 and 3" }], tools, tool_choice: "required", temperature: 1, seed, max_tokens: 300, stream: true,
    });
    const acc: { id?: string; type?: string; function: { name?: string; arguments: string } }[] = [];
    let finish: string | null = null, content = "";
    for await (const ch of stream) {
      const d = ch.choices[0];
      if (!d) continue;
      content += d.delta.content ?? "";
      finish = d.finish_reason ?? finish;
      for (const t of d.delta.tool_calls ?? []) {
        const cur = (acc[t.index] ??= { function: { arguments: "" } });
        if (t.id) cur.id = t.id;
        if (t.type) cur.type = t.type;
        if (t.function?.name) cur.function.name = t.function.name;
        cur.function.arguments += t.function?.arguments ?? "";
      }
    }
    assert.equal(finish, "tool_calls");
    assert.equal(content, "");
    assert.equal(acc.length, 1);
    checkCall(acc[0]);
  }
});

test("tool_choice auto and none answer with content when the model does not call; tool results in the history are accepted", async () => {
  const base = { model: "tinycode-7m", temperature: 0, max_tokens: 16 } as const;
  const none = await client.chat.completions.create({ ...base, messages: [{ role: "user", content: "def f(x):" }], tools, tool_choice: "none" });
  const plain = await client.chat.completions.create({ ...base, messages: [{ role: "user", content: "def f(x):" }] });
  assert.equal(none.choices[0]!.message.content, plain.choices[0]!.message.content); // none: the tools are not even shown
  const auto = await client.chat.completions.create({ ...base, messages: [{ role: "user", content: "def f(x):" }], tools });
  const text = auto.choices[0]!.message.content;
  // the greedy answer of this code model is code, not a call: content, finish stop/length
  assert.ok(auto.choices[0]!.message.tool_calls === undefined && typeof text === "string");
  // a whole tool round trip in the history
  const r = await client.chat.completions.create({
    ...base, tools,
    messages: [
      { role: "user", content: "Weather in Oslo?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo","unit":"c"}' } }] },
      { role: "tool", tool_call_id: "call_1", content: "-3 C, snow" },
    ],
  });
  assert.ok(r.choices[0]);
});

test("tool prompts: templates with tools get the tools variable; others a system message; answers are read back as calls", () => {
  const tok = Tokenizer.load(DEFAULT_MODEL_DIR);
  const chatml = new ChatTemplate(tok);
  assert.equal(chatml.hasTools, false);
  const msgs = [{ role: "user" as const, content: "hi" }];
  const text = chatml.render(msgs, tools);
  assert.ok(text.startsWith(`<|im_start|>system\n${toolSystemPrompt(tools)}<|im_end|>\n<|im_start|>user\nhi<|im_end|>`), text);
  // a template that renders tools itself (a Hermes-style excerpt)
  const src = "{% if tools %}TOOLS:{% for t in tools %}{{ t.function.name }};{% endfor %}{% endif %}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% if m.tool_calls %}{% for c in m.tool_calls %}CALL {{ c.function.name }} {{ c.function.arguments.city }}{% endfor %}{% endif %}{% endfor %}";
  const json = JSON.parse(readFileSync(join(DEFAULT_MODEL_DIR, "tokenizer.json"), "utf8")) as object;
  const hermes = new ChatTemplate(Tokenizer.fromJSON(json, {}, src));
  assert.equal(hermes.hasTools, true);
  const out = hermes.render([...msgs, { role: "assistant", content: "", tool_calls: [{ id: "c", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } }] }], tools);
  assert.equal(out, "TOOLS:get_weather;add;ping;[user]hi[assistant]CALL get_weather Rome");
  const names = ["get_weather", "add"];
  assert.deepEqual(toolCallOf('{"name": "add", "arguments": {"a": 1, "b": 2}}', names), { name: "add", arguments: { a: 1, b: 2 } });
  assert.deepEqual(toolCallOf('<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>', names), { name: "add", arguments: { a: 1 } });
  assert.deepEqual(toolCallOf('```json\n{"name": "get_weather", "parameters": {"city": "x"}}\n```', names), { name: "get_weather", arguments: { city: "x" } });
  assert.deepEqual(toolCallOf('{"name": "add", "arguments": "{\\"a\\": 3}"}', names), { name: "add", arguments: { a: 3 } });
  assert.equal(toolCallOf('{"name": "rm", "arguments": {}}', names), null);
  assert.equal(toolCallOf("def f(x): return 1", names), null);
  assert.equal(toolCallOf('{"name": "add", "arguments": [1]}', names), null);
});
