/**
 * The command line's small conveniences (issue 20, point 3): --version, a prompt from standard
 * input or a file, quant-eval --calib, `info` numbers as the shortest decimal of their f32, the
 * real weight format in `info` and the generate status line, and bench/results output that stays
 * out of docs/ unless named.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO } from "./helpers/paths.js";
import { f32Decimal, weightFormat } from "../src/cli/format.js";
import { benchOutFiles } from "../src/bench/out.js";

const BIN = path.join(REPO, "bin", "lowbit.js");
const REF = JSON.parse(fs.readFileSync(path.join(REPO, "models/tinycode-7m/reference.json"), "utf8")) as {
  prompts: { prompt: string; input_ids: number[]; greedy_ids: number[] }[];
};
const P0 = REF.prompts[0]!;
const GREEDY = ["--max-new-tokens", "16", "--temperature", "0", "--dtype", "f32", "--json"];

function lowbit(args: string[], input?: string, cwd = REPO): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8", maxBuffer: 64 << 20, ...(input !== undefined ? { input } : {}) });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const lastJson = (s: string) => JSON.parse(s.trimEnd().split("\n").pop()!) as Record<string, unknown>;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-ux-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

test("--version and -V print package.json's version", () => {
  const version = (JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string }).version;
  for (const flag of ["--version", "-V"]) {
    const r = lowbit([flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), version);
  }
});

test("generate reads the prompt from standard input or --prompt-file (one trailing newline dropped), as --prompt would", () => {
  const want = lastJson(lowbit(["generate", "--prompt", P0.prompt, ...GREEDY]).stdout);
  assert.deepEqual(want.prompt_ids, P0.input_ids);
  // echo adds a newline: the prompt is the text before it
  const piped = lowbit(["generate", ...GREEDY], P0.prompt + "\n");
  assert.equal(piped.code, 0, piped.stderr);
  assert.deepEqual(lastJson(piped.stdout).prompt_ids, P0.input_ids);
  assert.deepEqual(lastJson(piped.stdout).ids, want.ids);
  const file = path.join(tmp, "prompt.txt");
  fs.writeFileSync(file, P0.prompt + "\n");
  const fromFile = lowbit(["generate", "--prompt-file", file, ...GREEDY]);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.deepEqual(lastJson(fromFile.stdout).prompt_ids, P0.input_ids);
  assert.deepEqual(lastJson(fromFile.stdout).ids, want.ids);
  // a flag wins over standard input: piped text is not read when --prompt is given
  const both = lowbit(["generate", "--prompt", P0.prompt, ...GREEDY], "something else entirely\n");
  assert.deepEqual(lastJson(both.stdout).prompt_ids, P0.input_ids);
});

test("prompt sources: two at once, a missing or empty file, empty standard input exit 2", () => {
  const empty = path.join(tmp, "empty.txt");
  fs.writeFileSync(empty, "\n");
  const cases: [string[], string | undefined, RegExp][] = [
    [["generate", "--prompt", "x", "--prompt-file", empty], undefined, /--prompt and --prompt-file, not both/],
    [["generate", "--prompt-file", path.join(tmp, "nope.txt")], undefined, /BAD_DATA.*nope\.txt.*not found/],
    [["generate", "--prompt-file", empty], undefined, /empty\.txt is empty/],
    [["generate"], "", /prompt is required.*standard input/],
    [["generate"], "\n", /prompt is required/],
  ];
  for (const [args, input, msg] of cases) {
    const r = lowbit(args, input);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, msg);
  }
});

test("f32Decimal: the shortest decimal that rounds to the same f32", () => {
  assert.equal(f32Decimal(Math.fround(1e-5)), "1e-5");
  assert.equal(String(Math.fround(1e-5)), "0.000009999999747378752");
  assert.equal(f32Decimal(Math.fround(1e-6)), "1e-6");
  assert.equal(f32Decimal(Math.fround(0.1)), "0.1");
  assert.equal(f32Decimal(1e-5), "1e-5");
  assert.equal(f32Decimal(10000), "10000");
  assert.equal(f32Decimal(Math.fround(1.5e-5)), "1.5e-5");
  assert.equal(f32Decimal(Math.fround(3.14159265)), "3.1415927");
  // every f32 comes back exactly, in at most 9 significant digits
  let seed = 1;
  for (let i = 0; i < 2000; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const x = Math.fround(Math.exp((seed / 2 ** 32 - 0.5) * 60));
    const s = f32Decimal(x);
    assert.equal(Math.fround(Number(s)), x, `${x} -> ${s}`);
    assert.ok(s.replace(/e.*$/, "").replace(/[.-]/g, "").replace(/^0+/, "").replace(/0+$/, "").length <= 9, s);
  }
});

test("a q4_0 GGUF: info shows rms eps 1e-5 and q4_0 weights; the generate status line says q4_0", () => {
  const gguf = path.join(tmp, "t.gguf");
  const c = lowbit(["convert", "--out", gguf, "--type", "q4_0"]);
  assert.equal(c.code, 0, c.stderr);
  const info = lowbit(["info", "--model", gguf]);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /rms eps 1e-5,/);
  assert.match(info.stdout, /weights [\d.]+ MiB \(q4_0, bf16 compute\)/);
  const j = lastJson(lowbit(["info", "--model", gguf, "--json"]).stdout) as { weights: string; config: { rmsNormEps: number } };
  assert.equal(j.weights, "q4_0");
  assert.equal(j.config.rmsNormEps, 1e-5);
  const g = lowbit(["generate", "--model", gguf, "--prompt", P0.prompt, "--max-new-tokens", "4"]);
  assert.equal(g.code, 0, g.stderr);
  assert.match(g.stderr, /\[t\.gguf q4_0 \(bf16 compute\) \d+ threads\] prompt/);
  // a model in its compute dtype keeps the short form
  const plain = lowbit(["generate", "--prompt", P0.prompt, "--max-new-tokens", "4", "--dtype", "f32"]);
  assert.match(plain.stderr, /\[tinycode-7m f32 \d+ threads\]/);
  const w8 = lowbit(["generate", "--prompt", P0.prompt, "--max-new-tokens", "4", "--quant", "w8a8", "--json"]);
  assert.equal(lastJson(w8.stdout).weights, "w8a8");
});

test("weightFormat: quant, else the blk.* matrices' native formats (most common first), else the dtype", () => {
  const stat = (format: string) => ({ format, rows: 1, cols: 1, bytes: 1 });
  const m = (quant: string | undefined, stats: Record<string, string>) => ({ quant, dtype: "bf16", weightStats: () => Object.fromEntries(Object.entries(stats).map(([k, f]) => [k, stat(f)])) });
  assert.equal(weightFormat(m("w8a8-sq", { "blk.0.attn_q.weight": "q8a8" })), "w8a8-sq");
  assert.equal(weightFormat(m(undefined, { "blk.0.attn_q.weight": "q4_k", "blk.0.ffn_down.weight": "q6_k", "blk.1.attn_q.weight": "q4_k", "token_embd.weight": "q8_0" })), "q4_k+q6_k");
  assert.equal(weightFormat(m(undefined, { "blk.0.attn_q.weight": "bf16", "token_embd.weight": "bf16" })), "bf16");
  assert.equal(weightFormat(m(undefined, {})), "bf16");
});

test("quant-eval --calib: the SmoothQuant formats calibrate on the given file (no ../shared needed)", () => {
  const texts = path.join(tmp, "texts.jsonl");
  const code = "def add(a, b):\n    return a + b\n\nfor i in range(10):\n    print(add(i, i * 2))\n\nclass Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n";
  fs.writeFileSync(texts, [code, code.toUpperCase(), code.replace(/a/g, "q")].map((text) => JSON.stringify({ text })).join("\n") + "\n");
  const common = ["quant-eval", "--data", texts, "--formats", "w8a8-sq", "--window", "32", "--max-windows", "1", "--calib-samples", "2", "--calib-tokens", "16", "--threads", "1", "--json"];
  const missing = lowbit([...common, "--calib", path.join(tmp, "no-calib.jsonl")]);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /no-calib\.jsonl/);
  const r = lowbit([...common, "--calib", texts]);
  assert.equal(r.code, 0, r.stderr);
  const j = lastJson(r.stdout) as { rows: { format: string; ppl: number }[] };
  assert.deepEqual(j.rows.map((x) => x.format), ["f32", "w8a8-sq"]);
  assert.ok(j.rows.every((x) => x.ppl > 1 && Number.isFinite(x.ppl)));
  const bad = lowbit([...common, "--calib", texts, "--smooth-alpha", "2"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--smooth-alpha/);
});

test("npm run bench writes bench-out/<set>.json unless --out names a file; --set all puts the others beside it", () => {
  const cwd = "/w";
  assert.deepEqual(benchOutFiles("all", undefined, cwd), { core: "/w/bench-out/core.json", quant: "/w/bench-out/quant.json", synthetic: "/w/bench-out/synthetic.json" });
  assert.equal(benchOutFiles("quant", undefined, cwd).quant, "/w/bench-out/quant.json");
  assert.equal(benchOutFiles("synthetic", "docs/bench/synthetic.json", cwd).synthetic, "/w/docs/bench/synthetic.json");
  // --set all --out X: core's JSON is X, never overwritten by the next set
  const all = benchOutFiles("all", "out/run1.json", cwd);
  assert.deepEqual(all, { core: "/w/out/run1.json", quant: "/w/out/quant.json", synthetic: "/w/out/synthetic.json" });
  const help = spawnSync(process.execPath, [path.join(REPO, "dist/src/bench/run.js"), "--help"], { cwd: REPO, encoding: "utf8" });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /bench-out\/<set>\.json/);
});

test("npm run results --from-json renders into bench-out/ from docs/results.json; docs/ untouched", () => {
  const dir = path.join(tmp, "results-cwd");
  fs.mkdirSync(path.join(dir, "docs"), { recursive: true });
  for (const f of ["results.json", "RESULTS.md"]) fs.copyFileSync(path.join(REPO, "docs", f), path.join(dir, "docs", f));
  const before = fs.readFileSync(path.join(dir, "docs", "RESULTS.md"));
  fs.writeFileSync(path.join(dir, "docs", "RESULTS.md"), before); // a known mtime
  const mtime = fs.statSync(path.join(dir, "docs", "RESULTS.md")).mtimeMs;
  const r = spawnSync(process.execPath, [path.join(REPO, "dist/src/results/run.js"), "--from-json"], { cwd: dir, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = fs.readFileSync(path.join(dir, "bench-out", "RESULTS.md"), "utf8");
  assert.match(out, /Table 1/);
  assert.deepEqual(fs.readFileSync(path.join(dir, "docs", "RESULTS.md")), before);
  assert.equal(fs.statSync(path.join(dir, "docs", "RESULTS.md")).mtimeMs, mtime);
  assert.equal(fs.existsSync(path.join(dir, "bench-out", "results.json")), false, "--from-json writes only the markdown");
});
