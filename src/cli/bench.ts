/**
 * `lowbit bench`: TTFT / TPOT / tokens per second of lowbit's formats, or of
 * lowbit and llama.cpp side by side on the same GGUF file (--vs-llamacpp).
 * Markdown on stdout, a progress bar on stderr, optional JSON and SVG chart.
 *
 *   lowbit bench [--model M1,M2] [--quant bf16,w8a8,...] [--baseline bf16] [--threads 2]
 *                [--prompts 32,1024|humaneval] [--limit N] [--gen 32] [--warmup 1] [--reps 5]
 *                [--interleave] [--draft M [--draft-tokens K] [--draft-confidence P]] [--json F.json] [--plot F.svg] [--no-recheck] [--preliminary]
 *   lowbit bench --vs-llamacpp [--model ...] [--gguf-types q4_0,q8_0] [--gguf-dir DIR] [...]
 *   lowbit bench --from-json F.json [--plot F.svg] [--preliminary]   (re-render a saved report)
 */
import type { Command } from "commander";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { DataError, InvalidOptionError } from "../errors.js";
import { dirname } from "node:path";
import { addon } from "../native.js";
import { runCoreBench, type BenchFormat, type CoreBenchReport } from "../bench/core.js";
import { benchPlan, DEFAULT_BENCH_FORMATS, DEFAULT_GGUF_TYPES, type BenchFlags, type BenchPlan } from "../bench/options.js";
import { coreChart, vsChart } from "../bench/plot-data.js";
import { renderChart } from "../bench/plot.js";
import { benchProgress } from "../bench/progress.js";
import { promptCases } from "../bench/prompts.js";
import { coreBenchMarkdown, speedupMarkdown } from "../bench/report.js";
import { SYNTHETIC_CALIBRATION } from "../bench/synthetic.js";
import { runVsLlamaCpp, type VsReport } from "../bench/vs-llamacpp.js";
import { vsMarkdown } from "../bench/vs-report.js";
import type { CliIO } from "./options.js";

const PRELIMINARY = "Preliminary: measured on a shared machine while other work ran on the same cores; expect noise.";

function writeOut(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

function header(plan: BenchPlan): string[] {
  return plan.preliminary ? [`**${PRELIMINARY}**`, ""] : [];
}

async function runFormats(plan: BenchPlan, io: CliIO, onProgress: (l: string, d: number, t: number) => void): Promise<CoreBenchReport> {
  const report = await runCoreBench({
    // a synthetic model calibrates SmoothQuant on a few short texts (its weights are random anyway)
    models: plan.models.map((m) => (m.dir.startsWith("synthetic:") ? { ...m, options: SYNTHETIC_CALIBRATION } : m)),
    formats: plan.formats,
    threads: plan.threads,
    prompts: promptCases(plan.prompts),
    genTokens: plan.genTokens,
    reps: plan.reps,
    warmupRuns: plan.warmupRuns,
    interleave: plan.interleave,
    recheck: plan.recheck,
    ...(plan.preliminary ? { notes: [PRELIMINARY] } : {}),
    ...(plan.draft ? { draft: { name: plan.draft.model.name, dir: plan.draft.model.dir, ...(plan.draft.tokens !== undefined ? { tokens: plan.draft.tokens } : {}), ...(plan.draft.confidence !== undefined ? { confidence: plan.draft.confidence } : {}), formats: plan.formats } } : {}),
    ...(plan.lookup ? { lookup: { ...plan.lookup, formats: plan.formats } } : {}),
    onProgress,
  });
  return report;
}

/** --from-json: the markdown (and --plot chart) of a saved report, nothing measured. */
function rerender(flags: BenchFlags & { fromJson: string }, io: CliIO): number {
  const measuring = (["model", "quant", "threads", "prompts", "limit", "gen", "warmup", "reps", "interleave", "vsLlamacpp", "llamacppEngines", "kvType", "ggufTypes", "ggufDir", "json", "draft", "draftTokens", "draftConfidence", "lookup", "lookupNgram"] as const).filter((k) => flags[k] !== undefined);
  if (measuring.length) throw new InvalidOptionError(`--from-json re-renders a saved report; it takes no measuring options (got --${measuring.map((k) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).join(", --")})`);
  if (flags.plot !== undefined && !/\.svg$/i.test(flags.plot.trim())) throw new InvalidOptionError(`--plot must name an .svg file, got ${JSON.stringify(flags.plot)}`);
  let report: CoreBenchReport | VsReport;
  try {
    report = JSON.parse(readFileSync(flags.fromJson, "utf8")) as CoreBenchReport | VsReport;
  } catch (e) {
    throw new DataError(`--from-json ${flags.fromJson}: ${(e as Error).message}`, { cause: e });
  }
  if (!report || !Array.isArray(report.rows) || !report.cpu) throw new DataError(`--from-json ${flags.fromJson}: not a lowbit bench report`);
  const vs = "engines" in report;
  const plan = { preliminary: !!flags.preliminary } as BenchPlan;
  const md = vs ? vsMarkdown(report as VsReport) : coreBenchMarkdown(report as CoreBenchReport) + "\n\n" + speedupMarkdown(report as CoreBenchReport, (flags.baseline ?? "bf16") as BenchFormat);
  io.out([...header(plan), md, ""].join("\n"));
  if (flags.plot) {
    writeOut(flags.plot, renderChart(vs ? vsChart(report as VsReport, plan) : coreChart(report as CoreBenchReport, plan)));
    io.out(`chart: ${flags.plot}\n`);
  }
  return 0;
}

export async function runBench(flags: BenchFlags & { fromJson?: string }, io: CliIO): Promise<number> {
  if (flags.fromJson !== undefined) return rerender({ ...flags, fromJson: flags.fromJson }, io);
  const plan = benchPlan(flags, addon().cpuInfo().physicalCores);
  for (const w of plan.warnings) io.err(`note: ${w}\n`);
  const progress = benchProgress({ tty: io.errIsTTY, lines: true });
  let report: CoreBenchReport | VsReport;
  let markdown: string;
  try {
    if (plan.mode === "vs-llamacpp") {
      const r = await runVsLlamaCpp({
        models: plan.models,
        ggufTypes: plan.ggufTypes,
        threads: plan.threads,
        prompts: promptCases(plan.prompts),
        genTokens: plan.genTokens,
        reps: plan.reps,
        warmupRuns: plan.warmupRuns,
        cacheDir: plan.ggufDir,
        recheck: plan.recheck,
        variants: plan.llamaCppVariants,
        ...(plan.kvType ? { kvType: plan.kvType } : {}),
        ...(plan.contextLength !== undefined ? { contextLength: plan.contextLength } : {}),
        ...(plan.preliminary ? { notes: [PRELIMINARY] } : {}),
        onProgress: progress.update,
      });
      report = r;
      markdown = vsMarkdown(r);
    } else {
      const r = await runFormats(plan, io, progress.update);
      report = r;
      markdown = coreBenchMarkdown(r) + "\n\n" + speedupMarkdown(r, plan.baseline);
    }
  } finally {
    progress.stop();
  }
  io.out([...header(plan), markdown, ""].join("\n"));
  if (plan.json) {
    writeOut(plan.json, JSON.stringify(report, null, 2) + "\n");
    io.out(`JSON: ${plan.json}\n`);
  }
  if (plan.plot) {
    const spec = plan.mode === "vs-llamacpp" ? vsChart(report as VsReport, { preliminary: plan.preliminary }) : coreChart(report as CoreBenchReport, { preliminary: plan.preliminary });
    writeOut(plan.plot, renderChart(spec));
    io.out(`chart: ${plan.plot}\n`);
  }
  return 0;
}

export function registerBench(program: Command, io: CliIO, setCode: (c: number) => void): void {
  program
    .command("bench")
    .description("measure TTFT, TPOT and tokens/s of lowbit's formats, or lowbit vs llama.cpp on the same GGUF file")
    .option("--model <list>", "comma-separated: Hugging Face directories, .gguf files, synthetic:<shape>, or model names (tinycode-7m, tinycode-100m); default: tinycode-100m (when present) and tinycode-7m")
    .option("--quant <list>", `formats: f32, bf16 and quantized formats, FORMAT+head also quantizes the LM head (default ${DEFAULT_BENCH_FORMATS.join(",")})`)
    .option("--baseline <format>", "format the speedups are computed against (default bf16 when benchmarked, else the first)")
    .option("--threads <list>", "thread counts (default: physical cores)")
    .option("--prompts <list>", "prompt lengths in tokens, or humaneval (each HumanEval prompt once per repetition, TTFT/TPOT averaged over them) (default 32,1024)")
    .option("--limit <n>", "with --prompts humaneval: the first N problems")
    .option("--gen <n>", "generated tokens per run (default 32)")
    .option("--warmup <n>", "unmeasured runs before each prompt setting (default 1)")
    .option("--reps <n>", "measured repetitions (default 5)")
    .option("--interleave", "load all formats of a model at once and alternate them within each repetition")
    .option("--draft <model>", "assisted generation: measure every format again with this draft model proposing tokens (implies --interleave)")
    .option("--draft-tokens <n>", "with --draft: tokens proposed per verification step (default 5; with --draft-confidence, the most)")
    .option("--draft-confidence <p>", "with --draft: the draft stops proposing at a token its softmax gives less than p (default 0: always K)")
    .option("--lookup <k>", "prompt-lookup decoding: measure every format again drafting up to k tokens from the prompt's n-grams (implies --interleave)")
    .option("--lookup-ngram <n>", "with --lookup: the longest n-gram matched (default 2)")
    .option("--vs-llamacpp", "lowbit and llama.cpp alternating on the same GGUF files")
    .option("--llamacpp-engines <list>", "with --vs-llamacpp: native (llama-server of scripts/build-llamacpp.sh), node (node-llama-cpp, a child process), node-uv1 (the same, UV_THREADPOOL_SIZE=1); default: native when built, node, node-uv1")
    .option("--kv-type <t>", "with --vs-llamacpp: one KV cache type for both engines, f32, f16 or q8_0 (default: lowbit's f32, llama.cpp's f16)")
    .option("--gguf-types <list>", `with --vs-llamacpp: GGUF file types (default ${DEFAULT_GGUF_TYPES.join(",")})`)
    .option("--gguf-dir <dir>", "with --vs-llamacpp: where GGUF files are cached (default <tmp>/lowbit-bench-gguf)")
    .option("--no-recheck", "skip the soundness check: a second, independent run of the first configuration, alternating with the first")
    .option("--json <file>", "also write the report as JSON")
    .option("--plot <file.svg>", "also draw the results as an SVG chart")
    .option("--preliminary", "label the results as preliminary (a shared, noisy machine)")
    .option("--from-json <file>", "measure nothing: print the markdown (and --plot the chart) of a report saved with --json")
    .action(async (flags: BenchFlags) => setCode(await runBench(flags, io)));
}
