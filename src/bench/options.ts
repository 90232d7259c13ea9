/**
 * `lowbit bench` flags -> a checked plan. Every bad value is an
 * InvalidOptionError naming the flag (exit code 2), raised before anything is
 * loaded or measured.
 */
import { existsSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { InvalidOptionError } from "../errors.js";
import { GENERATION_NUMBERS as G } from "../generate/config.js";
import { genFlag, intOpt, listFlag } from "../cli/options.js";
import { GGUF_OUT_TYPES, type GgufOutType } from "../formats/gguf-export.js";
import { DEFAULT_MODEL_DIR } from "../llm.js";
import { isSyntheticShape, isSyntheticSpec, SYNTHETIC_PREFIX, syntheticShapeNames } from "../models/synthetic.js";
import { QUANT_FORMATS } from "../quant/formats.js";
import type { BenchFormat, BenchModel } from "./core.js";
import { DEFAULT_GGUF_CACHE } from "./gguf-cache.js";
import { parsePromptSpecs, type PromptSpec } from "./prompts.js";
import { llamaCppVariants, runContext, type LlamaCppVariant } from "./vs-llamacpp.js";
import { KV_TYPES, type KvType } from "../load-options.js";

export interface BenchFlags {
  model?: string;
  quant?: string;
  baseline?: string;
  threads?: string;
  prompts?: string;
  limit?: string;
  gen?: string;
  warmup?: string;
  reps?: string;
  interleave?: boolean;
  vsLlamacpp?: boolean;
  llamacppEngines?: string;
  kvType?: string;
  ggufTypes?: string;
  ggufDir?: string;
  recheck?: boolean;
  json?: string;
  plot?: string;
  preliminary?: boolean;
  draft?: string;
  draftTokens?: string;
  draftConfidence?: string;
  lookup?: string;
  lookupNgram?: string;
}

export interface BenchPlan {
  mode: "formats" | "vs-llamacpp";
  models: BenchModel[];
  /** formats mode */
  formats: BenchFormat[];
  baseline: BenchFormat;
  interleave: boolean;
  /** vs-llamacpp mode */
  ggufTypes: GgufOutType[];
  /** vs-llamacpp mode: the llama.cpp engines (undefined outside it) */
  llamaCppVariants?: LlamaCppVariant[];
  /** vs-llamacpp mode: lowbit's KV cache type (default f32) */
  kvType?: KvType;
  /** vs-llamacpp mode, prompts all of given lengths: lowbit's context, as long as the longest prompt + gen needs (it may pass the model's trained context) */
  contextLength?: number;
  ggufDir: string;
  threads: number[];
  prompts: PromptSpec[];
  genTokens: number;
  warmupRuns: number;
  reps: number;
  recheck: boolean;
  json?: string;
  plot?: string;
  preliminary: boolean;
  /** assisted generation: every format measured again with this draft model (implies interleave) */
  draft?: { model: BenchModel; tokens?: number; confidence?: number };
  /** prompt-lookup decoding: every format measured again drafting `tokens` by n-grams of at most `ngram` (implies interleave) */
  lookup?: { tokens: number; ngram?: number };
  /** things the user should know (a default model missing) */
  warnings: string[];
}

export const DEFAULT_BENCH_FORMATS: BenchFormat[] = ["bf16", "w8a8", "w4a8-g128-ismax"];
export const DEFAULT_GGUF_TYPES: GgufOutType[] = ["q4_0", "q8_0"];


/** ../shared/models (or $LOWBIT_MODELS) when present. */
export function sharedModelsDir(): string | undefined {
  const candidates = [process.env.LOWBIT_MODELS, process.env.LOWBIT_SHARED && join(process.env.LOWBIT_SHARED, "models"), join(DEFAULT_MODEL_DIR, "..", "..", "..", "shared", "models")];
  return candidates.find((d): d is string => !!d && existsSync(d));
}

/** A --model item: a path, synthetic:<shape>, or the name of a model (tinycode-7m, or one in the shared models directory). */
export function resolveBenchModel(spec: string): BenchModel {
  if (isSyntheticSpec(spec)) {
    const shape = spec.slice(SYNTHETIC_PREFIX.length);
    if (!isSyntheticShape(shape)) {
      throw new InvalidOptionError(`--model: unknown synthetic shape ${JSON.stringify(shape)}; known: ${syntheticShapeNames().join(", ")}`);
    }
    return { name: spec, dir: spec };
  }
  if (existsSync(spec)) return { name: basename(resolve(spec)).replace(/\.gguf$/i, ""), dir: spec };
  if (spec === "tinycode-7m") return { name: spec, dir: DEFAULT_MODEL_DIR };
  const shared = sharedModelsDir();
  if (shared && /^[\w.-]+$/.test(spec) && existsSync(join(shared, spec))) return { name: spec, dir: join(shared, spec) };
  throw new InvalidOptionError(`--model: ${JSON.stringify(spec)} is not a model directory, a .gguf file, synthetic:<shape> or a model name in ${shared ?? "the shared models directory (set LOWBIT_MODELS)"}`);
}

/** tinycode-100m when the shared directory has it, and the embedded tinycode-7m. */
export function defaultBenchModels(warnings: string[]): BenchModel[] {
  const models: BenchModel[] = [{ name: "tinycode-7m", dir: DEFAULT_MODEL_DIR }];
  const shared = sharedModelsDir();
  if (shared && existsSync(join(shared, "tinycode-100m"))) models.unshift({ name: "tinycode-100m", dir: join(shared, "tinycode-100m") });
  else warnings.push("tinycode-100m not found (set LOWBIT_MODELS); benchmarking the embedded tinycode-7m only");
  return models;
}


export function checkFormat(flag: string, f: string): BenchFormat {
  const q = f.endsWith("+head") ? f.slice(0, -5) : f;
  const ok = f === "f32" || f === "bf16" || (QUANT_FORMATS as readonly string[]).includes(q);
  if (!ok) throw new InvalidOptionError(`${flag}: unknown format ${JSON.stringify(f)}; one of f32, bf16, ${QUANT_FORMATS.join(", ")} (a quantized format + "+head" also quantizes the LM head)`);
  return f as BenchFormat;
}

export function benchPlan(f: BenchFlags, physicalCores: number): BenchPlan {
  const warnings: string[] = [];
  const vs = !!f.vsLlamacpp;
  if (vs && f.quant !== undefined) throw new InvalidOptionError("--quant selects lowbit formats; with --vs-llamacpp the formats are the GGUF file types: use --gguf-types");
  if (vs && f.baseline !== undefined) throw new InvalidOptionError("--baseline applies without --vs-llamacpp (with it, lowbit is compared with llama.cpp)");
  if (vs && f.interleave) throw new InvalidOptionError("--interleave applies without --vs-llamacpp (with it, the engines always alternate)");
  if (!vs && f.ggufTypes !== undefined) throw new InvalidOptionError("--gguf-types applies with --vs-llamacpp only");
  if (!vs && f.ggufDir !== undefined) throw new InvalidOptionError("--gguf-dir applies with --vs-llamacpp only");
  if (!vs && f.llamacppEngines !== undefined) throw new InvalidOptionError("--llamacpp-engines applies with --vs-llamacpp only");
  if (!vs && f.kvType !== undefined) throw new InvalidOptionError("--kv-type applies with --vs-llamacpp only");
  if (f.kvType !== undefined && !(KV_TYPES as readonly string[]).includes(f.kvType)) throw new InvalidOptionError(`--kv-type must be one of ${KV_TYPES.join(", ")}, got ${JSON.stringify(f.kvType)}`);
  const llamaCppEngines = vs ? llamaCppVariants(f.llamacppEngines !== undefined ? listFlag("--llamacpp-engines", f.llamacppEngines) : undefined) : undefined;
  if (vs && f.draft !== undefined) throw new InvalidOptionError("--draft applies without --vs-llamacpp (llama.cpp runs without a draft here)");
  if ((f.draftTokens !== undefined || f.draftConfidence !== undefined) && f.draft === undefined) throw new InvalidOptionError("--draft-tokens and --draft-confidence need --draft");
  const confidence = f.draftConfidence !== undefined ? genFlag(G.draftConfidence, f.draftConfidence) : undefined;
  const draft =
    f.draft !== undefined
      ? { model: resolveBenchModel(f.draft), ...(f.draftTokens !== undefined ? { tokens: intOpt("--draft-tokens", f.draftTokens, 1, 64)! } : {}), ...(confidence !== undefined ? { confidence } : {}) }
      : undefined;
  if (vs && f.lookup !== undefined) throw new InvalidOptionError("--lookup applies without --vs-llamacpp");
  if (f.lookupNgram !== undefined && f.lookup === undefined) throw new InvalidOptionError("--lookup-ngram needs --lookup");
  const lookupNgram = genFlag(G.promptLookupNgram, f.lookupNgram);
  const lookup = f.lookup !== undefined ? { tokens: genFlag(G.promptLookup, f.lookup)!, ...(lookupNgram !== undefined ? { ngram: lookupNgram } : {}) } : undefined;
  const models = f.model !== undefined ? listFlag("--model", f.model).map(resolveBenchModel) : defaultBenchModels(warnings);
  const formats = f.quant !== undefined ? listFlag("--quant", f.quant).map((x) => checkFormat("--quant", x)) : DEFAULT_BENCH_FORMATS;
  let baseline: BenchFormat = formats.includes("bf16") ? "bf16" : formats[0]!;
  if (f.baseline !== undefined) {
    baseline = checkFormat("--baseline", f.baseline.trim());
    if (!formats.includes(baseline)) throw new InvalidOptionError(`--baseline ${f.baseline} is not one of the benchmarked formats (${formats.join(", ")})`);
  }
  const ggufTypes = (f.ggufTypes !== undefined ? listFlag("--gguf-types", f.ggufTypes) : DEFAULT_GGUF_TYPES).map((t) => {
    if (!(GGUF_OUT_TYPES as readonly string[]).includes(t)) throw new InvalidOptionError(`--gguf-types: ${JSON.stringify(t)} is not one of ${GGUF_OUT_TYPES.join(", ")}`);
    return t as GgufOutType;
  });
  const threads = f.threads !== undefined ? listFlag("--threads", f.threads).map((t) => intOpt("--threads", t, 1, 256)!) : [physicalCores];
  const limit = f.limit !== undefined ? intOpt("--limit", f.limit, 1, 1_000_000)! : undefined;
  const prompts = parsePromptSpecs(f.prompts ?? "32,1024", limit);
  if (new Set(prompts.map((p) => JSON.stringify(p))).size !== prompts.length) throw new InvalidOptionError(`--prompts names a setting twice: ${JSON.stringify(f.prompts)}`);
  if (f.plot !== undefined && !/\.svg$/i.test(f.plot.trim())) throw new InvalidOptionError(`--plot must name an .svg file, got ${JSON.stringify(f.plot)}`);
  if (f.json !== undefined && f.json.trim() === "") throw new InvalidOptionError("--json needs a file name");
  if (f.ggufDir !== undefined && f.ggufDir.trim() === "") throw new InvalidOptionError("--gguf-dir needs a directory");
  const genTokens = f.gen !== undefined ? intOpt("--gen", f.gen, 2, 4096)! : 32;
  const lengths = prompts.flatMap((p) => (p.kind === "length" ? [p.length] : []));
  const contextLength = vs && lengths.length === prompts.length ? runContext(Math.max(...lengths), genTokens) : undefined;
  return {
    mode: vs ? "vs-llamacpp" : "formats",
    models,
    formats,
    baseline,
    interleave: !!f.interleave || draft !== undefined || lookup !== undefined,
    ggufTypes,
    ...(llamaCppEngines ? { llamaCppVariants: llamaCppEngines } : {}),
    ggufDir: f.ggufDir ?? DEFAULT_GGUF_CACHE,
    threads,
    prompts,
    genTokens,
    ...(vs && f.kvType !== undefined ? { kvType: f.kvType as KvType } : {}),
    ...(contextLength !== undefined ? { contextLength } : {}),
    warmupRuns: f.warmup !== undefined ? intOpt("--warmup", f.warmup, 0, 100)! : 1,
    reps: f.reps !== undefined ? intOpt("--reps", f.reps, 1, 1000)! : 5,
    recheck: f.recheck !== false,
    ...(f.json !== undefined ? { json: f.json } : {}),
    ...(f.plot !== undefined ? { plot: f.plot } : {}),
    preliminary: !!f.preliminary,
    ...(draft ? { draft } : {}),
    ...(lookup ? { lookup } : {}),
    warnings,
  };
}
