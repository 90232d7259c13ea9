/** `lowbit quantize` and saved models through the CLI (bin/lowbit.js as a child process). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.join(ROOT, "bin", "lowbit.js");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-quantize-cli-"));
const calib = path.join(tmp, "calib.jsonl");
fs.writeFileSync(calib, ["def add(a, b):\n    return a + b\n", "import os\nprint(os.listdir('.'))\n"].map((text) => JSON.stringify({ text })).join("\n"));
const data = path.join(tmp, "data.jsonl");
fs.writeFileSync(data, JSON.stringify({ text: "def add(a, b):\n    return a + b\n".repeat(20) }) + "\n");

function lowbit(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const lastJson = (s: string) => JSON.parse(s.trimEnd().split("\n").pop()!) as Record<string, unknown>;
const GEN = ["generate", "--prompt", "def fibonacci(n):", "--max-new-tokens", "16", "--threads", "2", "--json"];

test("quantize --out, then generate / perplexity / info --model on the saved directory", () => {
  const out = path.join(tmp, "sq");
  const q = lowbit(["quantize", "--quant", "w8a8-sq", "--calib", calib, "--quant-head", "--threads", "2", "--out", out, "--json"]);
  assert.equal(q.code, 0, q.stderr);
  const j = lastJson(q.stdout);
  assert.equal(j.quant, "w8a8-sq");
  assert.equal(j.quant_head, true);
  // (tied embeddings: the bf16 table stays and the int8 head is a second copy, so no smaller than the checkpoint here)
  assert.equal(j.bytes, fs.statSync(path.join(out, "model.lowbit.safetensors")).size);
  assert.ok(fs.existsSync(path.join(out, "model.lowbit.safetensors")));
  fs.rmSync(calib); // the saved model never needs it again

  // same tokens as quantizing at load with the same calibration (recreated for that run)
  const fromSaved = lastJson(lowbit([...GEN, "--model", out]).stdout);
  fs.writeFileSync(calib, ["def add(a, b):\n    return a + b\n", "import os\nprint(os.listdir('.'))\n"].map((text) => JSON.stringify({ text })).join("\n"));
  const atLoad = lastJson(lowbit([...GEN, "--quant", "w8a8-sq", "--quant-head", "--calib", calib]).stdout);
  assert.deepEqual(fromSaved.ids, atLoad.ids);
  assert.equal(fromSaved.quant, "w8a8-sq");

  const p1 = lowbit(["perplexity", "--model", out, "--data", data, "--window", "64", "--threads", "2", "--json"]);
  const p2 = lowbit(["perplexity", "--quant", "w8a8-sq", "--quant-head", "--calib", calib, "--data", data, "--window", "64", "--threads", "2", "--json"]);
  assert.equal(p1.code, 0, p1.stderr);
  assert.equal(lastJson(p1.stdout).ppl, lastJson(p2.stdout).ppl);

  const info = lowbit(["info", "--model", out, "--threads", "2"]);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /quant +w8a8-sq \+ LM head \(saved model, quantized from .*tinycode-7m\)/);

  const qe = lowbit(["quant-eval", "--model", out, "--data", data, "--window", "64", "--threads", "2", "--json"]);
  assert.equal(qe.code, 0, qe.stderr);
  assert.deepEqual((lastJson(qe.stdout).rows as { format: string }[]).map((r) => r.format), ["f32", "saved w8a8-sq+head (bf16)"]);
});

test("quantize and saved-model usage errors exit 2 with a typed error", () => {
  const out = path.join(tmp, "q4");
  assert.equal(lowbit(["quantize", "--quant", "w4a16-g128", "--out", out]).code, 0);
  const busy = path.join(tmp, "busy");
  fs.mkdirSync(busy);
  fs.writeFileSync(path.join(busy, "x"), "");
  const cases: [string[], RegExp][] = [
    [["quantize", "--quant", "w8a8"], /INVALID_OPTION.*--out/],
    [["quantize", "--out", path.join(tmp, "x")], /INVALID_OPTION.*--quant/],
    [["quantize", "--quant", "w3a16", "--out", path.join(tmp, "x")], /INVALID_OPTION.*--quant/],
    [["quantize", "--quant", "w8a8", "--out", busy], /INVALID_OPTION.*not empty/],
    [[...GEN, "--model", out, "--quant", "w8a8"], /INVALID_OPTION.*saved w4a16-g128 .*cannot be loaded as w8a8/],
    [[...GEN, "--model", out, "--dtype", "f32"], /INVALID_OPTION.*dtype f32/],
  ];
  for (const [args, re] of cases) {
    const r = lowbit(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  const file = path.join(out, "model.lowbit.safetensors");
  fs.truncateSync(file, fs.statSync(file).size - 10);
  const r = lowbit([...GEN, "--model", out]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /error \[BAD_SAVED_MODEL\]: .*truncated/);
});

test("quant-eval --saved: saved models of the checkpoint as rows beside the formats, on the same windows", () => {
  const out = path.join(tmp, "q4-rows");
  assert.equal(lowbit(["quantize", "--quant", "w4a16-g128", "--threads", "2", "--out", out]).code, 0);
  const both = lowbit(["quant-eval", "--data", data, "--window", "64", "--threads", "2", "--formats", "w4a16-g128", "--saved", out, "--json"]);
  assert.equal(both.code, 0, both.stderr);
  const rows = lastJson(both.stdout).rows as { format: string; ppl: number }[];
  assert.deepEqual(rows.map((r) => r.format), ["f32", "w4a16-g128", "saved w4a16-g128 (bf16)"]);
  // the same saved model alone (quant-eval --model SAVED) scores the same on the same windows
  const alone = lowbit(["quant-eval", "--model", out, "--data", data, "--window", "64", "--threads", "2", "--json"]);
  assert.equal(alone.code, 0, alone.stderr);
  const aloneRows = lastJson(alone.stdout).rows as { format: string; ppl: number }[];
  assert.equal(aloneRows[1].format, "saved w4a16-g128 (bf16)");
  assert.equal(rows[2].ppl, aloneRows[1].ppl);
  assert.equal(rows[0].ppl, aloneRows[0].ppl);

  const cases: [string[], RegExp][] = [
    [["--saved", data], /INVALID_OPTION.*--saved .*not a saved lowbit model/],
    [["--model", "synthetic:tiny-mpt", "--saved", out], /INVALID_OPTION.*--saved .*was quantized from .*tinycode-7m/],
  ];
  for (const [args, re] of cases) {
    const r = lowbit(["quant-eval", "--data", data, "--window", "64", "--formats", "w4a16-g128", ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});
