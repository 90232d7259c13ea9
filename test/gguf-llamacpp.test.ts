/**
 * llama.cpp agrees (the GGUF issue): tinycode-7m (and tinycode-100m when
 * ../shared is there) converted by `lowbit convert` to F32, F16, Q8_0 and
 * Q4_0, each file run by llama.cpp (node-llama-cpp's prebuilt CPU build) and
 * by lowbit on the reference prompts' input_ids, 48 greedy tokens each.
 *   F32: both give the PyTorch reference greedy_ids exactly.
 *   F16, Q8_0, Q4_0: lowbit and llama.cpp identical for >= 4 of 5 prompts
 *   (the first divergence is reported), next-token probabilities of
 *   llama.cpp's top 10 close (max relative difference reported and bounded).
 * Round trip: lowbit on its own GGUF gives the logits of lowbit on the HF
 * directory in the corresponding format (f32, bf16, q8_0, q4_0), bit for bit.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../src/index.js";
import { exportGguf, type GgufOutType } from "../src/formats/gguf-export.js";
import { LlamaCppModel } from "../src/llamacpp/oracle.js";
import { hfSource } from "../src/models/source.js";
import { EMBEDDED_MODEL, sharedPath, SKIP_NO_SHARED } from "./helpers/paths.js";

interface RefPrompt { prompt: string; input_ids: number[]; greedy_ids: number[] }
const refs = (dir: string): RefPrompt[] => (JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as { prompts: RefPrompt[] }).prompts;

/** Bounds on the relative difference of llama.cpp's top-10 next-token probabilities. */
const PROB_RTOL: Record<GgufOutType, number> = { f32: 1e-3, f16: 1e-2, bf16: 5e-2, q8_0: 5e-2, q4_0: 1e-1 };

function softmax(x: Float32Array): Float64Array {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  const p = new Float64Array(x.length);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += p[i] = Math.exp(x[i]! - m);
  for (let i = 0; i < x.length; i++) p[i]! /= s;
  return p;
}

const firstDiff = (a: readonly number[], b: readonly number[]) => {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i;
};

async function agree(t: { diagnostic(m: string): void }, dir: string, name: string, type: GgufOutType, tmp: string): Promise<void> {
  const file = join(tmp, `${name}-${type}.gguf`);
  exportGguf(hfSource(dir), file, type);
  const prompts = refs(dir);
  const ours = await LLM.load(file, { threads: 2 });
  const theirs = await LlamaCppModel.load(file, { threads: 2, contextSize: 256, kvCache: "F32" });
  try {
    let same = 0, worst = 0;
    const report: string[] = [];
    for (const p of prompts) {
      ours.resetCache();
      const probs = softmax(await ours.logits(p.input_ids));
      ours.resetCache();
      const mine = (await ours.generate(p.input_ids, { maxNewTokens: 48, temperature: 0, stopAtEos: false })).ids;
      const ref = await theirs.greedy(p.input_ids, 48);
      const top = [...ref.probs.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
      for (const [id, q] of top) worst = Math.max(worst, Math.abs(probs[id]! - q) / q);
      let d = firstDiff(mine, ref.ids);
      // llama.cpp stopped at an end-of-generation token: the same as lowbit when lowbit chose an eos id there
      const bothStop = d === ref.ids.length && d < 48 && ours.config.eosTokenIds.includes(mine[d]!);
      if (bothStop) d = 48;
      if (d === 48) same++;
      report.push(bothStop ? `48/48 (both eos at ${ref.ids.length})` : d === 48 ? "48/48" : `diverge@${d} (lowbit ${mine[d]}, llama.cpp ${ref.ids[d] ?? "eos"})`);
      if (type === "f32") {
        assert.deepEqual(mine, p.greedy_ids, `${name} f32: lowbit greedy ids of ${JSON.stringify(p.prompt)}`);
        assert.deepEqual(ref.ids, p.greedy_ids, `${name} f32: llama.cpp greedy ids of ${JSON.stringify(p.prompt)}`);
      }
    }
    t.diagnostic(`${name} ${type}: lowbit = llama.cpp on ${same}/5 prompts [${report.join(", ")}]; top-10 prob max rel diff ${worst.toExponential(2)}`);
    assert.ok(same >= 4, `${name} ${type}: lowbit and llama.cpp agree on only ${same}/5 prompts: ${report.join(", ")}`);
    assert.ok(worst <= PROB_RTOL[type], `${name} ${type}: top-10 probabilities differ by ${worst} (relative) > ${PROB_RTOL[type]}`);
  } finally {
    await theirs.dispose();
    await ours.dispose();
  }
}

/** lowbit on the GGUF file = lowbit on the HF directory in the matching format. */
async function roundTrip(dir: string, name: string, type: GgufOutType, tmp: string): Promise<void> {
  const file = join(tmp, `${name}-${type}.gguf`);
  const load = type === "f32" || type === "bf16" ? { dtype: type } : { quant: type };
  const a = await LLM.load(file, { threads: 2, ...(type === "bf16" ? { dtype: "bf16" as const } : {}) });
  const b = await LLM.load(dir, { threads: 2, ...load } as Parameters<typeof LLM.load>[1]);
  try {
    for (const p of refs(dir)) {
      a.resetCache();
      b.resetCache();
      assert.deepEqual(await a.logits(p.input_ids), await b.logits(p.input_ids), `${name} ${type}: GGUF vs HF logits for ${JSON.stringify(p.prompt)}`);
      a.resetCache();
      b.resetCache();
      const ga = await a.generate(p.input_ids, { maxNewTokens: 48, temperature: 0, stopAtEos: false });
      const gb = await b.generate(p.input_ids, { maxNewTokens: 48, temperature: 0, stopAtEos: false });
      assert.deepEqual(ga.ids, gb.ids, `${name} ${type}: GGUF vs HF greedy ids`);
    }
  } finally {
    await a.dispose();
    await b.dispose();
  }
}

const models: [string, string | undefined][] = [["tinycode-7m", EMBEDDED_MODEL], ["tinycode-100m", sharedPath("models", "tinycode-100m")]];
for (const [name, dir] of models) {
  test(`llama.cpp and lowbit agree on ${name} GGUF files`, { skip: dir ? false : SKIP_NO_SHARED }, async (t) => {
    const tmp = mkdtempSync(join(tmpdir(), "lowbit-llcpp-"));
    try {
      for (const type of ["f32", "f16", "q8_0", "q4_0"] as const) {
        await t.test(type, async (tt) => agree(tt, dir!, name, type, tmp));
      }
      for (const type of ["f32", "q8_0", "q4_0"] as const) {
        await t.test(`round trip ${type}`, async () => roundTrip(dir!, name, type, tmp));
      }
      await t.test("round trip bf16", async () => {
        exportGguf(hfSource(dir!), join(tmp, `${name}-bf16.gguf`), "bf16");
        await roundTrip(dir!, name, "bf16", tmp);
      });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}
