/**
 * `npm run results`: measures and renders the results markdown (and its JSON). By default they
 * go to bench-out/RESULTS.md and bench-out/results.json (untracked); the published
 * docs/RESULTS.md and docs/results.json are written only when named:
 *   npm run results -- --out docs/RESULTS.md --json docs/results.json
 * The sections a run keeps (--only, --speed-only, --from-json) come from the --json file when it
 * exists, else from docs/results.json (read, not written).
 *
 *   node dist/src/results/run.js [--only table1|llamacpp] [--from-json] [--quick]
 *     [--model DIR|name] [--formats bf16,w8a8-sq,w4a16-g128] [--threads N] [--reps N]
 *     [--draft DIR|name (default tinycode-7m) | --no-draft] [--draft-tokens K] [--draft-confidence P] [--speed-only]
 *     [--heldout FILE.jsonl] [--out FILE.md] [--json FILE.json]
 *     [--lengths 32,512,1024] [--gen 128] [--gguf-types q4_0,q8_0,q4_k_m]   (the llama.cpp section)
 *
 * Table 1 needs tinycode-100m (../shared/models or $LOWBIT_MODELS, or --model) and the held-out data
 * (../shared/data, or --heldout); the llama.cpp section needs node-llama-cpp (a devDependency) and
 * runs native llama.cpp's llama-server too when scripts/build-llamacpp.sh has built it (then the
 * engines are lowbit, native llama.cpp and node-llama-cpp; else lowbit and node-llama-cpp with
 * and without UV_THREADPOOL_SIZE=1).
 * --only measures one section and keeps the other from the existing JSON; --from-json
 * measures nothing; --speed-only measures Table 1's TTFT/TPOT again and keeps its quality columns
 * from the JSON. --reps: repetitions of every timed setting in both sections (default 5).
 * --quick: few problems, items, windows and repetitions (a smoke run).
 */
import { Command } from "commander";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { DataError, InvalidOptionError } from "../errors.js";
import { addon } from "../native.js";
import { type BenchFormat } from "../bench/core.js";
import { DEFAULT_GGUF_CACHE } from "../bench/gguf-cache.js";
import { resolveBenchModel } from "../bench/options.js";
import { genFlag, intOpt, listFlag, parseScriptFlags } from "../cli/options.js";
import { GENERATION_NUMBERS as G } from "../generate/config.js";
import { benchProgress } from "../bench/progress.js";
import { promptCases } from "../bench/prompts.js";
import { SYNTHETIC_CALIBRATION } from "../bench/synthetic.js";
import { llamaCppVariants, runContext, runVsLlamaCpp } from "../bench/vs-llamacpp.js";
import { nativeLlamaCppTool } from "../llamacpp/native-bin.js";
import { checkGgufOutType, type GgufOutType } from "../formats/gguf-export.js";
import { HELDOUT_TEST, sharedDataFile } from "../eval/shared-data.js";
import { QUANT_FORMATS } from "../quant/formats.js";
import { resultsMarkdown, type ResultsJson } from "./render.js";
import { runTable1 } from "./table1.js";
import { runBatching } from "../bench/batching.js";
import { ensureGguf } from "../bench/gguf-cache.js";

interface ResultsFlags {
  only?: string;
  fromJson?: boolean;
  quick?: boolean;
  model?: string;
  formats: string;
  threads?: string;
  reps?: string;
  out: string;
  json: string;
  draft: string | false;
  draftTokens?: string;
  draftConfidence?: string;
  speedOnly?: boolean;
  heldout?: string;
  lengths?: string;
  gen?: string;
  ggufTypes?: string;
  streams?: string;
}

/** The published results, read as the base of a run whose --json file does not exist yet. */
const PUBLISHED_JSON = "docs/results.json";

function flags(): ResultsFlags | undefined {
  return parseScriptFlags<ResultsFlags>(
    new Command("npm run results --")
      .option("--only <section>", "table1, llamacpp or batching: measure one section, keep the others from the JSON")
      .option("--from-json", "measure nothing: render the markdown from the JSON")
      .option("--quick", "few problems, items, windows and repetitions (a smoke run)")
      .option("--model <dir|name>", "the model of Table 1 (default tinycode-100m)")
      .option("--formats <list>", "Table 1's formats", "bf16,w8a8-sq,w4a16-g128")
      .option("--threads <n>", "threads (default: physical cores)")
      .option("--reps <n>", "repetitions of every timed setting (default 5; 2 with --quick)")
      .option("--out <file>", "the markdown (docs/RESULTS.md only when named)", "bench-out/RESULTS.md")
      .option("--json <file>", `the JSON (docs/results.json only when named); sections kept come from it, else from ${PUBLISHED_JSON}`, "bench-out/results.json")
      .option("--heldout <file>", "Table 1's held-out texts jsonl (default ../shared/data/python-heldout-test.jsonl)")
      .option("--draft <dir|name>", "the draft model of the assisted row", "tinycode-7m")
      .option("--no-draft", "no assisted row")
      .option("--draft-tokens <k>", "draft tokens per verification")
      .option("--draft-confidence <p>", "the draft's confidence threshold")
      .option("--speed-only", "measure Table 1's TTFT/TPOT again, keep its quality columns from the JSON")
      .option("--lengths <list>", "the llama.cpp section's prompt lengths (default 32,512,1024)")
      .option("--gen <n>", "the llama.cpp section's generated tokens (default 128)")
      .option("--gguf-types <list>", "the llama.cpp section's GGUF types (default q4_0,q8_0,q4_k_m)")
      .option("--streams <list>", "the batching section's concurrent streams (default 1,4,16,64)")
  );
}

function command(): string {
  return ["npm run results", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" ");
}

function readJson(file: string): ResultsJson {
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, "utf8")) as ResultsJson;
  } catch (e) {
    throw new DataError(`${file}: ${(e as Error).message}`, { cause: e });
  }
}

async function main(): Promise<void> {
  const f = flags();
  if (!f) return;
  const out = resolve(f.out);
  const jsonFile = resolve(f.json);
  // the base: the --json file, or (a first run into bench-out/) the published results
  const baseFile = existsSync(jsonFile) || f.json !== "bench-out/results.json" ? jsonFile : resolve(PUBLISHED_JSON);
  const saved = readJson(baseFile);
  if (f.fromJson) {
    if (!existsSync(baseFile)) throw new DataError(`--from-json: ${jsonFile} does not exist`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, resultsMarkdown(saved));
    console.log(`wrote ${out} from ${baseFile}`);
    return;
  }
  const only = f.only;
  if (only !== undefined && only !== "table1" && only !== "llamacpp" && only !== "batching") throw new InvalidOptionError(`--only must be table1, llamacpp or batching, got ${JSON.stringify(only)}`);
  const streams = f.streams !== undefined ? listFlag("--streams", f.streams).map((x) => intOpt("--streams", x, 1, 256)!) : undefined;
  const quick = !!f.quick;
  const threads = intOpt("--threads", f.threads, 1, 256) ?? addon().cpuInfo().physicalCores;
  const reps = intOpt("--reps", f.reps, 1, 1000) ?? (quick ? 2 : 5);
  const formats = listFlag("--formats", f.formats) as BenchFormat[];
  for (const x of formats) if (x !== "bf16" && x !== "f32" && !(QUANT_FORMATS as readonly string[]).includes(x)) throw new InvalidOptionError(`--formats: unknown format ${JSON.stringify(x)}`);
  const model = resolveBenchModel(f.model ?? "tinycode-100m");
  // assisted generation: INT8 SmoothQuant (or the last format) verified with the draft tinycode-7m
  const draftTokens = genFlag(G.draftTokens, f.draftTokens);
  const draftConfidence = genFlag(G.draftConfidence, f.draftConfidence);
  const draft = f.draft === false
    ? undefined
    : {
        model: resolveBenchModel(f.draft),
        format: formats.includes("w8a8-sq") ? ("w8a8-sq" as BenchFormat) : formats[formats.length - 1]!,
        ...(draftTokens !== undefined ? { tokens: draftTokens } : {}),
        ...(draftConfidence !== undefined ? { confidence: draftConfidence } : {}),
      };
  const progress = benchProgress({ tty: !!process.stderr.isTTY, lines: true });
  const date = new Date().toISOString();
  const result: ResultsJson = { ...saved };
  try {
    if (only === undefined || only === "table1") {
      const heldout = f.heldout ?? sharedDataFile(HELDOUT_TEST);
      if (!heldout) throw new DataError(`Table 1 needs held-out texts: --heldout FILE.jsonl, or ../shared/data/${HELDOUT_TEST} (or $LOWBIT_SHARED/data)`);
      if (!existsSync(heldout)) throw new DataError(`--heldout ${heldout}: not found`);
      // --speed-only: TTFT/TPOT measured again, the quality columns kept from the saved JSON
      let keepQuality;
      if (f.speedOnly) {
        const old = saved.table1;
        if (!old) throw new DataError(`--speed-only keeps the quality columns of ${baseFile}, which has no Table 1`);
        const plain = formats.map((f) => old.rows.find((r) => r.format === f && !r.draft));
        const assisted = old.rows.find((r) => r.draft);
        if (plain.some((r) => !r) || !!draft !== !!assisted) throw new DataError(`--speed-only: ${jsonFile} has no quality rows for these formats and draft; measure everything once`);
        keepQuality = { plain: plain.map((r) => r!), ...(draft ? { assisted: assisted! } : {}) };
      }
      const t = await runTable1({
        ...(keepQuality ? { keepQuality } : {}),
        model,
        formats,
        threads,
        heldout,
        ...(quick ? { humanevalLimit: 10 } : {}),
        ...(draft ? { draft } : {}),
        clozeItems: quick ? 20 : 300,
        pplWindows: quick ? 2 : 64,
        speedReps: reps,
        onProgress: progress.update,
      });
      const old = saved.table1;
      result.table1 = { ...t, command: command(), date, ...(keepQuality && old ? { qualityFrom: old.qualityFrom ?? { command: old.command, date: old.date } } : {}) };
    }
    if (only === undefined || only === "llamacpp") {
      const models = quick ? [model] : [model, resolveBenchModel("synthetic:tinyllama-1.1b")];
      // native llama.cpp (llama-server of scripts/build-llamacpp.sh) when built, and node-llama-cpp
      const variants = nativeLlamaCppTool("llama-server") ? llamaCppVariants(["native", "node"]) : llamaCppVariants(["node", "node-uv1"]);
      const lengths = quick ? [32] : (f.lengths !== undefined ? listFlag("--lengths", f.lengths).map((x) => intOpt("--lengths", x, 1, 65536)!) : [32, 512, 1024]);
      const genTokens = quick ? 32 : (intOpt("--gen", f.gen, 2, 4096) ?? 128);
      const r = await runVsLlamaCpp({
        models: models.map((m) => (m.dir.startsWith("synthetic:") ? { ...m, options: SYNTHETIC_CALIBRATION } : m)),
        ggufTypes: f.ggufTypes !== undefined ? (listFlag("--gguf-types", f.ggufTypes).map(checkGgufOutType) as GgufOutType[]) : ["q4_0", "q8_0", "q4_k_m"],
        threads: [threads],
        prompts: promptCases(lengths.map((length) => ({ kind: "length" as const, length }))),
        genTokens,
        // prompts past the models' trained context (2048 tokens) run in a context as long as they need
        contextLength: runContext(Math.max(...lengths), genTokens),
        variants,
        reps,
        warmupRuns: 1,
        cacheDir: DEFAULT_GGUF_CACHE,
        recheck: true,
        onProgress: progress.update,
      });
      result.llamacpp = { ...r, command: command(), date };
    }
    if (only === undefined || only === "batching") {
      // the 1.1B shape's Q4_0 file of the llama.cpp section (the GGUF cache), or --quick: Table 1's model
      const m = quick ? model : resolveBenchModel("synthetic:tinyllama-1.1b");
      progress.update(`batching: the ${m.name} q4_0 GGUF`, 0, 1);
      const { path } = ensureGguf(DEFAULT_GGUF_CACHE, m.dir, m.name, "q4_0");
      const r = await runBatching({
        file: path,
        model: m.name,
        streams: streams ?? (quick ? [1, 4] : [1, 4, 16, 64]),
        threads,
        genTokens: quick ? 16 : (intOpt("--gen", f.gen, 2, 4096) ?? 128),
        rounds: quick ? 1 : Math.min(reps, 3),
        onProgress: (l) => progress.update(`batching: ${l}`, 0, 1),
      });
      result.batching = { ...r, command: command(), date };
    }
  } finally {
    progress.stop();
  }
  mkdirSync(dirname(jsonFile), { recursive: true });
  writeFileSync(jsonFile, JSON.stringify(result, null, 2) + "\n");
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, resultsMarkdown(result));
  console.log(`wrote ${out} and ${jsonFile}`);
}

main().catch((e: Error) => {
  console.error(`error: ${e.message}`);
  process.exitCode = e instanceof InvalidOptionError || e instanceof DataError ? 2 : 1;
});
