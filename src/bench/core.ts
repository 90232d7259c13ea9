/**
 * Core-runtime benchmark: TTFT / TPOT per model, dtype, thread count and
 * prompt length, with the machine's read bandwidth measured in the same run
 * so decode can be compared with its memory-bound limit.
 */
import { LLM, type LoadOptions } from "../llm.js";
import { InvalidOptionError } from "../errors.js";
import type { GenerateOptions } from "../generate/generate.js";
import type { ComputeDtype } from "../loader.js";
import type { QuantFormat } from "../quant/formats.js";
import { addon } from "../native.js";
import { caseIds, mean, type PromptCase } from "./prompts.js";
import { checkRepeat, type RepeatCheck } from "./soundness.js";
import { summarize, type Summary } from "./stats.js";

/**
 * "f32", "bf16", or a quantized format (its non-quantized parts in bf16);
 * "+head" also quantizes the LM head.
 */
export type BenchFormat = ComputeDtype | QuantFormat | `${QuantFormat}+head`;

export function benchLoadOptions(format: BenchFormat, threads: number): LoadOptions {
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
  /** prompt settings (prompts.ts: promptCases) */
  prompts: PromptCase[];
  genTokens: number;
  reps: number;
  /**
   * "each" (default): unmeasured runs before every prompt setting;
   * "once": only once per loaded model with the first prompt setting
   * (for models whose long prefill takes many seconds).
   */
  warmup?: "each" | "once";
  /** unmeasured runs per warm-up (default 1; 0: none) */
  warmupRuns?: number;
  /**
   * Load every format of a model at once and alternate them within each
   * repetition (rep 1: A, B, C; rep 2: A, B, C; ...), so machine drift hits
   * all formats alike and their ratios are measured side by side. Needs the
   * memory of all formats together.
   */
  interleave?: boolean;
  /**
   * Measure again at the end (soundness.ts): the first model, thread count and prompt setting,
   * in the same setup as before: alone in a sequential run; every format (and draft variant)
   * alternating again in an interleaved run, since alternating models is part of what was measured.
   */
  recheck?: boolean;
  /** lines saved with the report and printed under its tables */
  notes?: string[];
  /**
   * Assisted generation (interleaved runs only): each of `formats` is measured a second
   * time with this draft model proposing `tokens` tokens per step (rows with `draft` set).
   */
  draft?: { name: string; dir: string; options?: LoadOptions; tokens?: number; formats: BenchFormat[] };
  /** before every generation (done of total) and before every load (done unchanged) */
  onProgress?: (label: string, done: number, total: number) => void;
}

export interface CoreBenchRow {
  model: string;
  /** assisted generation: the draft model, K, and the share of drafted tokens accepted */
  draft?: { model: string; tokens: number; acceptance: number };
  format: BenchFormat;
  threads: number;
  /** the prompt setting: "32", "humaneval (164)" */
  prompt: string;
  /** prompt tokens (the mean over a setting's prompts) */
  promptTokens: number;
  genTokens: number;
  /** per repetition: the mean over the setting's prompts */
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
  /** the first setting measured again at the end (every variant of it in an interleaved run) */
  rechecks?: RepeatCheck[];
  notes?: string[];
}

export function measureBandwidth(threads: number): number {
  // 1 GiB buffer, best of 5 passes
  return addon().measureBandwidth(threads, 1024, 5);
}

export const clock = (ms: number) => `${Math.floor(ms / 60000)}m${String(Math.floor(ms / 1000) % 60).padStart(2, "0")}s`;

/** One value per repetition (each the mean over a prompt setting's prompts). */
export interface Samples {
  ttft: number[];
  tpot: number[];
  ovh: number[];
  /** assisted generation: drafted and accepted tokens over the measured runs */
  proposed?: number;
  accepted?: number;
}

export function makeRow(o: Pick<CoreBenchOptions, "genTokens">, m: BenchModel, format: BenchFormat, threads: number, prompt: { label: string; tokens: number }, model: LLM, s: Samples, bw: number): CoreBenchRow {
  const c = model.config;
  const tp = summarize(s.tpot), tt = summarize(s.ttft);
  const L = prompt.tokens;
  // K and V, f32, every layer, at the mean decode position
  const kvBytes = 2 * c.nLayers * c.nKvHeads * c.headDim * 4 * (L + o.genTokens / 2);
  const bytes = model.decodeWeightBytes + kvBytes;
  return {
    model: m.name,
    format,
    threads,
    prompt: prompt.label,
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

/** A prompt setting tokenized for one model. */
interface Prepared {
  c: PromptCase;
  ids: number[][];
  tokens: number;
}

const prepare = (model: LLM, c: PromptCase): Prepared => {
  const ids = caseIds(c, (t) => model.encode(t));
  return { c, ids, tokens: mean(ids.map((x) => x.length)) };
};

/** One run of a prompt setting: every prompt once; the means go into `into` (warm-up: none). */
async function timedCase(model: LLM, p: Prepared, genTokens: number, into?: Samples, each?: () => void, extra: GenerateOptions = {}): Promise<void> {
  const tt: number[] = [], tp: number[] = [], ov: number[] = [];
  for (const ids of p.ids) {
    each?.();
    model.resetCache();
    const g = await model.generate(ids, { maxNewTokens: genTokens, temperature: 0, stopAtEos: false, ...extra });
    if (g.assisted && into) {
      into.proposed = (into.proposed ?? 0) + g.assisted.proposed;
      into.accepted = (into.accepted ?? 0) + g.assisted.accepted;
    }
    tt.push(g.timings.ttftMs);
    tp.push(g.timings.tpotMs);
    ov.push(g.timings.overheadMsPerToken);
  }
  if (!into) return;
  into.ttft.push(mean(tt));
  into.tpot.push(mean(tp));
  into.ovh.push(mean(ov));
}

/** Generations a run will make (for the progress bar). */
export function coreBenchTotal(o: CoreBenchOptions): number {
  const w = o.warmupRuns ?? 1;
  const perModel = o.prompts.reduce((a, c) => a + c.count * o.reps, 0);
  const warm = o.warmup === "once" && !o.interleave ? w : o.prompts.length * w;
  const variants = o.formats.length + (o.draft?.formats.length ?? 0);
  const recheck = o.recheck ? (o.interleave ? variants : 1) * (w + o.prompts[0]!.count * o.reps) : 0;
  return o.models.length * o.threads.length * variants * (perModel + warm) + recheck;
}

class Progress {
  done = 0;
  constructor(private readonly o: CoreBenchOptions, private readonly total: number, private readonly t0 = performance.now()) {}
  say(label: string): void {
    this.o.onProgress?.(`[${clock(performance.now() - this.t0)}] ${label}`, this.done, this.total);
  }
  tick(label: string): () => void {
    return () => {
      this.done++;
      this.say(label);
    };
  }
}

/** One measured configuration of an interleaved run: a loaded format, plain or with the draft. */
interface Variant {
  format: BenchFormat;
  model: LLM;
  extra: GenerateOptions;
  label: string;
}

/** All formats of one model loaded together, alternated within each repetition. */
async function runInterleaved(o: CoreBenchOptions, bandwidthGBs: Record<number, number>, rows: CoreBenchRow[], pr: Progress, tag = ""): Promise<void> {
  const w = o.warmupRuns ?? 1;
  for (const m of o.models)
    for (const threads of o.threads) {
      const loaded: LLM[] = [];
      try {
        const variants: Variant[] = [];
        for (const [i, format] of o.formats.entries()) {
          pr.say(`${tag}${m.name} t=${threads} loading ${format} (${i + 1}/${o.formats.length})`);
          const model = await LLM.load(m.dir, { ...m.options, ...benchLoadOptions(format, threads) });
          loaded.push(model);
          variants.push({ format, model, extra: {}, label: format });
        }
        const d = o.draft;
        if (d) {
          pr.say(`${tag}${m.name} t=${threads} loading draft ${d.name}`);
          const draft = await LLM.load(d.dir, { ...d.options, threads });
          loaded.push(draft);
          for (const f of d.formats) {
            const target = variants.find((v) => v.format === f && !v.extra.draft)!.model;
            variants.push({ format: f, model: target, extra: { draft, ...(d.tokens !== undefined ? { draftTokens: d.tokens } : {}) }, label: `${f} + draft ${d.name}` });
          }
        }
        for (const c of o.prompts) {
          const prepared = variants.map((v) => prepare(v.model, c));
          const samples = variants.map((): Samples => ({ ttft: [], tpot: [], ovh: [] }));
          // whole repetitions alternate (rep 1: A, B, C; rep 2: A, B, C): alternating prompt by
          // prompt made every decode slower, the fast formats most (docs/bench/table1-per-prompt-alternation.md)
          for (let r = 1 - w; r <= o.reps; r++)
            for (const [i, v] of variants.entries()) {
              const label = `${tag}${m.name} t=${threads} prompt ${c.label} ${r <= 0 ? "warm-up" : `run ${r}/${o.reps}`} ${v.label}`;
              const p = prepared[i]!;
              await timedCase(v.model, r <= 0 ? { ...p, ids: p.ids.slice(0, 1) } : p, o.genTokens, r <= 0 ? undefined : samples[i], pr.tick(label), v.extra);
            }
          for (const [i, v] of variants.entries()) {
            const row = makeRow(o, m, v.format, threads, { label: c.label, tokens: prepared[i]!.tokens }, v.model, samples[i]!, bandwidthGBs[threads]!);
            if (v.extra.draft) row.draft = { model: d!.name, tokens: v.extra.draftTokens ?? 5, acceptance: samples[i]!.accepted! / samples[i]!.proposed! };
            rows.push(row);
          }
        }
      } finally {
        for (const model of loaded) await model.dispose();
      }
    }
}

/** One model loaded in one format: warm-up(s) and the measured repetitions of each prompt setting. */
async function runLoaded(o: CoreBenchOptions, m: BenchModel, format: BenchFormat, threads: number, cases: PromptCase[], pr: Progress, bw: number, tag = ""): Promise<CoreBenchRow[]> {
  const w = o.warmupRuns ?? 1;
  const once = o.warmup === "once";
  const step = `${tag}${m.name} ${format} t=${threads}`;
  pr.say(`${step} loading`);
  const model = await LLM.load(m.dir, { ...m.options, ...benchLoadOptions(format, threads) });
  const rows: CoreBenchRow[] = [];
  try {
    for (const [k, c] of cases.entries()) {
      const p = prepare(model, c);
      const warm = once ? (k === 0 ? w : 0) : w;
      for (let r = 0; r < warm; r++) await timedCase(model, { ...p, ids: p.ids.slice(0, 1) }, o.genTokens, undefined, pr.tick(`${step} prompt ${c.label} warm-up`));
      const samples: Samples = { ttft: [], tpot: [], ovh: [] };
      for (let r = 1; r <= o.reps; r++) await timedCase(model, p, o.genTokens, samples, pr.tick(`${step} prompt ${c.label} run ${r}/${o.reps}`));
      rows.push(makeRow(o, m, format, threads, { label: c.label, tokens: p.tokens }, model, samples, bw));
    }
  } finally {
    await model.dispose();
  }
  return rows;
}

/** "tinycode-100m w8a8-sq + draft tinycode-7m t=2 prompt 32" */
export function rowLabel(r: CoreBenchRow): string {
  return `${r.model} ${r.format}${r.draft ? ` + draft ${r.draft.model}` : ""} t=${r.threads} prompt ${r.prompt}`;
}

/**
 * The first model, thread count and prompt setting measured again, in the setup it was measured in:
 * an interleaved run alternates every variant again (measured alone, a format's prefill was 11-13%
 * faster than while alternating with three others: a different setup, not drift); a sequential run
 * loads the first format alone. Each repeated row is compared with its first measurement.
 */
async function recheck(o: CoreBenchOptions, rows: CoreBenchRow[], bandwidthGBs: Record<number, number>, pr: Progress): Promise<RepeatCheck[]> {
  const m = o.models[0]!, threads = o.threads[0]!, c = o.prompts[0]!;
  let again: CoreBenchRow[] = [];
  if (o.interleave) await runInterleaved({ ...o, models: [m], threads: [threads], prompts: [c] }, bandwidthGBs, again, pr, "recheck: ");
  else again = await runLoaded({ ...o, warmup: "each" }, m, o.formats[0]!, threads, [c], pr, bandwidthGBs[threads]!, "recheck: ");
  return again.flatMap((a) => {
    const label = rowLabel(a);
    const first = rows.find((r) => rowLabel(r) === label)!;
    return [checkRepeat(label, "ttftMs", first.ttftMs, a.ttftMs), checkRepeat(label, "tpotMs", first.tpotMs, a.tpotMs)];
  });
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
  if (o.draft && !o.interleave) throw new InvalidOptionError("a draft model is measured in interleaved runs only");
  const bandwidthGBs: Record<number, number> = {};
  for (const t of o.threads) bandwidthGBs[t] = measureBandwidth(t);
  const rows: CoreBenchRow[] = [];
  const pr = new Progress(o, coreBenchTotal(o));
  if (o.interleave) await runInterleaved(o, bandwidthGBs, rows, pr);
  else
    for (const m of o.models)
      for (const format of o.formats)
        for (const threads of o.threads) rows.push(...(await runLoaded(o, m, format, threads, o.prompts, pr, bandwidthGBs[threads]!)));
  const rechecks = o.recheck && rows.length ? await recheck(o, rows, bandwidthGBs, pr) : undefined;
  remeasureBandwidth(o, bandwidthGBs, rows);
  return {
    date: new Date().toISOString(),
    cpu: addon().cpuInfo(),
    node: process.version,
    bandwidthGBs,
    rows,
    ...(rechecks ? { rechecks } : {}),
    ...(o.notes?.length ? { notes: o.notes } : {}),
  };
}
