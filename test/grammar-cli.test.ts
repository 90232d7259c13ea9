/**
 * `lowbit generate --json-schema FILE` / `--grammar-file FILE`, and the sampling paths of a grammar:
 * drawing first and redrawing from the masked logits when refused (temperature without truncation)
 * has the masked distribution, as masking every token (with top-p) has.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { runGeneration, type Stepper, type GenerateOptions } from "../src/generate/generate.js";
import { Tokenizer } from "../src/tokenizer.js";
import { DEFAULT_MODEL_DIR } from "../src/llm.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.join(ROOT, "bin", "lowbit.js");

function lowbit(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("CLI: --json-schema gives JSON valid under the schema; --grammar-file a line of the grammar; bad files exit 2", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-grammar-"));
  try {
    const schema = path.join(dir, "s.json");
    fs.writeFileSync(schema, JSON.stringify({ type: "object", properties: { n: { type: "integer" }, ok: { type: "boolean" } }, required: ["n", "ok"] }));
    const r = lowbit(["generate", "--prompt", "x = ", "--json-schema", schema, "--max-new-tokens", "200", "--json", "--dtype", "f32"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { text: string; finish_reason: string };
    assert.equal(out.finish_reason, "eos");
    const v = JSON.parse(out.text) as { n: unknown; ok: unknown };
    assert.ok(Number.isInteger(v.n) && typeof v.ok === "boolean", out.text);
    const g = path.join(dir, "g.gbnf");
    fs.writeFileSync(g, 'root ::= ("red" | "green") "!"\n');
    const c = lowbit(["generate", "--prompt", "color: ", "--grammar-file", g, "--temperature", "1", "--seed", "3", "--json"]);
    assert.equal(c.code, 0, c.stderr);
    assert.match((JSON.parse(c.stdout) as { text: string }).text, /^(red|green)!$/);
    fs.writeFileSync(g, "root ::= nothing\n");
    const bad = lowbit(["generate", "--prompt", "x", "--grammar-file", g]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /BAD_GRAMMAR.*undefined rule nothing/);
    const missing = lowbit(["generate", "--prompt", "x", "--json-schema", path.join(dir, "none.json")]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--json-schema .*not found/);
    fs.writeFileSync(schema, "{not json");
    assert.equal(lowbit(["generate", "--prompt", "x", "--json-schema", schema]).code, 2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("sampling with a grammar: draw-first (no truncation) and mask-every-token both give the masked distribution", async () => {
  const tok = Tokenizer.load(DEFAULT_MODEL_DIR);
  const ids = ["a", "b", "c"].map((s) => tok.encode(s)).map((x) => (assert.equal(x.length, 1), x[0]!));
  const V = tok.vocabSize;
  // fixed logits: the grammar's three tokens at 1, 0 and -1, one refused token far above them
  const logits = new Float32Array(V).fill(-30);
  logits[ids[0]!] = 1;
  logits[ids[1]!] = 0;
  logits[ids[2]!] = -1;
  const refused = tok.encode("z")[0]!;
  logits[refused] = 2;
  const stepper: Stepper = {
    contextLength: 64, eosTokenIds: [tok.eosTokenId!], reuse: () => 0,
    step: async () => ({ logits: logits.slice(), nativeMs: 0 }),
  };
  const want = [1, 0, -1].map((l) => Math.exp(l));
  const z = want.reduce((a, b) => a + b);
  const N = 3000;
  for (const extra of [{}, { topP: 0.999999 }] as GenerateOptions[]) {
    const counts = [0, 0, 0];
    for (let seed = 0; seed < N; seed++) {
      let first = -1;
      for await (const ev of runGeneration(stepper, tok, [1], { maxNewTokens: 1, temperature: 1, seed, grammar: 'root ::= "a" | "b" | "c"', ...extra })) {
        if (ev.type === "done") first = ev.result.ids[0]!;
      }
      counts[ids.indexOf(first)]++;
    }
    // each frequency within 4 standard deviations of the masked probability
    counts.forEach((c, i) => {
      const p = want[i]! / z, sd = Math.sqrt((p * (1 - p)) / N);
      assert.ok(Math.abs(c / N - p) < 4 * sd, `${JSON.stringify(extra)}: token ${i} ${c / N} vs ${p}`);
    });
  }
});
