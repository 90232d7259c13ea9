/**
 * The works' Table 1 redone on tinycode-100m: for each format, HumanEval pass@1
 * (164 problems, greedy), code-cloze accuracy, held-out perplexity, and TTFT /
 * TPOT averaged over the HumanEval prompts with their speedups over bf16.
 *
 * Quality is measured one format at a time (one model in memory); speed with
 * every format loaded at once and alternated within each repetition, so the
 * speedups are side-by-side ratios (src/bench/core.ts, interleave).
 */
import { runCoreBench, benchLoadOptions, type BenchFormat, type BenchModel, type CoreBenchReport, type CoreBenchRow } from "../bench/core.js";
import { promptCases } from "../bench/prompts.js";
import { cloze } from "../eval/cloze.js";
import { buildCodeCloze } from "../eval/code-cloze.js";
import { humanEval, loadProblems } from "../eval/humaneval.js";
import { perplexity, readJsonlTexts } from "../eval/perplexity.js";
import { LLM } from "../llm.js";
import { InvalidOptionError } from "../errors.js";

export interface Table1Options {
  model: BenchModel;
  /** the first is the baseline of the speedups */
  formats: BenchFormat[];
  threads: number;
  /** held-out texts: perplexity and the cloze task */
  heldout: string;
  /** HumanEval problems for pass@1 and for the speed prompts (default all 164) */
  humanevalLimit?: number;
  clozeItems: number;
  pplWindows: number;
  speedReps: number;
  /** assisted generation: `format` measured again with this draft model (HumanEval and speed; cloze and perplexity are the target's) */
  draft?: { model: BenchModel; format: BenchFormat; tokens?: number; confidence?: number };
  /** quality measurements to keep instead of measuring them (speed only): per format, and the assisted row's */
  keepQuality?: { plain: Quality[]; assisted?: Quality };
  onProgress?: (label: string, done: number, total: number) => void;
}

/** A format's quality measurements. */
export interface Quality {
  passAt1: number;
  solved: number;
  problems: number;
  clozeAcc: number;
  clozeAccNorm: number;
  clozeItems: number;
  ppl: number;
  pplTokens: number;
  /** seconds the quality measurements of this format took */
  evalSeconds: number;
}

export interface Table1Row extends Quality {
  format: BenchFormat;
  /** assisted generation: the draft, K and the share of drafted tokens accepted in the speed runs */
  draft?: CoreBenchRow["draft"];
  ttftMs: number;
  tpotMs: number;
  ttftSpeedup: number;
  tpotSpeedup: number;
}

export interface Table1Report {
  model: string;
  threads: number;
  baseline: BenchFormat;
  options: Omit<Table1Options, "onProgress" | "model" | "draft"> & { model: string; draft?: { model: string; format: BenchFormat; tokens: number; confidence?: number } };
  rows: Table1Row[];
  speed: CoreBenchReport;
}

async function quality(o: Table1Options, format: BenchFormat, say: (what: string, done: number, total: number) => void, same?: Quality): Promise<Quality> {
  const t0 = performance.now();
  say(`${format} loading`, 0, 1);
  const model = await LLM.load(o.model.dir, { ...o.model.options, ...benchLoadOptions(format, o.threads) });
  const draft = same && o.draft ? await LLM.load(o.draft.model.dir, { ...o.draft.model.options, threads: o.threads }) : undefined;
  try {
    const problems = loadProblems();
    const what = draft ? `${format} + draft humaneval` : `${format} humaneval`;
    const he = await humanEval(model, problems, {
      ...(o.humanevalLimit !== undefined ? { limit: o.humanevalLimit } : {}),
      ...(draft ? { draft, ...(o.draft!.tokens !== undefined ? { draftTokens: o.draft!.tokens } : {}), ...(o.draft!.confidence !== undefined ? { draftConfidence: o.draft!.confidence } : {}) } : {}),
      onRecord: (_r, d, t) => say(what, d, t),
    });
    if (same) return { ...same, passAt1: he.passAtK["pass@1"]!, solved: he.solved, problems: he.problems, evalSeconds: (performance.now() - t0) / 1000 };
    const texts = readJsonlTexts(o.heldout);
    const cz = await cloze(model, buildCodeCloze(texts, { items: o.clozeItems, seed: 1 }), { onProgress: (d, t) => say(`${format} cloze`, d, t) });
    const pp = await perplexity(model, texts, { window: 1024, maxWindows: o.pplWindows, onProgress: (d, t) => say(`${format} perplexity`, d, t) });
    return {
      passAt1: he.passAtK["pass@1"]!,
      solved: he.solved,
      problems: he.problems,
      clozeAcc: cz.acc,
      clozeAccNorm: cz.accNorm,
      clozeItems: cz.items,
      ppl: pp.ppl,
      pplTokens: pp.tokens,
      evalSeconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await model.dispose();
    await draft?.dispose();
  }
}

export async function runTable1(o: Table1Options): Promise<Table1Report> {
  const say = (what: string, done: number, total: number) => o.onProgress?.(`${o.model.name} ${what} ${done}/${total}`, 0, 1);
  const d = o.draft;
  if (d && !o.formats.includes(d.format)) throw new InvalidOptionError(`the draft's target format ${d.format} is not among the formats`);
  const keep = o.keepQuality;
  if (keep && (keep.plain.length !== o.formats.length || !!d !== !!keep.assisted)) throw new InvalidOptionError("the kept quality measurements do not match the formats and draft of this run");
  const q: Quality[] = keep ? keep.plain : [];
  if (!keep) for (const f of o.formats) q.push(await quality(o, f, say));
  const dq = keep ? keep.assisted : d ? await quality(o, d.format, say, q[o.formats.indexOf(d.format)]) : undefined;
  const speed = await runCoreBench({
    models: [o.model],
    formats: o.formats,
    threads: [o.threads],
    prompts: promptCases([{ kind: "humaneval", ...(o.humanevalLimit !== undefined ? { limit: o.humanevalLimit } : {}) }]),
    genTokens: 32,
    reps: o.speedReps,
    // three unmeasured rounds of the first prompt per variant (with one, the first configuration of
    // a run measured slower than its repeat at the end, before the bf16 scratch was 64-byte aligned)
    warmupRuns: 3,
    interleave: true,
    recheck: true,
    ...(d ? { draft: { name: d.model.name, dir: d.model.dir, ...(d.model.options ? { options: d.model.options } : {}), ...(d.tokens !== undefined ? { tokens: d.tokens } : {}), ...(d.confidence !== undefined ? { confidence: d.confidence } : {}), formats: [d.format] } } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  const base = speed.rows.find((r) => r.format === o.formats[0] && !r.draft)!;
  const row = (format: BenchFormat, qu: Quality, assisted: boolean): Table1Row => {
    const s = speed.rows.find((r) => r.format === format && !!r.draft === assisted)!;
    return { format, ...(s.draft ? { draft: s.draft } : {}), ...qu, ttftMs: s.ttftMs.median, tpotMs: s.tpotMs.median, ttftSpeedup: base.ttftMs.median / s.ttftMs.median, tpotSpeedup: base.tpotMs.median / s.tpotMs.median };
  };
  const rows = o.formats.map((format, i) => row(format, q[i]!, false));
  if (d && dq) rows.push(row(d.format, dq, true));
  const { onProgress: _p, model, draft, keepQuality: _k, ...rest } = o;
  return { model: o.model.name, threads: o.threads, baseline: o.formats[0]!, options: { ...rest, model: model.name, ...(draft ? { draft: { model: draft.model.name, format: draft.format, tokens: draft.tokens ?? 5, ...(draft.confidence !== undefined ? { confidence: draft.confidence } : {}) } } : {}) }, rows, speed };
}
