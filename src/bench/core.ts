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
  /**
   * Load every format of a model at once and alternate them within each
   * repetition (rep 1: A, B, C; rep 2: A, B, C; ...), so machine drift hits
   * all formats alike and their ratios are measured side by side. Needs the
   * memory of all formats together.
   */
  interleave?: boolean;
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

export interface Samples {
  ttft: number[];
  tpot: number[];
  ovh: number[];
}

export function makeRow(o: CoreBenchOptions, m: BenchModel, format: BenchFormat, threads: number, L: number, model: LLM, s: Samples, bw: number): CoreBenchRow {
  const c = model.config;
  const tp = summarize(s.tpot), tt = summarize(s.ttft);
  // K and V, f32, every layer, at the mean decode position
  const kvBytes = 2 * c.nLayers * c.nKvHeads * c.headDim * 4 * (L + o.genTokens / 2);
  const bytes = model.decodeWeightBytes + kvBytes;
  return {
    model: m.name,
    format,
    threads,
    promptTokens: L,
    genTokens: o.genTokens,
    ttftMs: tt,
    tpotMs: tp,
    promptTokPerS: (L / tt.median) * 1000,
    genTokPerS: 1000 / tp.median,
    overheadMs: summarize(s.ovh).median,
    weightBytesPerToken: model.decodeWeightBytes,
    kvBytesPerToken: kvBytes,
    achievedGBs: bytes / tp.median / 1e6,
    bandwidthEfficiency: bytes / (bw * 1e9) / (tp.median / 1000),
  };
}

async function timedGenerate(model: LLM, ids: number[], genTokens: number, into?: Samples): Promise<void> {
  model.resetCache();
  const g = await model.generate(ids, { maxNewTokens: genTokens, temperature: 0, stopAtEos: false });
  if (!into) return;
  into.ttft.push(g.timings.ttftMs);
  into.tpot.push(g.timings.tpotMs);
  into.ovh.push(g.timings.overheadMsPerToken);
}

/** All formats of one model loaded together, alternated within each repetition. */
async function runInterleaved(o: CoreBenchOptions, bandwidthGBs: Record<number, number>, rows: CoreBenchRow[], t0: number): Promise<void> {
  for (const m of o.models)
    for (const threads of o.threads) {
      const loaded: LLM[] = [];
      try {
        for (const [i, format] of o.formats.entries()) {
          o.onProgress?.(`[${clock(performance.now() - t0)}] ${m.name} t=${threads} loading ${format} (${i + 1}/${o.formats.length})`);
          loaded.push(await LLM.load(m.dir, { ...m.options, ...benchLoadOptions(format, threads) }));
        }
        for (const L of o.promptLengths) {
          const samples = o.formats.map((): Samples => ({ ttft: [], tpot: [], ovh: [] }));
          for (let r = 0; r <= o.reps; r++)
            for (const [i, model] of loaded.entries()) {
              o.onProgress?.(`[${clock(performance.now() - t0)}] ${m.name} t=${threads} prompt=${L} run ${r}/${o.reps} ${o.formats[i]}`);
              await timedGenerate(model, benchPromptIds(model, L), o.genTokens, r === 0 ? undefined : samples[i]);
            }
          for (const [i, model] of loaded.entries()) rows.push(makeRow(o, m, o.formats[i]!, threads, L, model, samples[i]!, bandwidthGBs[threads]!));
        }
      } finally {
        for (const model of loaded) await model.dispose();
      }
    }
}

/** Each row's bandwidth share against the bandwidth of its thread count in `bandwidthGBs`. */
export function rescoreBandwidth(rows: CoreBenchRow[], bandwidthGBs: Record<number, number>): void {
  for (const row of rows) row.bandwidthEfficiency = row.achievedGBs / bandwidthGBs[row.threads]!;
}

/**
 * Bandwidth is measured before and after the runs; the report prints the better of the two, so
 * every row's efficiency is taken against that same (higher, i.e. conservative) value.
 */
function remeasureBandwidth(o: CoreBenchOptions, bandwidthGBs: Record<number, number>, rows: CoreBenchRow[]): void {
  for (const t of o.threads) bandwidthGBs[t] = Math.max(bandwidthGBs[t]!, measureBandwidth(t));
  rescoreBandwidth(rows, bandwidthGBs);
}

export async function runCoreBench(o: CoreBenchOptions): Promise<CoreBenchReport> {
  const bandwidthGBs: Record<number, number> = {};
  for (const t of o.threads) bandwidthGBs[t] = measureBandwidth(t);
  const rows: CoreBenchRow[] = [];
  if (o.interleave) {
    await runInterleaved(o, bandwidthGBs, rows, performance.now());
    remeasureBandwidth(o, bandwidthGBs, rows);
    return { date: new Date().toISOString(), cpu: addon().cpuInfo(), node: process.version, bandwidthGBs, rows, ...(o.notes?.length ? { notes: o.notes } : {}) };
  }
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
          if (once) {
            o.onProgress?.(`${step} warm-up`);
            await timedGenerate(model, benchPromptIds(model, Math.min(...o.promptLengths)), o.genTokens);
          }
          for (const L of o.promptLengths) {
            const ids = benchPromptIds(model, L);
            const samples: Samples = { ttft: [], tpot: [], ovh: [] };
            for (let r = once ? 1 : 0; r <= o.reps; r++) {
              o.onProgress?.(`${step} prompt=${L} run ${r}/${o.reps}`);
              await timedGenerate(model, ids, o.genTokens, r === 0 ? undefined : samples); // r = 0: warm-up
            }
            rows.push(makeRow(o, m, format, threads, L, model, samples, bandwidthGBs[threads]!));
          }
        } finally {
          await model.dispose();
        }
      }
    }
  }
  remeasureBandwidth(o, bandwidthGBs, rows);
  return { date: new Date().toISOString(), cpu: addon().cpuInfo(), node: process.version, bandwidthGBs, rows, ...(o.notes?.length ? { notes: o.notes } : {}) };
}
