/**
 * Does speed depend on the load? Loads one model several times in one process (one after the
 * other, each disposed before the next) and times the same generations on each load: median and
 * min-max of TTFT and TPOT per load. On a sound runtime every load measures alike; a first load
 * slower than the rest, or loads that differ by more than their own spread, point at placement
 * in memory (docs/BENCHMARKS.md: the unaligned bf16 scratch).
 *
 *   node dist/src/bench/loads.js [--model tinycode-100m] [--quant bf16] [--loads 5] [--reps 10]
 *                                [--prompt-tokens 100] [--gen 32] [--threads N]
 */
import { parseArgs } from "node:util";
import { LLM } from "../llm.js";
import { benchLoadOptions } from "./core.js";
import { checkFormat, resolveBenchModel } from "./options.js";
import { fmtSummary, summarize } from "./stats.js";
import { addon } from "../native.js";

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      model: { type: "string", default: "tinycode-100m" },
      quant: { type: "string", default: "bf16" },
      loads: { type: "string", default: "5" },
      reps: { type: "string", default: "10" },
      "prompt-tokens": { type: "string", default: "100" },
      gen: { type: "string", default: "32" },
      threads: { type: "string" },
    },
  });
  const { dir } = resolveBenchModel(v.model!);
  const format = checkFormat("--quant", v.quant!);
  const threads = v.threads ? Number(v.threads) : addon().cpuInfo().physicalCores;
  const n = Number(v["prompt-tokens"]), gen = Number(v.gen), reps = Number(v.reps);
  // a fixed token sequence; the KV cache is cleared before every generation
  const ids = Array.from({ length: n }, (_, i) => 100 + ((i * 37) % 5000));
  console.log(`${v.model} ${v.quant}, ${threads} threads, ${n}-token prompt, ${gen} tokens, ${reps} timed generations per load after 2 untimed`);
  for (let l = 0; l < Number(v.loads); l++) {
    const m = await LLM.load(dir, benchLoadOptions(format, threads));
    try {
      const tt: number[] = [], tp: number[] = [];
      for (let r = -2; r < reps; r++) {
        m.resetCache();
        const g = await m.generate(ids, { maxNewTokens: gen, temperature: 0, stopAtEos: false });
        if (r >= 0) tt.push(g.timings.ttftMs), tp.push(g.timings.tpotMs);
      }
      console.log(`load ${l + 1}: TTFT ms ${fmtSummary(summarize(tt), 1)}  TPOT ms ${fmtSummary(summarize(tp), 2)}`);
    } finally {
      await m.dispose();
    }
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
