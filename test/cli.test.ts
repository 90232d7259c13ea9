/** End-to-end tests of bin/lowbit.js (run as a child process from the repo root). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.join(ROOT, "bin", "lowbit.js");
const REF = JSON.parse(fs.readFileSync(path.join(ROOT, "models/tinycode-7m/reference.json"), "utf8")) as {
  prompts: { prompt: string; input_ids: number[]; greedy_ids: number[]; greedy_text: string }[];
};
const P0 = REF.prompts[0];

function lowbit(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The last non-empty stdout line, parsed as JSON. */
function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trimEnd().split("\n");
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

const GREEDY = ["--max-new-tokens", "48", "--temperature", "0", "--dtype", "f32"];

test("generate --prompt-ids --json reproduces the reference greedy ids", () => {
  const r = lowbit(["generate", "--prompt-ids", P0.input_ids.join(","), ...GREEDY, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = lastJson(r.stdout);
  assert.deepEqual(j.ids, P0.greedy_ids);
  assert.equal(j.text, P0.greedy_text);
  assert.deepEqual(j.prompt_ids, P0.input_ids);
  assert.equal(j.finish_reason, "length");
  for (const k of ["ttft_ms", "tpot_ms", "prompt_tokens_per_s", "gen_tokens_per_s", "overhead_ms_per_token"]) {
    assert.equal(typeof j[k], "number", k);
    assert.ok((j[k] as number) >= 0, k);
  }
  assert.equal(j.model, "tinycode-7m");
  assert.equal(j.dtype, "f32");
  assert.equal(typeof j.threads, "number");
});

test("generate --prompt TEXT gives the same ids as --prompt-ids", () => {
  const r = lowbit(["generate", "--prompt", P0.prompt, ...GREEDY, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = lastJson(r.stdout);
  assert.deepEqual(j.prompt_ids, P0.input_ids);
  assert.deepEqual(j.ids, P0.greedy_ids);
});

test("generate without --json streams the continuation and prints timings to stderr", () => {
  const r = lowbit(["generate", "--prompt", P0.prompt, ...GREEDY]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(P0.greedy_text), `stdout: ${JSON.stringify(r.stdout)}`);
  assert.match(r.stderr, /\[tinycode-7m f32 \d+ threads\] prompt 10 tok, TTFT [\d.]+ ms .*48 tok at TPOT [\d.]+ ms/);
});

test("generate --stop ends at the stop string and --stop-at-eos is accepted", () => {
  const r = lowbit(["generate", "--prompt", P0.prompt, ...GREEDY, "--stop", "XXX", "--stop-at-eos", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = lastJson(r.stdout);
  assert.equal(j.finish_reason, "stop");
  assert.equal(j.text, "#    # ");
});

test("sampling with a seed is reproducible", () => {
  const args = ["generate", "--prompt", P0.prompt, "--max-new-tokens", "16", "--temperature", "0.8", "--top-k", "40", "--top-p", "0.95", "--seed", "7", "--json"];
  const a = lastJson(lowbit(args).stdout);
  const b = lastJson(lowbit(args).stdout);
  assert.deepEqual(a.ids, b.ids);
});

/** Runs lowbit expecting exit code 2 and an `error [CODE]` line matching `msg`. */
function expectUsageError(args: string[], msg: RegExp): void {
  const r = lowbit(args);
  assert.equal(r.code, 2, `exit code for ${args.join(" ")}: stderr ${r.stderr}`);
  assert.match(r.stderr, /^error \[[A-Z_]+\]: /m);
  assert.match(r.stderr, msg);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace for bad input");
}

test("bad inputs exit with code 2 and name the problem", async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-cli-"));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const notJsonl = path.join(tmp, "bad.jsonl");
  fs.writeFileSync(notJsonl, '{"text": "ok"}\nthis is not json\n');
  const cases: [string, string[], RegExp][] = [
    ["missing model dir", ["generate", "--model", path.join(tmp, "nope"), "--prompt", "x"], /MODEL_NOT_FOUND.*nope/],
    ["unknown --dtype", ["generate", "--prompt", "x", "--dtype", "f16"], /--dtype.*"f16"/],
    ["negative --max-new-tokens", ["generate", "--prompt", "x", "--max-new-tokens", "-1"], /--max-new-tokens.*"-1"/],
    ["non-numeric --max-new-tokens", ["generate", "--prompt", "x", "--max-new-tokens", "abc"], /--max-new-tokens.*"abc"/],
    ["negative --temperature", ["generate", "--prompt", "x", "--temperature", "-0.5"], /--temperature/],
    ["bad --top-p", ["generate", "--prompt", "x", "--top-p", "1.5"], /--top-p/],
    ["both prompts", ["generate", "--prompt", "x", "--prompt-ids", "1,2"], /--prompt.*--prompt-ids.*not both/],
    ["no prompt", ["generate"], /prompt is required/],
    ["malformed --prompt-ids", ["generate", "--prompt-ids", "1,x"], /--prompt-ids.*"x"/],
    ["out-of-vocab id", ["generate", "--prompt-ids", "1,999999"], /999999/],
    ["prompt longer than --ctx", ["generate", "--prompt-ids", "1,2,3,4,5,6,7,8,9,10", "--ctx", "8"], /CONTEXT_OVERFLOW.*context holds 8/],
    ["missing data file", ["perplexity", "--data", path.join(tmp, "missing.jsonl")], /BAD_DATA.*missing\.jsonl.*not found/],
    ["data file not jsonl", ["perplexity", "--data", notJsonl], /BAD_DATA.*bad\.jsonl:2.*not valid JSON/],
    ["perplexity without --data", ["perplexity"], /--data/],
    ["bad --window", ["perplexity", "--data", notJsonl, "--window", "0"], /--window/],
    ["unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
    ["unknown option", ["generate", "--prompt", "x", "--bogus"], /unknown option '--bogus'/],
  ];
  for (const [name, args, msg] of cases) {
    await t.test(name, () => expectUsageError(args, msg));
  }
});

test("--help exits 0 and lists the commands", () => {
  const r = lowbit(["--help"]);
  assert.equal(r.code, 0);
  for (const c of ["generate", "perplexity", "info"]) assert.ok(r.stdout.includes(c), c);
});

test("info prints CPU features, kernels and the config", () => {
  const r = lowbit(["info"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^cpu /m);
  assert.match(r.stdout, /kernels .*in use: (ref|avx2|avx512)/);
  assert.match(r.stdout, /4 layers, hidden 256/);
});
