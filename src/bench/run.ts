/**
 * `npm run bench`: the project's standard sets, on the same code as
 * `lowbit bench` (src/cli/bench.ts): the core-runtime benchmark on the embedded tinycode-7m and,
 * when present, ../shared/models/tinycode-100m (or $LOWBIT_MODELS/tinycode-100m);
 * the quantized formats on both; and the TinyLlama-1.1B-shaped synthetic model.
 *
 *   node dist/src/bench/run.js [--set all|core|quant|synthetic] [--reps N] [--quick]
 *     [--formats bf16,w8a8,...] [--prompts 32,1024|humaneval] [--threads N] [--out FILE.json] [--interleave]
 *     [--no-recheck]
 *
 * The JSON goes to bench-out/<set>.json (untracked) unless --out names a file: the published
 * docs/bench/*.json are written only when asked (--out docs/bench/core.json).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { BENCH_OUT_DIR, benchOutFiles, type BenchSet } from "./out.js";
import { Command } from "commander";
import { InvalidOptionError } from "../errors.js";
import { intOpt, listFlag, parseScriptFlags } from "../cli/options.js";
import { runCoreBench, type BenchFormat, type CoreBenchOptions } from "./core.js";
import { defaultBenchModels } from "./options.js";
import { benchProgress } from "./progress.js";
import { parsePromptSpecs, promptCases } from "./prompts.js";
import { coreBenchMarkdown, speedupMarkdown } from "./report.js";
import { QUANT_FORMATS } from "../quant/formats.js";
import { syntheticBenchSet } from "./synthetic.js";

interface RunFlags {
  set: string;
  reps?: string;
  quick?: boolean;
  formats?: string;
  prompts?: string;
  threads?: string;
  out?: string;
  interleave?: boolean;
  recheck: boolean;
}

function flags(): RunFlags | undefined {
  return parseScriptFlags<RunFlags>(
    new Command("npm run bench --")
      .option("--set <name>", "all, core, quant or synthetic", "all")
      .option("--reps <n>", "repetitions of every setting (default 5; 2 with --quick)")
      .option("--quick", "short prompts, few repetitions (a smoke run)")
      .option("--formats <list>", "restrict a set to these formats")
      .option("--prompts <specs>", "prompt lengths or humaneval (default 32,1024; 32 with --quick)")
      .option("--threads <list>", "thread counts (default 2)")
      .option("--out <file.json>", `the JSON of a single set (with --set all: core's; the others beside it); default ${BENCH_OUT_DIR}/<set>.json, docs/bench/ only when named`)
      .option("--interleave", "alternate all formats of a model within each repetition")
      .option("--no-recheck", "skip measuring the first configuration again at the end")
  );
}

/** --formats restricts a set's formats to the named ones (at least one must belong to the set). */
function pick(formats: BenchFormat[], v: string | undefined): BenchFormat[] {
  if (v === undefined) return formats;
  const want = v.split(",").map((x) => x.trim());
  const kept = formats.filter((f) => want.includes(f));
  if (kept.length === 0) throw new InvalidOptionError(`--formats ${JSON.stringify(v)} names none of this set's formats (${formats.join(", ")})`);
  return kept;
}

function realModels() {
  const warnings: string[] = [];
  const models = defaultBenchModels(warnings);
  for (const w of warnings) console.error(`note: ${w}`);
  return models;
}

async function runSet(o: CoreBenchOptions, out: string, speedups: boolean): Promise<void> {
  const progress = benchProgress({ tty: !!process.stderr.isTTY, lines: true });
  let report;
  try {
    report = await runCoreBench({ ...o, onProgress: progress.update });
  } finally {
    progress.stop();
  }
  writeFileSync(out, JSON.stringify(report, null, 2) + "\n");
  console.log(coreBenchMarkdown(report));
  if (speedups) console.log("\n" + speedupMarkdown(report));
  console.log(`\nJSON: ${out}\n`);
}

async function main(): Promise<void> {
  const f = flags();
  if (!f) return;
  const quick = !!f.quick;
  // --set core: f32/bf16 x 1/2 threads (core runtime); --set quant: bf16 and every
  // quantized format at 2 threads; --set synthetic: the same formats on the
  // TinyLlama-1.1B-shaped synthetic model; default: all three.
  const set = f.set;
  if (!["all", "core", "quant", "synthetic"].includes(set)) throw new InvalidOptionError(`--set must be all, core, quant or synthetic, got ${JSON.stringify(set)}`);
  const reps = intOpt("--reps", f.reps, 1, 1000) ?? (quick ? 2 : 5);
  const threads = f.threads !== undefined ? listFlag("--threads", f.threads).map((t) => intOpt("--threads", t, 1, 256)!) : [2];
  // --out names the JSON of a single set; with --set all, core's (quant.json and synthetic.json beside it)
  const files = benchOutFiles(set as BenchSet, f.out);
  const out = files[set === "all" ? "core" : (set as Exclude<BenchSet, "all">)];
  const common = {
    prompts: promptCases(parsePromptSpecs(f.prompts ?? (quick ? "32" : "32,1024"))),
    genTokens: 32,
    reps,
    // --interleave: all formats of a model loaded together and alternated within each
    // repetition (side-by-side ratios; needs the memory of every format at once)
    interleave: !!f.interleave,
    // measure the first configuration again at the end and compare (soundness.ts)
    recheck: f.recheck,
  };
  mkdirSync(dirname(out), { recursive: true });
  const models = set === "synthetic" ? [] : realModels();
  if (set === "all" || set === "core") {
    await runSet({ ...common, models, formats: ["f32", "bf16"], threads: [1, 2] }, out, false);
  }
  if (set === "all" || set === "quant") {
    const formats = pick(["bf16", ...QUANT_FORMATS, "w8a8-sq+head", "w4a16-g128+head", "w4a8-g128+head", "w4a8-g128-ismax+head", "q4_0+head", "q8_0+head", "w8a8+head", "w4a8-g32+head"], f.formats);
    await runSet({ ...common, models, formats, threads }, files.quant, true);
  }
  if (set === "all" || set === "synthetic") {
    const s = syntheticBenchSet((fs) => pick(fs, f.formats));
    // one warm-up per model: a second 1024-token prefill of a 1.1B model costs many seconds per format
    await runSet({ ...common, ...s, threads, warmup: "once" }, files.synthetic, true);
  }
}

main().catch((e: Error) => {
  console.error(e instanceof InvalidOptionError ? `error: ${e.message}` : e);
  process.exitCode = e instanceof InvalidOptionError ? 2 : 1;
});
