/**
 * The official `openai` client (a devDependency) against lowbit's server: what an application
 * would write. Completions and chat, plain and streamed, give what LLM.generate computes, and
 * a bad request surfaces as the client's BadRequestError with the server's message.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { LLM } from "../src/llm.js";
import { startOpenAiServer, type OpenAiServer } from "./helpers/openai-server.js";
import { ChatTemplate } from "../src/chat/template.js";

let llm: LLM, client: OpenAI, served: OpenAiServer;
before(async () => {
  served = await startOpenAiServer(512);
  ({ llm, client } = served);
});
after(() => served.close());

test("openai client: models, completions and chat completions, plain and streamed", async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ["tinycode-7m"]);

  const prompt = "def is_prime(n):\n";
  const want = await llm.generate(prompt, { maxNewTokens: 20, temperature: 0, stopAtEos: true });
  const c = await client.completions.create({ model: "tinycode-7m", prompt, max_tokens: 20, temperature: 0 });
  assert.equal(c.choices[0]!.text, want.text);
  assert.equal(c.usage?.completion_tokens, want.ids.length);

  const messages = [{ role: "user" as const, content: "def is_prime(n):" }];
  const rendered = new ChatTemplate(llm.tokenizer).render(messages);
  const wantChat = await llm.generate(rendered, { maxNewTokens: 24, temperature: 0, stop: ["<|im_end|>"], stopAtEos: true });
  const chat = await client.chat.completions.create({ model: "tinycode-7m", messages, max_tokens: 24, temperature: 0 });
  assert.equal(chat.choices[0]!.message.content, wantChat.text);
  assert.equal(chat.choices[0]!.message.role, "assistant");

  const stream = await client.chat.completions.create({ model: "tinycode-7m", messages, max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let text = "", finish: string | null = null, usage = 0;
  for await (const ch of stream) {
    if (ch.choices[0]) {
      text += ch.choices[0].delta.content ?? "";
      finish = ch.choices[0].finish_reason ?? finish;
    }
    if (ch.usage) usage = ch.usage.completion_tokens;
  }
  assert.equal(text, wantChat.text);
  assert.equal(finish, chat.choices[0]!.finish_reason);
  assert.equal(usage, wantChat.ids.length);
});

test("openai client: a bad request is a BadRequestError carrying the server's message and param", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "tinycode-7m", messages: [{ role: "user", content: "x" }], n: 3 }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && e.status === 400 && /n must be 1/.test(e.message) && e.param === "n",
  );
  await assert.rejects(
    client.completions.create({ model: "tinycode-7m", prompt: "x = 1\n".repeat(200) }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && e.code === "context_length_exceeded",
  );
});
