/** Tests for src/eval/perplexity.ts and `lowbit perplexity`. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { LLM } from "../src/llm.js";
import { perplexity, readJsonlTexts } from "../src/eval/perplexity.js";
import { DataError, InvalidOptionError } from "../src/errors.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.join(ROOT, "bin", "lowbit.js");
const SHARED = process.env.LOWBIT_SHARED ?? path.join(ROOT, "..", "shared");
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-ppl-"));

const TEXTS = [
  "def add(a, b):\n    return a + b\n",
  "import os\n\nprint(os.getcwd())\n",
  "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
  "for i in range(10):\n    if i % 2 == 0:\n        print(i)\n",
];

function writeFile(name: string, content: string): string {
  const p = path.join(TMP, name);
  fs.writeFileSync(p, content);
  return p;
}

let model: LLM;
before(async () => {
  model = await LLM.load(undefined, { dtype: "f32" });
});
after(async () => {
  await model?.dispose();
  fs.rmSync(TMP, { recursive: true, force: true });
});

/** NLL of `target` from raw logits, log-softmax in float64. */
function nllOf(logits: Float32Array, target: number): number {
  let max = -Infinity;
  for (const x of logits) if (x > max) max = x;
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  return -(logits[target] - max - Math.log(sum));
}

test("perplexity matches an independent per-prefix computation", async () => {
  const window = 16;
  const eos = model.config.eosTokenIds[0];
  const stream = TEXTS.flatMap((t) => [...model.encode(t), eos]);
  assert.ok(stream.length >= 3 * window + 2, "test corpus long enough for 3 windows and a partial one");
  let sum = 0;
  for (let w = 0; w < 2; w++) {
    // window w: tokens [w*window, (w+1)*window + 1) -- consecutive windows share one token
    const win = stream.slice(w * window, (w + 1) * window + 1);
    for (let i = 1; i <= window; i++) sum += nllOf(await model.logits(win.slice(0, i)), win[i]);
  }
  const mean = sum / (2 * window);

  const progress: [number, number][] = [];
  const r = await perplexity(model, TEXTS, { window, maxWindows: 2, onProgress: (d, t) => progress.push([d, t]) });
  assert.equal(r.windows, 2);
  assert.equal(r.tokens, 2 * window);
  assert.ok(Math.abs(r.nll - mean) / mean < 1e-4, `nll ${r.nll} vs independent ${mean}`);
  assert.ok(Math.abs(r.ppl - Math.exp(mean)) / Math.exp(mean) < 1e-4, `ppl ${r.ppl} vs ${Math.exp(mean)}`);
  assert.ok(r.seconds >= 0);
  assert.deepEqual(progress, [[0, 2], [1, 2], [2, 2]]);

  // without maxWindows every complete window is used and the partial one dropped
  const all = await perplexity(model, TEXTS, { window });
  assert.equal(all.windows, Math.floor((stream.length - 1) / window));
  assert.ok(all.windows >= 3);
});

test("lowbit perplexity --json agrees with the library", async () => {
  const data = writeFile("tiny.jsonl", TEXTS.map((text) => JSON.stringify({ text })).join("\n\n") + "\n");
  const lib = await perplexity(model, readJsonlTexts(data), { window: 16, maxWindows: 2 });
  const r = spawnSync(process.execPath, [BIN, "perplexity", "--data", data, "--window", "16", "--max-windows", "2", "--dtype", "f32", "--json"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  const j = JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
  assert.deepEqual(Object.keys(j).sort(), ["dtype", "model", "nll", "ppl", "quant", "seconds", "tokens", "windows"]);
  assert.equal(j.quant, null, "no quantization unless --quant");
  assert.equal(j.windows, 2);
  assert.equal(j.tokens, 32);
  assert.equal(j.model, "tinycode-7m");
  assert.equal(j.dtype, "f32");
  assert.ok(Math.abs((j.ppl as number) - lib.ppl) / lib.ppl < 1e-6, `cli ${String(j.ppl)} vs lib ${lib.ppl}`);
  assert.ok(!r.stderr.includes("windows |"), "no progress bar in --json mode");
});

test("perplexity option and data errors", async () => {
  await assert.rejects(perplexity(model, TEXTS, { window: 0 }), InvalidOptionError);
  await assert.rejects(perplexity(model, TEXTS, { window: 2.5 }), InvalidOptionError);
  await assert.rejects(perplexity(model, TEXTS, { window: model.contextLength + 1 }), /window must be an integer in \[1, 2048\]/);
  await assert.rejects(perplexity(model, TEXTS, { window: 16, maxWindows: 0 }), InvalidOptionError);
  await assert.rejects(perplexity(model, ["x"], { window: 1024 }), (e: unknown) => e instanceof DataError && /one window needs 1025/.test(e.message));
});

test("readJsonlTexts reads text fields and skips blank lines", () => {
  const p = writeFile("ok.jsonl", '{"text": "a"}\n\n  \n{"text": "b\\nc", "meta": 1}\r\n{"text": ""}');
  assert.deepEqual(readJsonlTexts(p), ["a", "b\nc", ""]);
});

test("readJsonlTexts errors name the file and line", () => {
  const bad = (name: string, content: string | null, msg: RegExp) => {
    const p = content === null ? path.join(TMP, name) : writeFile(name, content);
    assert.throws(() => readJsonlTexts(p), (e: unknown) => {
      assert.ok(e instanceof DataError, `DataError for ${name}`);
      assert.equal(e.code, "BAD_DATA");
      assert.ok(e.message.includes(p), `message names the file: ${e.message}`);
      assert.match(e.message, msg);
      return true;
    });
  };
  bad("missing.jsonl", null, /not found/);
  bad("empty.jsonl", "", /empty/);
  bad("blank.jsonl", "\n  \n\n", /empty/);
  bad("notjson.jsonl", '{"text": "a"}\n{"text": "b"\n', /:2: line is not valid JSON/);
  bad("notext.jsonl", '{"text": "a"}\n\n{"content": "b"}\n', /:3: .*string "text"/);
  bad("numtext.jsonl", '{"text": 5}\n', /:1: .*string "text"/);
  bad("array.jsonl", '["text"]\n', /:1: .*string "text"/);
  bad("null.jsonl", "null\n", /:1: .*string "text"/);
});

test("reference perplexity of the embedded tinycode-7m (window 1024, 64 windows, f32)", (t) => {
  const data = path.join(SHARED, "data", "python-heldout-test.jsonl");
  if (!fs.existsSync(path.join(SHARED, "models", "tinycode-7m")) || !fs.existsSync(data)) {
    t.skip(`shared data not found at ${SHARED} (set LOWBIT_SHARED to the directory holding data/python-heldout-test.jsonl)`);
    return;
  }
  const ref = (JSON.parse(fs.readFileSync(path.join(ROOT, "models/tinycode-7m/reference.json"), "utf8")) as {
    test_perplexity: { ppl: number; windows: number; window: number; tokens: number };
  }).test_perplexity;
  const r = spawnSync(
    process.execPath,
    [BIN, "perplexity", "--data", data, "--window", String(ref.window), "--max-windows", String(ref.windows), "--dtype", "f32", "--json"],
    { cwd: ROOT, encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  const j = JSON.parse(lines[lines.length - 1]) as { ppl: number; windows: number; tokens: number; seconds: number };
  assert.equal(j.windows, ref.windows);
  assert.equal(j.tokens, ref.tokens);
  const rel = Math.abs(j.ppl - ref.ppl) / ref.ppl;
  t.diagnostic(`ppl ${j.ppl.toFixed(4)} vs reference ${ref.ppl.toFixed(4)} (rel ${(rel * 100).toFixed(3)}%), ${j.seconds.toFixed(1)} s`);
  assert.ok(rel < 0.003, `ppl ${j.ppl} not within 0.3% of ${ref.ppl}`);
});
