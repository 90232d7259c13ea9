/** Made-up benchmark reports (known numbers) for the report and chart tests. */
import type { CoreBenchReport, CoreBenchRow } from "../../src/bench/core.js";
import { summarize } from "../../src/bench/stats.js";
import type { VsReport, VsRow } from "../../src/bench/vs-llamacpp.js";

const cpu = { physicalCores: 2, logicalCores: 2, kernels: "avx2", features: "avx2 fma f16c" } as CoreBenchReport["cpu"];
export const ENGINES = ["lowbit", "llama.cpp", "llama.cpp UV_THREADPOOL_SIZE=1"];

/** TTFT samples ttft (ms) and TPOT samples tpot (ms) for one engine on a configuration. */
export function vsRow(model: string, type: "q4_0" | "q8_0", prompt: number, engine: string, ttft: number[], tpot: number[]): VsRow {
  const tt = summarize(ttft), tp = summarize(tpot);
  return {
    model, ggufType: type, threads: 2, engine, prompt: String(prompt), promptTokens: prompt, genTokens: 32,
    ttftMs: tt, tpotMs: tp, ppTokPerS: (prompt / tt.median) * 1000, tgTokPerS: 1000 / tp.median,
    weightBytesPerToken: 50e6, sameGreedyTokens: engine === "lowbit" ? 32 : 30,
  };
}

/** tinycode-100m, q4_0 and q8_0, prompt 32: lowbit 2x llama.cpp's pp and 1.5x its tg; UV=1 in between. */
export function fakeVsReport(): VsReport {
  const rows: VsRow[] = [];
  for (const type of ["q4_0", "q8_0"] as const) {
    const k = type === "q4_0" ? 1 : 2;
    rows.push(vsRow("tinycode-100m", type, 32, ENGINES[0]!, [16 * k, 15 * k, 17 * k], [2 * k, 1.9 * k, 2.2 * k]));
    rows.push(vsRow("tinycode-100m", type, 32, ENGINES[1]!, [32 * k, 30 * k, 40 * k], [3 * k, 2.9 * k, 3.5 * k]));
    rows.push(vsRow("tinycode-100m", type, 32, ENGINES[2]!, [20 * k, 19 * k, 22 * k], [2.5 * k, 2.4 * k, 2.6 * k]));
  }
  return {
    date: "2026-11-22T10:00:00.000Z", cpu, node: "v20.20.2", engines: ENGINES,
    llamaCpp: [{ uvThreadpoolSize: "default", threads: 2, batchSize: 512, contextSize: 1280, flashAttention: "auto" }],
    files: [{ model: "tinycode-100m", ggufType: "q4_0", path: "/tmp/x-q4_0.gguf", bytes: 64 * 1048576, made: false }],
    rows,
  };
}

export function fakeCoreReport(): CoreBenchReport {
  const row = (format: CoreBenchRow["format"], ttft: number[], tpot: number[]): CoreBenchRow => {
    const tt = summarize(ttft), tp = summarize(tpot);
    return {
      model: "tinycode-7m", format, threads: 2, prompt: "humaneval (3)", promptTokens: 100, genTokens: 32, ttftMs: tt, tpotMs: tp,
      promptTokPerS: (100 / tt.median) * 1000, genTokPerS: 1000 / tp.median, overheadMs: 0.1, weightBytesPerToken: 14e6, kvBytesPerToken: 1e6,
      achievedGBs: 15e6 / tp.median / 1e6, bandwidthEfficiency: 0.5,
    };
  };
  return {
    date: "2026-11-22T10:00:00.000Z", cpu, node: "v20.20.2", bandwidthGBs: { 2: 30 },
    rows: [row("bf16", [10, 12, 11], [0.5, 0.6, 0.55]), row("w8a8", [5, 6, 5.5], [0.25, 0.3, 0.275])],
  };
}
