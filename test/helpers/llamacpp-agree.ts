/**
 * lowbit and llama.cpp (node-llama-cpp's prebuilt, whichever CPU variant this
 * process loaded) on one GGUF file and the reference prompts: next-token
 * logits after each prompt from both, 48 greedy tokens from both, and where
 * the greedy ids part, lowbit's own logit margin between the two choices.
 * LOWBIT_TEST_KERNELS=ref|avx2|avx512 forces lowbit's kernel variant (default auto).
 */
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

export const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
export const bitsEqual = (a: Float32Array, b: Float32Array): number => a.reduce((n, v, i) => n + (Object.is(v, b[i]) ? 1 : 0), 0);

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
      ours.resetCache();
      const mineLogits = await ours.logits(ref.input_ids);
      ours.resetCache();
      const mine = (await ours.generate(ref.input_ids, { maxNewTokens: GREEDY, temperature: 0, stopAtEos: false })).ids;
      const r = await theirs.greedy(ref.input_ids, GREEDY);
      const their = new Float32Array(mineLogits.length).fill(Number.NaN);
      for (const [id, v] of r.logits) their[id] = v;
      let same = 0;
      while (same < mine.length && mine[same] === r.ids[same]) same++;
      // llama.cpp stopped at an end-of-generation token: the same as lowbit when lowbit chose an eos id there
      if (same === r.ids.length && same < GREEDY && ours.config.eosTokenIds.includes(mine[same]!)) same = GREEDY;
      const run: PromptRun = { ref, mine, theirs: r.ids, ours: mineLogits, their, same };
      if (same < GREEDY && r.ids[same] !== undefined) {
        ours.resetCache();
        const at = await ours.logits([...ref.input_ids, ...mine.slice(0, same)]);
        run.margin = at[mine[same]!]! - at[r.ids[same]!]!;
      }
      runs.push(run);
    }
  } finally {
    await theirs.dispose();
    await ours.dispose();
  }
  return runs;
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
