/**
 * Core-runtime benchmark: TTFT / TPOT per model, dtype, thread count and
 * prompt length, with the machine's read bandwidth measured in the same run
 * so decode can be compared with its memory-bound limit.
 */
import { measureComputePeaks, type ComputePeak } from "./peak.js";
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
   * Soundness (soundness.ts): a second, independent run of the first model, thread count and prompt
   * setting. Its models are loaded a second time and measured alternately with the first run,
   * repetition by repetition, in the same setup (every variant alternating in an interleaved run),
   * so a slow or fast machine hits both runs alike; what remains is what the bench and the runtime
   * themselves add (a load that lands on slower memory, state left by an earlier run, warm-up).
   */
  recheck?: boolean;
  /** lines saved with the report and printed under its tables */
  notes?: string[];
  /**
   * Assisted generation (interleaved runs only): each of `formats` is measured a second
   * time with this draft model proposing `tokens` tokens per step (rows with `draft` set).
   */
  draft?: { name: string; dir: string; options?: LoadOptions; tokens?: number; confidence?: number; formats: BenchFormat[] };
  /** Prompt-lookup decoding (interleaved runs only): each of `formats` measured again drafting by n-gram lookup. */
  lookup?: { tokens: number; ngram?: number; formats: BenchFormat[] };
  /** before every generation (done of total) and before every load (done unchanged) */
  onProgress?: (label: string, done: number, total: number) => void;
}

export interface CoreBenchRow {
  model: string;
  /** assisted generation: the draft model, K, and the share of drafted tokens accepted */
  draft?: { model: string; tokens: number; confidence?: number; acceptance: number; proposedPerRound?: number; lookup?: boolean };
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
  /** the compute-peak probe of the same run (bench/peak.ts; absent in reports written before it) */
  computePeak?: ComputePeak[];
  rows: CoreBenchRow[];
  /** the first setting's second run (every variant of it in an interleaved run) against its first */
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
  rounds?: number;
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
      into.rounds = (into.rounds ?? 0) + g.assisted.rounds;
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
  const variants = o.formats.length + (o.draft?.formats.length ?? 0) + (o.lookup?.formats.length ?? 0);
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

/** A prompt-lookup row's acceptance and drafts per round (0 where nothing was found to draft: no n-gram recurred). */
function lookupRates(s: Samples): { acceptance: number; proposedPerRound: number } {
  const proposed = s.proposed ?? 0, rounds = s.rounds ?? 0;
  return { acceptance: proposed ? (s.accepted ?? 0) / proposed : 0, proposedPerRound: rounds ? proposed / rounds : 0 };
}

/** One measured configuration of an interleaved run: a loaded format, plain or with the draft. */
interface Variant {
  format: BenchFormat;
  model: LLM;
  extra: GenerateOptions;
  label: string;
}

/** Every format of one model (and the draft variants) loaded; the models go into `loaded` for disposal. */
async function loadVariants(o: CoreBenchOptions, m: BenchModel, threads: number, pr: Progress, loaded: LLM[], tag: string): Promise<Variant[]> {
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
      variants.push({ format: f, model: target, extra: { draft, ...(d.tokens !== undefined ? { draftTokens: d.tokens } : {}), ...(d.confidence !== undefined ? { draftConfidence: d.confidence } : {}) }, label: `${f} + draft ${d.name}` });
    }
  }
  const l = o.lookup;
  for (const f of l?.formats ?? []) {
    const target = variants.find((v) => v.format === f && !v.extra.draft)!.model;
    variants.push({ format: f, model: target, extra: { promptLookup: l!.tokens, ...(l!.ngram !== undefined ? { promptLookupNgram: l!.ngram } : {}) }, label: `${f} + prompt lookup` });
  }
  return variants;
}

/**
 * The order of one repetition: each variant in turn; with a second run, each variant's two runs
 * back to back, which of them goes first swapping every repetition (rep 1: A A' B B', rep 2: A' A B' B).
 */
export function repetitionOrder(variants: number, paired: boolean, rep: number): number[] {
  if (!paired) return Array.from({ length: variants }, (_, i) => i);
  return Array.from({ length: variants }, (_, i) => (rep % 2 === 1 ? [i, variants + i] : [variants + i, i])).flat();
}

const SECOND = "second run: ";

/**
 * All formats of one model loaded together, alternated within each repetition. With `again`, the
 * first model and thread count are loaded a second time and their first prompt setting is
 * measured by both copies, repetition by repetition; the second copy's rows go into `again`.
 */
async function runInterleaved(o: CoreBenchOptions, bandwidthGBs: Record<number, number>, rows: CoreBenchRow[], pr: Progress, again?: CoreBenchRow[]): Promise<void> {
  const w = o.warmupRuns ?? 1;
  for (const [mi, m] of o.models.entries())
    for (const [ti, threads] of o.threads.entries()) {
      const loaded: LLM[] = [];
      try {
        const variants = await loadVariants(o, m, threads, pr, loaded, "");
        const twins = again && mi === 0 && ti === 0 ? await loadVariants(o, m, threads, pr, loaded, SECOND) : [];
        for (const [ci, c] of o.prompts.entries()) {
          const paired = ci === 0 && twins.length > 0;
          const runs = paired ? [...variants, ...twins] : variants;
          const prepared = runs.map((v) => prepare(v.model, c));
          const samples = runs.map((): Samples => ({ ttft: [], tpot: [], ovh: [] }));
          // whole repetitions alternate (rep 1: A, B, C; rep 2: A, B, C): alternating prompt by
          // prompt made every decode slower, the fast formats most (docs/bench/table1-per-prompt-alternation.md)
          for (let r = 1 - w; r <= o.reps; r++)
            for (const i of repetitionOrder(variants.length, paired, r)) {
              const v = runs[i]!;
              const label = `${i >= variants.length ? SECOND : ""}${m.name} t=${threads} prompt ${c.label} ${r <= 0 ? "warm-up" : `run ${r}/${o.reps}`} ${v.label}`;
              const p = prepared[i]!;
              await timedCase(v.model, r <= 0 ? { ...p, ids: p.ids.slice(0, 1) } : p, o.genTokens, r <= 0 ? undefined : samples[i], pr.tick(label), v.extra);
            }
          for (const [i, v] of runs.entries()) {
            const row = makeRow(o, m, v.format, threads, { label: c.label, tokens: prepared[i]!.tokens }, v.model, samples[i]!, bandwidthGBs[threads]!);
            if (v.extra.draft) row.draft = { model: o.draft!.name, tokens: v.extra.draftTokens ?? 5, ...(v.extra.draftConfidence ? { confidence: v.extra.draftConfidence } : {}), acceptance: samples[i]!.accepted! / samples[i]!.proposed!, proposedPerRound: samples[i]!.proposed! / samples[i]!.rounds! };
            if (v.extra.promptLookup !== undefined) row.draft = { model: `prompt lookup n<=${v.extra.promptLookupNgram ?? 2}`, lookup: true, tokens: v.extra.promptLookup, ...lookupRates(samples[i]!) };
            (i < variants.length ? rows : again!).push(row);
          }
        }
      } finally {
        for (const model of loaded) await model.dispose();
      }
    }
}

/**
 * One model loaded in one format: warm-up(s) and the measured repetitions of each prompt setting.
 * With `again`, the format is loaded a second time and the first prompt setting is measured by
 * both copies, repetition by repetition (rep 1: A A', rep 2: A' A); the second copy's row goes into `again`.
 */
async function runLoaded(o: CoreBenchOptions, m: BenchModel, format: BenchFormat, threads: number, cases: PromptCase[], pr: Progress, bw: number, again?: CoreBenchRow[]): Promise<CoreBenchRow[]> {
  const w = o.warmupRuns ?? 1;
  const once = o.warmup === "once";
  const step = `${m.name} ${format} t=${threads}`;
  const models: LLM[] = [];
  const rows: CoreBenchRow[] = [];
  try {
    for (const tag of again ? ["", SECOND] : [""]) {
      pr.say(`${tag}${step} loading`);
      models.push(await LLM.load(m.dir, { ...m.options, ...benchLoadOptions(format, threads) }));
    }
    for (const [k, c] of cases.entries()) {
      const runs = k === 0 ? models : models.slice(0, 1);
      const tags = ["", SECOND];
      const prepared = runs.map((model) => prepare(model, c));
      const samples = runs.map((): Samples => ({ ttft: [], tpot: [], ovh: [] }));
      const warm = once ? (k === 0 ? w : 0) : w;
      for (let r = 1 - warm; r <= o.reps; r++)
        for (const i of repetitionOrder(1, runs.length > 1, r)) {
          const p = prepared[i]!;
          if (r <= 0) await timedCase(runs[i]!, { ...p, ids: p.ids.slice(0, 1) }, o.genTokens, undefined, pr.tick(`${tags[i]}${step} prompt ${c.label} warm-up`));
          else await timedCase(runs[i]!, p, o.genTokens, samples[i], pr.tick(`${tags[i]}${step} prompt ${c.label} run ${r}/${o.reps}`));
        }
      rows.push(makeRow(o, m, format, threads, { label: c.label, tokens: prepared[0]!.tokens }, runs[0]!, samples[0]!, bw));
      if (runs.length > 1) again!.push(makeRow(o, m, format, threads, { label: c.label, tokens: prepared[1]!.tokens }, runs[1]!, samples[1]!, bw));
    }
  } finally {
    for (const model of models) await model.dispose();
  }
  return rows;
}

/** "tinycode-100m w8a8-sq + draft tinycode-7m t=2 prompt 32" */
export function rowLabel(r: CoreBenchRow): string {
  return `${r.model} ${r.format}${r.draft ? ` + ${r.draft.lookup ? "" : "draft "}${r.draft.model}` : ""} t=${r.threads} prompt ${r.prompt}`;
}

/** Each second-run row against the first run's row of the same configuration (soundness.ts). */
function compareRuns(rows: CoreBenchRow[], again: CoreBenchRow[]): RepeatCheck[] {
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
  if ((o.draft || o.lookup) && !o.interleave) throw new InvalidOptionError("a draft model or prompt lookup is measured in interleaved runs only");
  const bandwidthGBs: Record<number, number> = {};
  for (const t of o.threads) bandwidthGBs[t] = measureBandwidth(t);
  const computePeak = measureComputePeaks(o.threads);
  const rows: CoreBenchRow[] = [];
  const again: CoreBenchRow[] | undefined = o.recheck ? [] : undefined;
  const pr = new Progress(o, coreBenchTotal(o));
  if (o.interleave) await runInterleaved(o, bandwidthGBs, rows, pr, again);
  else
    for (const m of o.models)
      for (const format of o.formats)
        for (const threads of o.threads) {
          const first = m === o.models[0] && format === o.formats[0] && threads === o.threads[0];
          rows.push(...(await runLoaded(o, m, format, threads, o.prompts, pr, bandwidthGBs[threads]!, first ? again : undefined)));
        }
  const rechecks = again?.length ? compareRuns(rows, again) : undefined;
  remeasureBandwidth(o, bandwidthGBs, rows);
  return {
    date: new Date().toISOString(),
    cpu: addon().cpuInfo(),
    node: process.version,
    bandwidthGBs,
    computePeak,
    rows,
    ...(rechecks ? { rechecks } : {}),
    ...(o.notes?.length ? { notes: o.notes } : {}),
  };
}
