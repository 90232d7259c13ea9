/**
 * The flag library every command line shares (lowbit's commands, npm run
 * bench, npm run results): strict number parsing, the model-loading flags,
 * the generation flags (their ranges are the library's own: generate/config.ts)
 * and the StreamingLLM flags. Every bad value is an InvalidOptionError naming
 * the flag (exit code 2), raised before anything is loaded.
 */
import { basename, resolve } from "node:path";
import { CommanderError, type Command } from "commander";
import { InvalidOptionError } from "../errors.js";
import type { ContextShiftOptions } from "../generate/context-shift.js";
import { checkGenerationNumber, type GenerationNumberField } from "../generate/config.js";
import { DEFAULT_MODEL_DIR, type LoadOptions } from "../llm.js";
import { checkChoice, COMPUTE_DTYPES, KERNEL_VARIANTS, KV_TYPES } from "../load-options.js";
import { isSyntheticSpec } from "../models/synthetic.js";
import { checkQuant, QUANT_FORMATS } from "../quant/formats.js";

/** Where command output goes (the real streams, or buffers in tests). */
export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
  /** whether stderr is an interactive terminal (progress bars) */
  errIsTTY: boolean;
  /** all of standard input as text; null when it is a terminal (nothing piped) or absent */
  readStdin?: () => Promise<string | null>;
}

/** Reads all of process.stdin; null when it is a terminal. */
export async function readProcessStdin(): Promise<string | null> {
  if (process.stdin.isTTY) return null;
  const parts: Buffer[] = [];
  for await (const b of process.stdin) parts.push(b as Buffer);
  return Buffer.concat(parts).toString("utf8");
}

const INT_RE = /^[+-]?\d+$/;
const NUM_RE = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** Strict integer parse of a flag value; undefined stays undefined. */
export function intOpt(flag: string, v: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  const s = v.trim();
  const n = INT_RE.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new InvalidOptionError(`${flag} must be an integer ${range}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** Strict decimal parse of a flag value, checked by `ok`. */
export function numOpt(flag: string, v: string | undefined, ok: (x: number) => boolean, want: string): number | undefined {
  if (v === undefined) return undefined;
  const s = v.trim();
  const n = NUM_RE.test(s) ? Number(s) : NaN;
  if (!Number.isFinite(n) || !ok(n)) throw new InvalidOptionError(`${flag} must be ${want}, got ${JSON.stringify(v)}`);
  return n;
}

/** A generation option's flag (its range and message: generate/config.ts); undefined stays undefined. */
export function genFlag(f: GenerationNumberField, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const s = v.trim();
  const n = (f.int ? INT_RE : NUM_RE).test(s) ? Number(s) : NaN;
  return checkGenerationNumber(f, n, f.flag, false, JSON.stringify(v));
}

/** "a, b,c" -> ["a", "b", "c"]; empty items are an error. */
export function listFlag(flag: string, v: string): string[] {
  const xs = v.split(",").map((x) => x.trim());
  if (v.trim() === "" || xs.some((x) => x === "")) throw new InvalidOptionError(`${flag} must be a comma-separated list, got ${JSON.stringify(v)}`);
  if (new Set(xs).size !== xs.length) throw new InvalidOptionError(`${flag} names an item twice: ${JSON.stringify(v)}`);
  return xs;
}

/** "1,2,3" -> [1, 2, 3]; anything else is an InvalidOptionError. */
export function parseIdList(flag: string, v: string): number[] {
  const parts = v.split(",").map((p) => p.trim());
  if (v.trim() === "") throw new InvalidOptionError(`${flag} is empty; expected comma-separated token ids, e.g. 1,2,3`);
  return parts.map((p) => {
    const n = /^\d+$/.test(p) ? Number(p) : NaN;
    if (!Number.isSafeInteger(n)) {
      throw new InvalidOptionError(`${flag}: ${JSON.stringify(p)} is not a token id; expected comma-separated non-negative integers, e.g. 1,2,3`);
    }
    return n;
  });
}

/** Options every model-loading command accepts. */
/** The calibration flags of the SmoothQuant formats (addCalibrationOptions). */
export interface CalibrationFlags {
  calib?: string;
  calibSamples?: string;
  calibTokens?: string;
  smoothAlpha?: string;
  staticScales?: string;
  staticPercentile?: string;
  dynamicInputs?: string;
  smoothDown?: boolean;
}

export interface ModelFlags extends CalibrationFlags {
  model?: string;
  dtype?: string;
  threads?: string;
  kernels?: string;
  kvType?: string;
  quant?: string;
  quantHead?: boolean;
  syntheticSeed?: string;
  /** where hf: models are cached (cli/hub.ts) */
  cacheDir?: string;
  /** tensor parallelism (cli/tp.ts; generate, serve, info) */
  tp?: boolean;
  /** --mmap */
  mmap?: boolean;
}

const MODEL_HELP = "Hugging Face model directory, a llama.cpp .gguf file, a saved quantized model (lowbit quantize), hf:OWNER/REPO[:QUANT|/file.gguf] (downloaded into --cache-dir), or synthetic:<shape> (seeded random weights: synthetic:tinyllama-1.1b, synthetic:tiny); default: the embedded tinycode-7m";
const SEED_HELP = "weight seed of a synthetic: model (default 42)";

const CACHE_DIR_HELP = "where hf: models are downloaded (default $LOWBIT_CACHE, else ~/.cache/lowbit/models)";

export { MODEL_HELP, SEED_HELP, CACHE_DIR_HELP };

export function addModelOptions(cmd: Command): Command {
  cmd
    .option("--model <dir>", MODEL_HELP)
    .option("--cache-dir <dir>", CACHE_DIR_HELP)
    .option("--synthetic-seed <n>", SEED_HELP)
    .option("--dtype <dtype>", "compute dtype: f32 or bf16 (default bf16)")
    .option("--threads <n>", "compute threads (default: physical cores)")
    .option("--kernels <variant>", "kernel variant: auto, ref, avx2, avx512, amx (default auto)")
    .option("--kv-type <type>", "KV-cache element type: f32, f16 or q8_0 (llama.cpp's -ctk/-ctv; default f32)")
    .option("--quant <format>", `quantize the block linear layers: ${QUANT_FORMATS.join(", ")}`)
    .option("--quant-head", "also quantize the LM head (default: it keeps the compute dtype)")
    .option("--mmap", "GGUF: map the file and use K-quant tensors in place (faster start, pages shared between processes; decoding may be slower: docs/GGUF.md)");
  return addCalibrationOptions(cmd);
}

/** --calib, --calib-samples, --calib-tokens, --smooth-alpha and w8a8-sq-static's --static-scales, --static-percentile, --dynamic-inputs */
export function addCalibrationOptions(cmd: Command): Command {
  return cmd
    .option("--calib <file>", "SmoothQuant calibration jsonl (default ../shared/data/python-heldout-calib.jsonl)")
    .option("--calib-samples <n>", "calibration texts (default 32)")
    .option("--calib-tokens <n>", "tokens per calibration text (default 512)")
    .option("--smooth-alpha <a>", "SmoothQuant migration strength in [0, 1] (default 0.5)")
    .option("--static-scales <method>", "w8a8-sq-static activation scales: mse (default), max, percentile")
    .option("--static-percentile <p>", "percentile of |x| for --static-scales percentile (default 99.99)")
    .option("--dynamic-inputs <list>", "w8a8-sq-static: inputs kept per-token, of qkv,o,gate_up,down (default down; '' for none)")
    .option("--smooth-down", "w8a8-sq-static: smooth down_proj's input through ffn_up's rows (with --dynamic-inputs '': every matmul static)");
}

/** The SmoothQuant calibration flags as LoadOptions. */
export function calibrationOptions(f: CalibrationFlags): Pick<LoadOptions, "calib" | "calibSamples" | "calibTokens" | "smoothAlpha"> {
  return {
    ...(f.calib !== undefined ? { calib: f.calib } : {}),
    ...(f.calibSamples !== undefined ? { calibSamples: intOpt("--calib-samples", f.calibSamples, 1)! } : {}),
    ...(f.calibTokens !== undefined ? { calibTokens: intOpt("--calib-tokens", f.calibTokens, 2)! } : {}),
    ...(f.smoothAlpha !== undefined ? { smoothAlpha: numOpt("--smooth-alpha", f.smoothAlpha, (x) => x >= 0 && x <= 1, "a number in [0, 1]")! } : {}),
  };
}

/** The w8a8-sq-static calibration flags as LoadOptions (checked by checkLoadOptions). */
export function staticScaleOptions(f: CalibrationFlags): Pick<LoadOptions, "staticScales" | "staticPercentile" | "dynamicInputs" | "smoothDown"> {
  return {
    ...(f.smoothDown ? { smoothDown: true } : {}),
    ...(f.staticScales !== undefined ? { staticScales: f.staticScales as LoadOptions["staticScales"] } : {}),
    ...(f.staticPercentile !== undefined ? { staticPercentile: numOpt("--static-percentile", f.staticPercentile, (x) => x > 0 && x <= 100, "a number in (0, 100]")! } : {}),
    ...(f.dynamicInputs !== undefined ? { dynamicInputs: f.dynamicInputs.split(",").filter((x) => x !== "") as NonNullable<LoadOptions["dynamicInputs"]> } : {}),
  };
}

export function loadOptions(f: ModelFlags, contextLength?: number): LoadOptions {
  const dtype = f.dtype !== undefined ? checkChoice("--dtype", f.dtype, COMPUTE_DTYPES) : undefined;
  const kernels = f.kernels !== undefined ? checkChoice("--kernels", f.kernels, KERNEL_VARIANTS) : undefined;
  if (f.model !== undefined && f.model.trim() === "") throw new InvalidOptionError("--model is empty");
  return {
    ...(dtype !== undefined ? { dtype } : {}),
    ...(f.threads !== undefined ? { threads: intOpt("--threads", f.threads, 1, 256) } : {}),
    ...(kernels !== undefined ? { kernels } : {}),
    ...(f.kvType !== undefined ? { kvType: checkChoice("--kv-type", f.kvType, KV_TYPES) } : {}),
    ...(f.quant !== undefined ? { quant: checkQuant(f.quant, "--quant") } : {}),
    ...(f.quantHead ? { quantHead: true } : {}),
    ...calibrationOptions(f),
    ...staticScaleOptions(f),
    ...(f.syntheticSeed !== undefined ? { seed: intOpt("--synthetic-seed", f.syntheticSeed, 0, 0xffffffff)! } : {}),
    progress: !!process.stderr.isTTY && !f.tp,
    ...(contextLength !== undefined ? { contextLength } : {}),
    ...(f.tp ? { tp: true } : {}),
    ...(f.mmap ? { mmap: true } : {}),
  };
}

/** Short model name for reports: the directory's base name, or "synthetic:<shape>". */
export function modelName(dir: string | undefined): string {
  if (dir !== undefined && isSyntheticSpec(dir)) return dir;
  return basename(resolve(dir ?? DEFAULT_MODEL_DIR));
}

/** JSON-safe number (NaN/Infinity -> null). */
export const num = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** The StreamingLLM flags shared by generate and serve. */
export interface ContextShiftFlags {
  contextShift?: boolean;
  keep?: string;
  discard?: string;
}

export function addContextShiftOptions(cmd: Command): Command {
  return cmd
    .option("--context-shift", "StreamingLLM: when the context is full, keep the first --keep tokens, drop --discard after them, shift the rest (keys re-rotated) and go on")
    .option("--keep <n>", "with --context-shift: attention-sink tokens kept (default 4)")
    .option("--discard <n>", "with --context-shift: tokens dropped per shift (default half of the rest)");
}

/** The contextShift option the flags ask for (undefined without --context-shift). */
export function contextShiftOptions(f: ContextShiftFlags): ContextShiftOptions | undefined {
  if ((f.keep !== undefined || f.discard !== undefined) && !f.contextShift) throw new InvalidOptionError("--keep and --discard need --context-shift");
  if (!f.contextShift) return undefined;
  const nKeep = intOpt("--keep", f.keep, 0), nDiscard = intOpt("--discard", f.discard, 1);
  return { ...(nKeep !== undefined ? { nKeep } : {}), ...(nDiscard !== undefined ? { nDiscard } : {}) };
}

/**
 * Parses a script's argv (npm run bench / results) with `cmd`: a bad flag is an
 * InvalidOptionError (exit code 2, one message); undefined when --help was shown.
 */
export function parseScriptFlags<T extends object>(cmd: Command, argv: readonly string[] = process.argv): T | undefined {
  cmd.exitOverride().configureOutput({ outputError: () => {} });
  try {
    cmd.parse(argv as string[]);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.help") return undefined;
      throw new InvalidOptionError(e.message.replace(/^error: /, ""));
    }
    throw e;
  }
  return cmd.opts<T>();
}

