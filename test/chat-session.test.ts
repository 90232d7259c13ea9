/**
 * Chat in the library (issue 20, point 5): model.chat renders messages with the model's chat
 * template as the server does; a ChatSession keeps the history and, on the next turn, reads the
 * conversation so far from the KV cache (only the new tokens are computed) while giving the same
 * greedy answer as rendering the whole conversation from scratch.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { LLM, type ChatResult } from "../src/llm.js";
import { ChatSession } from "../src/chat/session.js";
import { ChatTemplate, type ChatMessage } from "../src/chat/template.js";
import { InvalidOptionError, StateError } from "../src/errors.js";

let llm: LLM;
before(async () => {
  llm = await LLM.load(undefined, { dtype: "f32", threads: 2, contextLength: 512 });
});
after(async () => {
  await llm.dispose();
});

const GREEDY = { maxNewTokens: 24, temperature: 0 };

/** The greedy answer to `messages` from an empty KV cache, rendered and generated as the server does. */
async function fromScratch(messages: ChatMessage[]) {
  llm.resetCache();
  const t = new ChatTemplate(llm.tokenizer);
  const r = await llm.generate(t.render(messages), { ...GREEDY, stop: t.stops, stopAtEos: true });
  assert.equal(r.timings.prefillTokens, r.timings.promptTokens, "nothing was cached");
  return r;
}

test("model.chat: the template's rendering of the messages, its stop strings, an assistant message", async () => {
  const messages: ChatMessage[] = [{ role: "system", content: "You write Python." }, { role: "user", content: "hello" }];
  const want = await fromScratch(messages);
  const r = await llm.chat(messages, GREEDY);
  assert.deepEqual(r.ids, want.ids);
  assert.equal(r.text, want.text);
  assert.deepEqual(r.message, { role: "assistant", content: want.text });
  assert.equal(r.finishReason, "stop", "the tiny model's <|im_end|> (ChatML fallback text) ends the answer");
  assert.equal(llm.chatTemplate.fallback, true);
  for (const bad of [[], [{ role: "robot", content: "x" }], [{ role: "user", content: 1 }]] as unknown as ChatMessage[][]) {
    await assert.rejects(async () => llm.chat(bad), InvalidOptionError);
  }
});

test("ChatSession: each turn reuses the cached conversation and answers as rendering it from scratch does", async () => {
  const session = new ChatSession(llm, { system: "You write Python.", defaults: GREEDY });
  const turns = ["return", "numbers", "hello"];
  const results: ChatResult[] = [];
  for (const q of turns) results.push(await session.send(q));
  // the history: system, then user/assistant pairs with the answers given
  const h = session.history;
  assert.deepEqual(h.map((m) => m.role), ["system", "user", "assistant", "user", "assistant", "user", "assistant"]);
  assert.deepEqual(h.filter((m) => m.role === "user").map((m) => m.content), turns);
  assert.deepEqual(h.filter((m) => m.role === "assistant").map((m) => m.content), results.map((r) => r.text));
  assert.ok(results[0]!.text.length > 20, JSON.stringify(results[0]!.text));
  for (let t = 1; t < turns.length; t++) {
    const r = results[t]!, prev = results[t - 1]!;
    // what was computed: the previous prompt was read from the cache, only (at most) the previous
    // answer and the new message were computed
    assert.ok(r.timings.prefillTokens < r.timings.promptTokens, `turn ${t}: ${r.timings.prefillTokens} of ${r.timings.promptTokens}`);
    assert.ok(r.timings.promptTokens - r.timings.prefillTokens >= prev.timings.promptTokens - 1, `turn ${t}: ${r.timings.promptTokens - r.timings.prefillTokens} cached, previous prompt ${prev.timings.promptTokens}`);
    // the same answer as the whole conversation rendered and computed from an empty cache
    const want = await fromScratch(h.slice(0, 2 * t + 2)); // system, the earlier pairs, this turn's user message
    assert.deepEqual(r.ids, want.ids, `turn ${t}`);
    assert.deepEqual(r.promptIds, want.promptIds, `turn ${t}`);
  }
  assert.deepEqual(session.usage, {
    turns: 3,
    promptTokens: results.reduce((a, r) => a + r.timings.promptTokens, 0),
    prefillTokens: results.reduce((a, r) => a + r.timings.prefillTokens, 0),
    completionTokens: results.reduce((a, r) => a + r.ids.length, 0),
    droppedTurns: 0,
  });
  session.clear();
  assert.deepEqual(session.history, [{ role: "system", content: "You write Python." }]);
});

test("ChatSession.stream: the chunks add up to the answer; one turn at a time; a failed turn leaves the history as it was", async () => {
  const session = new ChatSession(llm, { defaults: GREEDY });
  const a = await session.send("return");
  const s = session.stream("numbers");
  assert.throws(() => session.stream("x"), StateError);
  await assert.rejects(async () => session.send("x"), StateError);
  let text = "";
  for await (const piece of s) text += piece;
  const r = await s.result;
  assert.equal(text, r.text);
  assert.ok(r.timings.prefillTokens < r.timings.promptTokens - a.timings.promptTokens + 2);
  assert.equal(session.history.length, 4);
  assert.equal(session.history[3]!.content, r.text);
  // an aborted turn: no answer joins the history
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(async () => session.send("hello", { signal: ac.signal }));
  assert.equal(session.history.length, 4);
  const after = await session.send("hello");
  assert.equal(session.history.length, 6);
  assert.equal(session.history[5]!.content, after.text);
});

test("trimHistory: the oldest turns are dropped to leave room for the answer; without it the conversation overflows", async () => {
  const small = await LLM.load(undefined, { dtype: "f32", threads: 2, contextLength: 128 });
  try {
    const g = { maxNewTokens: 24, temperature: 0 };
    const trimmed = new ChatSession(small, { system: "Python.", defaults: g, trimHistory: true });
    for (let i = 0; i < 6; i++) {
      const r = await trimmed.send(i % 2 ? "numbers" : "return");
      assert.ok(r.timings.promptTokens <= 128 - 24, `turn ${i}: ${r.timings.promptTokens} prompt tokens`);
    }
    assert.ok(trimmed.usage.droppedTurns > 0);
    const h = trimmed.history;
    assert.deepEqual(h[0], { role: "system", content: "Python." });
    assert.equal(h.length, 1 + 2 * (6 - trimmed.usage.droppedTurns));
    assert.deepEqual(h.slice(-2).map((m) => m.role), ["user", "assistant"]);
    const plain = new ChatSession(small, { system: "Python.", defaults: g });
    await assert.rejects(async () => {
      for (let i = 0; i < 6; i++) await plain.send(i % 2 ? "numbers" : "return");
    }, /ContextOverflow|context/i);
  } finally {
    await small.dispose();
  }
});
