/**
 * Where `npm run bench` writes its JSON: bench-out/<set>.json (untracked, .gitignore) unless
 * --out names a file, so a run never overwrites the published docs/bench/*.json unless asked
 * (`--out docs/bench/core.json`). With --set all, --out names core's JSON and quant.json and
 * synthetic.json go beside it.
 */
import { dirname, join, resolve } from "node:path";

/** The default output directory, relative to the working directory. */
export const BENCH_OUT_DIR = "bench-out";

export type BenchSet = "all" | "core" | "quant" | "synthetic";

/** The JSON file of each set a run measures. */
export function benchOutFiles(set: BenchSet, out: string | undefined, cwd = process.cwd()): { core: string; quant: string; synthetic: string } {
  const first = resolve(cwd, out ?? join(BENCH_OUT_DIR, `${set === "all" ? "core" : set}.json`));
  const at = (name: string) => (set === "all" ? join(dirname(first), `${name}.json`) : first);
  return { core: set === "all" ? first : at("core"), quant: at("quant"), synthetic: at("synthetic") };
}
