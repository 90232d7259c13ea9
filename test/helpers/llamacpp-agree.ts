/**
 * lowbit and llama.cpp (node-llama-cpp's prebuilt, whichever CPU variant this
 * process loaded) on one GGUF file and the reference prompts: next-token
 * logits after each prompt from both, 48 greedy tokens from both, and where
 * the greedy ids part, lowbit's own logit margin between the two choices.
 * LOWBIT_TEST_KERNELS=ref|avx2|avx512 forces lowbit's kernel variant (default auto).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { LLM } from "../../src/index.js";
import { exportGguf, type GgufOutType } from "../../src/formats/gguf-export.js";
import { LlamaCppModel } from "../../src/llamacpp/oracle.js";
import { hfSource } from "../../src/models/source.js";
import { checkChoice, KERNEL_VARIANTS } from "../../src/load-options.js";

export interface RefPrompt { prompt: string; input_ids: number[]; greedy_ids: number[] }
export const refs = (dir: string): RefPrompt[] => (JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as { prompts: RefPrompt[] }).prompts;

export const GREEDY = 48;
const KERNELS = process.env.LOWBIT_TEST_KERNELS !== undefined ? checkChoice("LOWBIT_TEST_KERNELS", process.env.LOWBIT_TEST_KERNELS, KERNEL_VARIANTS) : undefined;

export interface PromptRun {
  ref: RefPrompt;
  mine: number[];
  /** llama.cpp's ids; shorter when it stopped at an end-of-generation token */
  theirs: number[];
  /** next-token logits after the prompt, indexed by token id */
  ours: Float32Array;
  their: Float32Array;
  /** leading greedy ids equal (GREEDY when all are, or both stopped at eos there) */
  same: number;
  /** where they part: lowbit's logit of its pick minus its logit of llama.cpp's pick (>= 0) */
  margin?: number;
}

/** max |a[i]| (NaN if any is NaN) */
export const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
/** max |a[i] - b[i]| over a's indices (NaN if any difference is NaN) */
export const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
  Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
export const bitsEqual = (a: Float32Array, b: Float32Array): number => a.reduce((n, v, i) => n + (Object.is(v, b[i]) ? 1 : 0), 0);

/** llama.cpp's next-token logits (a map over its vocabulary) as an array of `n` by token id, NaN where it gave none. */
export function theirLogits(logits: Map<number, number>, n: number): Float32Array {
  const their = new Float32Array(n).fill(Number.NaN);
  for (const [id, v] of logits) their[id] = v;
  return their;
}

/** One prompt on lowbit and llama.cpp, each loaded on the same GGUF file. */
export interface Agreement {
  /** lowbit's next-token logits after the prompt, and llama.cpp's (theirLogits) */
  ours: Float32Array;
  their: Float32Array;
  /** max |ours - their| (NaN where llama.cpp gave no logit for one of lowbit's ids), and max |their| */
  err: number;
  scale: number;
  /** `n` greedy ids of lowbit (not stopping at eos), and of llama.cpp: shorter when it stopped at an end-of-generation token */
  mine: number[];
  theirs: number[];
  /** llama.cpp's ids are a prefix of lowbit's (all of them when it did not stop) */
  prefix: boolean;
}

/** Runs `ids` through both engines: next-token logits after it and `n` greedy tokens from each. */
export async function agreeOnPrompt(ours: LLM, theirs: LlamaCppModel, ids: number[], n: number): Promise<Agreement> {
  ours.resetCache();
  const mineLogits = await ours.logits(ids);
  ours.resetCache();
  const mine = (await ours.generate(ids, { maxNewTokens: n, temperature: 0, stopAtEos: false })).ids;
  const r = await theirs.greedy(ids, n);
  // one logit per id of the same vocabulary: `err` then compares every logit of each engine
  assert.equal(r.logits.size, mineLogits.length, "llama.cpp's vocabulary size is lowbit's");
  const their = theirLogits(r.logits, mineLogits.length);
  return {
    ours: mineLogits,
    their,
    err: maxAbsDiff(mineLogits, their),
    scale: maxAbs(their),
    mine,
    theirs: r.ids,
    prefix: r.ids.every((v, i) => v === mine[i]),
  };
}

/** Writes `dir` as a `type` GGUF file in `tmp` and runs both engines on every reference prompt. */
export async function runBoth(dir: string, name: string, type: GgufOutType, tmp: string): Promise<PromptRun[]> {
  const file = join(tmp, `${name}-${type}.gguf`);
  exportGguf(hfSource(dir), file, type);
  return runBothOnFile(file, dir);
}

/** runBoth on an existing GGUF file of the model in `dir` (its reference.json prompts). */
export async function runBothOnFile(file: string, dir: string): Promise<PromptRun[]> {
  const ours = await LLM.load(file, { threads: 2, ...(KERNELS ? { kernels: KERNELS } : {}) });
  const theirs = await LlamaCppModel.load(file, { threads: 2, contextSize: 256, kvCache: "F32" });
  const runs: PromptRun[] = [];
  try {
    for (const ref of refs(dir)) {
      const a = await agreeOnPrompt(ours, theirs, ref.input_ids, GREEDY);
      const mine = a.mine;
      let same = 0;
      while (same < mine.length && mine[same] === a.theirs[same]) same++;
      // llama.cpp stopped at an end-of-generation token: the same as lowbit when lowbit chose an eos id there
      if (same === a.theirs.length && same < GREEDY && ours.config.eosTokenIds.includes(mine[same]!)) same = GREEDY;
      const run: PromptRun = { ref, mine, theirs: a.theirs, ours: a.ours, their: a.their, same };
      if (same < GREEDY && a.theirs[same] !== undefined) {
        ours.resetCache();
        const at = await ours.logits([...ref.input_ids, ...mine.slice(0, same)]);
        run.margin = at[mine[same]!]! - at[a.theirs[same]!]!;
      }
      runs.push(run);
    }
  } finally {
    await theirs.dispose();
    await ours.dispose();
  }
  return runs;
}

/** Asserts that the run's next-token logits are llama.cpp's bit for bit and all GREEDY greedy ids the same (`what` names it). */
export function assertBitEqualRun(r: PromptRun, what: string): void {
  assert.equal(bitsEqual(r.ours, r.their), r.ours.length, `${what}: logits bit-equal (max |diff| ${maxAbsDiff(r.ours, r.their)})`);
  assert.equal(r.same, GREEDY, `${what}: greedy ids (${summary([r])})`);
}

/** One line per run for diagnostics: greedy agreement and the logit difference. */
export function summary(runs: PromptRun[]): string {
  return runs
    .map((r) => {
      const g = r.same === GREEDY ? `${GREEDY}/${GREEDY}` : `diverge@${r.same} (lowbit ${r.mine[r.same]}, llama.cpp ${r.theirs[r.same] ?? "eos"}, lowbit margin ${r.margin?.toExponential(2)})`;
      return `${g}, logits bit-equal ${bitsEqual(r.ours, r.their)}/${r.ours.length}, max |diff| ${maxAbsDiff(r.ours, r.their).toExponential(2)}`;
    })
    .join("; ");
}
