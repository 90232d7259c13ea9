/**
 * `lowbit chat` (issue 20, point 4): driven through a pseudo-terminal (util-linux `script`
 * allocates one) as a person types, and through piped standard input: streamed answers, the
 * history read from the KV cache, /clear, Ctrl-C stopping an answer but not the session, Ctrl-C
 * at the prompt and Ctrl-D ending it, and the oldest turns dropped when the context is full.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as path from "node:path";
import { REPO } from "./helpers/paths.js";
import { LLM } from "../src/llm.js";

const BIN = path.join(REPO, "bin", "lowbit.js");
const HAS_SCRIPT = spawnSync("script", ["--version"], { encoding: "utf8" }).status === 0;

/** lowbit chat in a pseudo-terminal; `out` is everything the terminal showed. */
function ptyChat(args: string[]) {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, BIN, "chat", ...args].map(quote).join(" ");
  const child = spawn("script", ["-qfec", cmd, "/dev/null"], { cwd: REPO, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => child.on("close", r));
  const until = async (ok: () => boolean, what: string, ms = 60_000) => {
    const t0 = Date.now();
    while (!ok()) {
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; the terminal shows ${JSON.stringify(out)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const prompts = () => out.split(">>> ").length - 1;
  return {
    out: () => out,
    type: (s: string) => child.stdin.write(s),
    waitFor: (re: RegExp) => until(() => re.test(out), String(re)),
    waitPrompt: (n: number) => until(() => prompts() >= n, `prompt ${n}`),
    exited,
    kill: () => child.kill("SIGKILL"),
  };
}

test("in a terminal: streamed answers, Ctrl-C stops an answer and the session goes on, the cache is reused, /clear, Ctrl-C at the prompt ends it", { skip: HAS_SCRIPT ? false : "util-linux script not found", timeout: 120_000 }, async () => {
  const t = ptyChat(["--temperature", "0", "--max-new-tokens", "2000", "--dtype", "f32", "--ctx", "4096", "--system", "You write Python."]);
  try {
    await t.waitPrompt(1);
    t.type("return\r");
    await t.waitFor(/from __future__/); // streaming: text on the screen while the answer goes on
    t.type("\x03");
    await t.waitFor(/\(stopped\)/);
    await t.waitPrompt(2);
    const stopped = t.out().slice(t.out().indexOf("return"), t.out().indexOf("(stopped)"));
    assert.ok(stopped.length < 2000, "stopped long before 2000 tokens");
    t.type("hello\r");
    await t.waitFor(/from the cache/);
    await t.waitPrompt(3);
    // the aborted answer is not in the history: the prompt is system + "hello", its start read from the cache
    const stats = /\[prompt (\d+) tok, (\d+) from the cache/.exec(t.out())!;
    assert.ok(Number(stats[2]) > 0 && Number(stats[2]) < Number(stats[1]), stats[0]);
    t.type("/clear\r");
    await t.waitFor(/\(conversation cleared\)/);
    await t.waitPrompt(4);
    t.type("\x03"); // at the prompt: the end
    assert.equal(await t.exited, 0, t.out());
  } finally {
    t.kill();
  }
});

test("in a terminal: Ctrl-D ends the session with exit code 0", { skip: HAS_SCRIPT ? false : "util-linux script not found", timeout: 60_000 }, async () => {
  const t = ptyChat(["--temperature", "0", "--max-new-tokens", "8"]);
  try {
    await t.waitPrompt(1);
    t.type("hello\r");
    await t.waitPrompt(2);
    t.type("\x04");
    assert.equal(await t.exited, 0, t.out());
  } finally {
    t.kill();
  }
});

test("piped standard input: one message per line; the answers are model.chat's on the growing conversation", async () => {
  const r = spawnSync(process.execPath, [BIN, "chat", "--temperature", "0", "--max-new-tokens", "20", "--dtype", "f32"], { cwd: REPO, encoding: "utf8", input: "return\nnumbers\n/clear\nhello\n" });
  assert.equal(r.status, 0, r.stderr);
  const stats = [...r.stderr.matchAll(/\[prompt (\d+) tok, (\d+) from the cache/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.equal(stats.length, 3, r.stderr);
  assert.ok(stats[1]![1]! >= stats[0]![0]! - 1, `the second turn read the first prompt from the cache: ${JSON.stringify(stats)}`);
  const llm = await LLM.load(undefined, { dtype: "f32", threads: 2 });
  try {
    const g = { maxNewTokens: 20, temperature: 0 };
    const a1 = await llm.chat([{ role: "user", content: "return" }], g);
    const a2 = await llm.chat([{ role: "user", content: "return" }, a1.message, { role: "user", content: "numbers" }], g);
    const a3 = await llm.chat([{ role: "user", content: "hello" }], g);
    assert.equal(r.stdout, `${a1.text}\n${a2.text}\n(conversation cleared)\n${a3.text}\n`);
    assert.equal(stats[2]![0], a3.timings.promptTokens, "after /clear the conversation is the one message");
  } finally {
    await llm.dispose();
  }
});

test("a conversation past the context: the oldest turns are dropped and the chat goes on", () => {
  const lines = ["return", "numbers", "return", "numbers", "return", "numbers"].join("\n") + "\n";
  const r = spawnSync(process.execPath, [BIN, "chat", "--temperature", "0", "--max-new-tokens", "24", "--ctx", "160", "--system", "Python."], { cwd: REPO, encoding: "utf8", input: lines });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /outgrew the context: the oldest \d+ turns? dropped/);
  assert.doesNotMatch(r.stderr, /error \[/);
  const prompts = [...r.stderr.matchAll(/\[prompt (\d+) tok/g)].map((m) => Number(m[1]));
  assert.equal(prompts.length, 6);
  assert.ok(prompts.every((p) => p <= 160 - 24), JSON.stringify(prompts));
});
