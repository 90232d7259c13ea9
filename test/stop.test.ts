/** Tests for StopMatcher: split stops, released partial prefixes, multiple stops, flush. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { StopMatcher } from "../src/generate/stop.js";
import { InvalidOptionError } from "../src/errors.js";

/** Push chunks until stopped; returns everything emitted (+ flush if not stopped) and the stop. */
function run(stops: string[], chunks: string[]): { text: string; stop?: string; pushes: number } {
  const m = new StopMatcher(stops);
  let text = "";
  let pushes = 0;
  for (const c of chunks) {
    pushes++;
    const r = m.push(c);
    text += r.emit;
    if (r.stopped) return { text, stop: r.stop, pushes };
  }
  return { text: text + m.flush(), pushes };
}

test("no stops: text passes straight through", () => {
  const m = new StopMatcher([]);
  assert.deepEqual(m.push("hello"), { emit: "hello", stopped: false });
  assert.equal(m.flush(), "");
});

test("stop string inside one push: emit excludes it and anything after", () => {
  const m = new StopMatcher(["\n\n"]);
  assert.deepEqual(m.push("a = 1\n\nb = 2"), { emit: "a = 1", stopped: true, stop: "\n\n" });
  assert.deepEqual(m.push("more"), { emit: "", stopped: true });
  assert.equal(m.flush(), "");
});

test("stop string split across pushes is held back then cut", () => {
  const m = new StopMatcher(["<|end|>"]);
  assert.deepEqual(m.push("abc<|"), { emit: "abc", stopped: false });
  assert.deepEqual(m.push("en"), { emit: "", stopped: false });
  assert.deepEqual(m.push("d|>tail"), { emit: "", stopped: true, stop: "<|end|>" });
  // one character at a time
  const r = run(["###"], [..."x = 1 # c\n### next"]);
  assert.equal(r.text, "x = 1 # c\n");
  assert.equal(r.stop, "###");
});

test("partial prefix that turns out not to be a stop is released", () => {
  const m = new StopMatcher(["STOP"]);
  assert.deepEqual(m.push("go ST"), { emit: "go ", stopped: false });
  assert.deepEqual(m.push("OR"), { emit: "STOR", stopped: false }); // "STOR" cannot become "STOP"
  assert.equal(m.flush(), "");
  const m2 = new StopMatcher(["STOP"]);
  assert.deepEqual(m2.push("ST"), { emit: "", stopped: false });
  assert.deepEqual(m2.push("ART now"), { emit: "START now", stopped: false });
  // overlapping self-prefix: "aab" then "aaab" must still stop
  const r = run(["aab"], ["a", "a", "a", "b", "c"]);
  assert.deepEqual([r.text, r.stop], ["a", "aab"]);
});

test("multiple stop strings: earliest match wins, any can match", () => {
  assert.deepEqual(run(["\ndef ", "\nclass "], ["x\n", "cla", "ss A", ":"]), { text: "x", stop: "\nclass ", pushes: 3 });
  assert.deepEqual(run(["\ndef ", "\nclass "], ["x\n", "de", "f f"]), { text: "x", stop: "\ndef ", pushes: 3 });
  // both in one chunk: the earlier one wins
  assert.deepEqual(run(["END", "STOP"], ["a STOP b END"]), { text: "a ", stop: "STOP", pushes: 1 });
  // same start: the longer one is reported
  assert.deepEqual(run(["ab", "abc"], ["xabcd"]), { text: "x", stop: "abc", pushes: 1 });
  // held tail is the longest possible prefix over all stops
  const m = new StopMatcher(["xyz", "yz!"]);
  assert.deepEqual(m.push("axy"), { emit: "a", stopped: false });
  assert.deepEqual(m.push("z"), { emit: "", stopped: true, stop: "xyz" });
});

test("flush returns the held tail when no stop matched", () => {
  const m = new StopMatcher(["</s>"]);
  assert.deepEqual(m.push("hello </"), { emit: "hello ", stopped: false });
  assert.equal(m.flush(), "</");
  assert.equal(m.flush(), "");
  assert.deepEqual(run(["</s>"], ["a<", "/", "b"]), { text: "a</b", pushes: 3 });
});

test("multi-byte / emoji stop strings", () => {
  assert.deepEqual(run(["🙂!"], ["héllo ", "🙂", "!", " bye"]), { text: "héllo ", stop: "🙂!", pushes: 3 });
  assert.deepEqual(run(["🙂!"], ["héllo ", "🙂", "?"]), { text: "héllo 🙂?", pushes: 3 });
});

test("empty or non-string stop strings are rejected", () => {
  assert.throws(() => new StopMatcher([""]), InvalidOptionError);
  assert.throws(() => new StopMatcher(["ok", ""]), InvalidOptionError);
  assert.throws(() => new StopMatcher([42 as unknown as string]), InvalidOptionError);
});
