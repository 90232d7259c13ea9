/** `lowbit quant-diagnose` on the embedded model: the per-input table and the ablation, and bad flags as usage errors. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../src/cli/main.js";
import type { StaticDiagnosis } from "../src/eval/static-diagnosis.js";
import { EMBEDDED_MODEL } from "./helpers/paths.js";

const tmp = mkdtempSync(join(tmpdir(), "lowbit-diag-"));
const texts = join(tmp, "texts.jsonl");
const code = "def add(a, b):\n    return a + b\n\nfor i in range(10):\n    print(add(i, i * 2))\n\nclass Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n";
writeFileSync(texts, [code, code.replace(/a/g, "q"), code.toUpperCase()].map((text) => JSON.stringify({ text })).join("\n") + "\n");

async function lowbit(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "", err = "";
  const c = await main(args, { out: (s) => void (out += s), err: (s) => void (err += s), errIsTTY: false, readStdin: () => Promise.resolve(null) });
  return { code: c, out, err };
}

const COMMON = ["quant-diagnose", "--calib", texts, "--calib-samples", "2", "--calib-tokens", "64", "--threads", "1"];

test("quant-diagnose: every layer's four inputs with consistent statistics; the ablation with --data", async () => {
  const r = await lowbit([...COMMON, "--data", texts, "--window", "32", "--max-windows", "2", "--json"]);
  assert.equal(r.code, 0, r.err);
  const d = JSON.parse(r.out) as StaticDiagnosis;
  const layers = (JSON.parse(readFileSync(join(EMBEDDED_MODEL, "config.json"), "utf8")) as { num_hidden_layers: number }).num_hidden_layers;
  assert.equal(d.inputs.length, layers * 4, "every layer x (qkv, o, gate_up, down)");
  for (const x of d.inputs) {
    const where = `layer ${x.layer} ${x.kind}`;
    assert.ok(x.max > 0 && x.tokMaxP50 > 0 && x.tokMaxP50 <= x.tokMaxP99 && x.tokMaxP99 <= x.max * (1 + 2 ** -7), where);
    assert.ok(x.clipMse <= x.max * (1 + 2 ** -7), `${where}: the MSE clip never exceeds the max`);
    // the MSE-optimal scale minimizes the same error the max scale is scored with (max is one of its candidates, to a bin)
    assert.ok(x.relErr.mse <= x.relErr.max * 1.01, `${where}: mse ${x.relErr.mse} vs max ${x.relErr.max}`);
    assert.ok(x.relErr.dynamic > 0 && x.relErr.dynamic < 0.1, where);
  }
  assert.deepEqual(d.ablation.map((a) => a.static), ["none", "all", "qkv", "o", "gate_up", "down", "all but down"]);
  assert.ok(Number.isFinite(d.f32ppl) && d.ablation.every((a) => a.ppl > 1 && Number.isFinite(a.ppl)));
  const md = await lowbit([...COMMON]);
  assert.equal(md.code, 0, md.err);
  assert.match(md.out, /\| layer \| input \| max/);
  assert.doesNotMatch(md.out, /Perplexity/, "no --data: no ablation");
});

test("quant-diagnose: bad flags are usage errors naming the flag", async () => {
  for (const [flag, value, re] of [["--static-scales", "minmax", /staticScales/], ["--static-percentile", "101", /--static-percentile/], ["--calib-samples", "0", /--calib-samples/]] as const) {
    const r = await lowbit([...COMMON, flag, value]);
    assert.equal(r.code, 2, `${flag} ${value}`);
    assert.match(r.err, re);
  }
});
