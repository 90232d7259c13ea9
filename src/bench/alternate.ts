/**
 * Several engines measured side by side on the same prompts: warm-up runs of
 * each engine first, then in every repetition each prompt runs on every engine
 * in turn, the engine order rotating by one per repetition (rep 1: A B C,
 * rep 2: B C A, ...) so neither drift nor running first favours one engine.
 * Per repetition each engine's TTFT and TPOT are the means over the prompts.
 */
import { mean } from "./prompts.js";

export interface TimedRun {
  ttftMs: number;
  tpotMs: number;
  ids: number[];
}

export interface TimedEngine {
  name: string;
  run: (promptIds: number[], gen: number) => Promise<TimedRun>;
}

export interface AlternateOptions {
  reps: number;
  /** unmeasured runs of each engine (with the first prompt) before the measured ones */
  warmupRuns: number;
  genTokens: number;
  /** called before each run */
  onRun?: (what: { engine: string; index: number; rep: number; prompt: number; warmup: boolean }) => void;
}

export interface AlternateResult {
  /** [engine][rep]: mean TTFT over the prompts */
  ttftMs: number[][];
  tpotMs: number[][];
  /** [engine]: per prompt, leading generated tokens equal to engine 0's, in the first repetition */
  sameTokens: number[][];
}

export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** The engine order of repetition `rep` (1-based). */
export function rotation(engines: number, rep: number): number[] {
  return Array.from({ length: engines }, (_, k) => (k + rep - 1) % engines);
}

export async function alternate(engines: TimedEngine[], prompts: number[][], o: AlternateOptions): Promise<AlternateResult> {
  for (const [index, e] of engines.entries())
    for (let r = 0; r < o.warmupRuns; r++) {
      o.onRun?.({ engine: e.name, index, rep: 0, prompt: 0, warmup: true });
      await e.run(prompts[0]!, o.genTokens);
    }
  const res: AlternateResult = { ttftMs: engines.map(() => []), tpotMs: engines.map(() => []), sameTokens: engines.map(() => []) };
  for (let r = 1; r <= o.reps; r++) {
    const tt = engines.map(() => [] as number[]), tp = engines.map(() => [] as number[]);
    for (const [pi, p] of prompts.entries()) {
      const got: number[][] = [];
      for (const k of rotation(engines.length, r)) {
        o.onRun?.({ engine: engines[k]!.name, index: k, rep: r, prompt: pi, warmup: false });
        const x = await engines[k]!.run(p, o.genTokens);
        tt[k]!.push(x.ttftMs);
        tp[k]!.push(x.tpotMs);
        got[k] = x.ids;
      }
      if (r === 1) engines.forEach((_, k) => res.sameTokens[k]!.push(commonPrefix(got[k]!, got[0]!)));
    }
    engines.forEach((_, k) => {
      res.ttftMs[k]!.push(mean(tt[k]!));
      res.tpotMs[k]!.push(mean(tp[k]!));
    });
  }
  return res;
}
