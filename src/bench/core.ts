/**
 * Core-runtime benchmark: TTFT / TPOT per model, dtype, thread count and
 * prompt length, with the machine's read bandwidth measured in the same run
 * so decode can be compared with its memory-bound limit.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { LLM, type LoadOptions } from "../llm.js";
import type { ComputeDtype } from "../loader.js";
import type { QuantFormat } from "../quant/formats.js";
import { addon } from "../native.js";
import { summarize, type Summary } from "./stats.js";

/**
 * "f32", "bf16", or a quantized format (its non-quantized parts in bf16);
 * "+head" also quantizes the LM head.
 */
export type BenchFormat = ComputeDtype | QuantFormat | `${QuantFormat}+head`;

function benchLoadOptions(format: BenchFormat, threads: number): LoadOptions {
  if (format === "f32" || format === "bf16") return { dtype: format, threads };
  const quant = format.replace("+head", "") as QuantFormat;
  return { dtype: "bf16", quant, threads, quantHead: format.endsWith("+head") };
}

export interface BenchModel {
  name: string;
  /** a Hugging Face directory or "synthetic:<shape>" */
  dir: string;
  /** extra load options for every format (e.g. a smaller SmoothQuant calibration) */
  options?: LoadOptions;
}

export interface CoreBenchOptions {
  models: BenchModel[];
  formats: BenchFormat[];
  threads: number[];
  promptLengths: number[];
  genTokens: number;
  reps: number;
  /**
   * "each" (default): one unmeasured run before every prompt length;
   * "once": one unmeasured run per loaded model with the shortest prompt
   * (for models whose long prefill takes many seconds).
   */
  warmup?: "each" | "once";
  /** lines saved with the report and printed under its tables */
  notes?: string[];
  onProgress?: (label: string) => void;
}

export interface CoreBenchRow {
  model: string;
  format: BenchFormat;
  threads: number;
  promptTokens: number;
  genTokens: number;
  ttftMs: Summary;
  tpotMs: Summary;
  promptTokPerS: number;
  genTokPerS: number;
  /** median ms per decoded token outside the native forward */
  overheadMs: number;
  /** bytes read per decode step: weights + the KV cache at the mean decode position */
  weightBytesPerToken: number;
  kvBytesPerToken: number;
  /** achieved read bandwidth at the median TPOT, GB/s */
  achievedGBs: number;
  /** (bytes per token / measured bandwidth) / median TPOT */
  bandwidthEfficiency: number;
}

export interface CoreBenchReport {
  date: string;
  cpu: ReturnType<ReturnType<typeof addon>["cpuInfo"]>;
  node: string;
  bandwidthGBs: Record<number, number>;
  rows: CoreBenchRow[];
  notes?: string[];
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const BENCH_PROMPT_FILE = join(ROOT, "src", "bench", "prompt.py.txt");

/** Deterministic code prompt of exactly n tokens (the shipped Python file, repeated if needed). */
export function benchPromptIds(model: LLM, n: number): number[] {
  const base = model.encode(readFileSync(BENCH_PROMPT_FILE, "utf8"));
  const ids: number[] = [];
  while (ids.length < n) ids.push(...base);
  return ids.slice(0, n);
}

export function measureBandwidth(threads: number): number {
  // 1 GiB buffer, best of 5 passes
  return addon().measureBandwidth(threads, 1024, 5);
}

const clock = (ms: number) => `${Math.floor(ms / 60000)}m${String(Math.floor(ms / 1000) % 60).padStart(2, "0")}s`;

export async function runCoreBench(o: CoreBenchOptions): Promise<CoreBenchReport> {
  const bandwidthGBs: Record<number, number> = {};
  for (const t of o.threads) bandwidthGBs[t] = measureBandwidth(t);
  const rows: CoreBenchRow[] = [];
  const once = o.warmup === "once";
  const configs = o.models.length * o.formats.length * o.threads.length;
  const t0 = performance.now();
  let done = 0;
  for (const m of o.models) {
    for (const format of o.formats) {
      for (const threads of o.threads) {
        const step = `[${++done}/${configs} ${clock(performance.now() - t0)}] ${m.name} ${format} t=${threads}`;
        o.onProgress?.(`${step} loading`);
        const model = await LLM.load(m.dir, { ...m.options, ...benchLoadOptions(format, threads) });
        try {
          const c = model.config;
          const gen = (ids: number[]) => {
            model.resetCache();
            return model.generate(ids, { maxNewTokens: o.genTokens, temperature: 0, stopAtEos: false });
          };
          if (once) {
            o.onProgress?.(`${step} warm-up`);
            await gen(benchPromptIds(model, Math.min(...o.promptLengths)));
          }
          for (const L of o.promptLengths) {
            const ids = benchPromptIds(model, L);
            const ttft: number[] = [], tpot: number[] = [], ovh: number[] = [];
            for (let r = once ? 1 : 0; r <= o.reps; r++) {
              o.onProgress?.(`${step} prompt=${L} run ${r}/${o.reps}`);
              const g = await gen(ids);
              if (r === 0) continue; // warm-up
              ttft.push(g.timings.ttftMs);
              tpot.push(g.timings.tpotMs);
              ovh.push(g.timings.overheadMsPerToken);
            }
            const tp = summarize(tpot), tt = summarize(ttft);
            // K and V, f32, every layer, at the mean decode position
            const kvBytes = 2 * c.nLayers * c.nKvHeads * c.headDim * 4 * (L + o.genTokens / 2);
            const bytes = model.decodeWeightBytes + kvBytes;
            const bw = bandwidthGBs[threads]!;
            rows.push({
              model: m.name,
              format,
              threads,
              promptTokens: L,
              genTokens: o.genTokens,
              ttftMs: tt,
              tpotMs: tp,
              promptTokPerS: (L / tt.median) * 1000,
              genTokPerS: 1000 / tp.median,
              overheadMs: summarize(ovh).median,
              weightBytesPerToken: model.decodeWeightBytes,
              kvBytesPerToken: kvBytes,
              achievedGBs: bytes / tp.median / 1e6,
              bandwidthEfficiency: bytes / (bw * 1e9) / (tp.median / 1000),
            });
          }
        } finally {
          await model.dispose();
        }
      }
    }
  }
  for (const t of o.threads) bandwidthGBs[t] = Math.max(bandwidthGBs[t]!, measureBandwidth(t));
  return { date: new Date().toISOString(), cpu: addon().cpuInfo(), node: process.version, bandwidthGBs, rows, ...(o.notes?.length ? { notes: o.notes } : {}) };
}
