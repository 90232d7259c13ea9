/**
 * StreamingLLM context shift with assisted generation (src/generate/assisted.ts): both KV caches
 * drop the same tokens at the same time, and the target shifts at the points plain decoding does,
 * so greedy assisted output past the context is plain decoding's with the same contextShift
 * (itself tested against native steps made by hand in context-shift.test.ts), token for token.
 * A draft with the target's own weights must keep nearly every token it proposes: a draft cache
 * that drifted out of line with the target's (wrong tokens or positions after a shift) would not.
 * Embedded tinycode-7m, f32 target.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { LLM } from "../src/llm.js";
import type { LoadOptions } from "../src/load-options.js";
import { InvalidOptionError } from "../src/errors.js";
import { codeStream } from "./helpers/texts.js";

const models: LLM[] = [];
after(async () => {
  for (const m of models) await m.dispose();
});
async function load(contextLength: number, o: LoadOptions = {}): Promise<LLM> {
  const m = await LLM.load(undefined, { dtype: "f32", threads: 2, contextLength, ...o });
  models.push(m);
  return m;
}

test("greedy assisted generation past the context: plain decoding's tokens and shifts; a self-draft keeps every proposal", async () => {
  const ctx = 40, maxNewTokens = 100;
  const target = await load(ctx);
  const self = await load(ctx); // the same weights: with caches in step it proposes the target's own argmax
  const small = await load(64, { quant: "w8a8" }); // other weights, a larger context
  const short = target.encode("def fibonacci(n):\n    if n < 2:\n        return n\n");
  const long = codeStream(target, 100); // prefilled in chunks, shifted between them
  for (const [name, prompt] of [["short", short], ["long", long]] as const) {
    for (const contextShift of [{ nKeep: 4, nDiscard: 10 }, { nKeep: 0, nDiscard: 18 }, { nKeep: 4, nDiscard: 1 }]) {
      const what = `${name} prompt, ${JSON.stringify(contextShift)}`;
      const plain = await target.generate(prompt, { maxNewTokens, contextShift });
      assert.equal(plain.ids.length, maxNewTokens, what);
      assert.ok(plain.contextShifts! >= 2, `${what}: ${plain.contextShifts} shifts`);
      for (const [dname, draft] of [["self", self], ["w8a8", small]] as const) {
        const r = await target.generate(prompt, { maxNewTokens, contextShift, draft, draftTokens: 4 });
        assert.deepEqual(r.ids, plain.ids, `${what}, ${dname} draft`);
        assert.equal(r.contextShifts, plain.contextShifts, `${what}, ${dname} draft`);
        assert.equal(r.finishReason, "length");
        const { proposed, accepted } = r.assisted!;
        if (dname === "self") assert.equal(accepted, proposed, `${what}: the self-draft kept ${accepted} of ${proposed}`);
        if (contextShift.nDiscard === 1) {
          // once the cache is full, a shift every token leaves no room for a draft (documented): plain steps
          assert.ok(proposed <= Math.max(0, ctx - prompt.length), `${what}, ${dname} draft: ${proposed} proposed`);
        } else {
          assert.ok(proposed >= 50, `${what}, ${dname} draft: ${proposed} proposed`);
          if (dname === "w8a8") assert.ok(accepted > 0, `${what}: the w8a8 draft kept none of ${proposed}`);
        }
      }
    }
  }
});

test("sampled assisted generation runs past the context; the same seed gives the same tokens", async () => {
  const target = await load(40);
  const draft = await load(40, { dtype: "bf16" });
  const opts = { maxNewTokens: 120, temperature: 0.8, seed: 7, contextShift: { nKeep: 4, nDiscard: 12 }, draft, stopAtEos: false };
  const a = await target.generate("import os\n", opts);
  const b = await target.generate("import os\n", opts);
  assert.equal(a.ids.length, 120);
  assert.ok(a.contextShifts! >= 4, `${a.contextShifts} shifts`);
  assert.deepEqual(b.ids, a.ids);
  assert.ok(a.assisted!.accepted > 0);
});

test("contextShift with a draft whose context is smaller than the target's is an InvalidOptionError", async () => {
  const target = await load(48);
  const draft = await load(40);
  assert.throws(
    () => target.generate("def f():", { contextShift: {}, draft }),
    (e: Error) => e instanceof InvalidOptionError && /draft's context \(40 tokens\) to be at least the target's \(48\)/.test(e.message),
  );
  // without contextShift the smaller draft is fine: K shrinks near its context end
  const r = await target.generate("def f():", { maxNewTokens: 8, draft });
  assert.equal(r.ids.length, 8);
});
