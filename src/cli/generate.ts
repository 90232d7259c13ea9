/**
 * `lowbit generate` plus the option parsers shared by the CLI commands.
 * Every bad value is an InvalidOptionError naming the flag (exit code 2).
 */
import { checkQuant, QUANT_FORMATS } from "../quant/formats.js";
import { basename, resolve } from "node:path";
import type { Command } from "commander";
import { InvalidOptionError } from "../errors.js";
import type { GenerateOptions, GenerateResult } from "../generate/generate.js";
import type { ContextShiftOptions } from "../generate/context-shift.js";
import { DEFAULT_MODEL_DIR, type LoadOptions } from "../llm.js";
import { isSyntheticSpec } from "../models/synthetic.js";
import { addDraftOptions, draftPlan, withDraftedModel, type DraftFlags } from "./draft.js";

/** Where command output goes (the real streams, or buffers in tests). */
export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
  /** whether stderr is an interactive terminal (progress bars) */
  errIsTTY: boolean;
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
export interface ModelFlags {
  model?: string;
  dtype?: string;
  threads?: string;
  kernels?: string;
  quant?: string;
  quantHead?: boolean;
  calib?: string;
  calibSamples?: string;
  calibTokens?: string;
  smoothAlpha?: string;
  syntheticSeed?: string;
}

const MODEL_HELP = "Hugging Face model directory, a llama.cpp .gguf file, a saved quantized model (lowbit quantize), or synthetic:<shape> (seeded random weights: synthetic:tinyllama-1.1b, synthetic:tiny); default: the embedded tinycode-7m";
const SEED_HELP = "weight seed of a synthetic: model (default 42)";

export { MODEL_HELP, SEED_HELP };

export function addModelOptions(cmd: Command): Command {
  return cmd
    .option("--model <dir>", MODEL_HELP)
    .option("--synthetic-seed <n>", SEED_HELP)
    .option("--dtype <dtype>", "compute dtype: f32 or bf16 (default bf16)")
    .option("--threads <n>", "compute threads (default: physical cores)")
    .option("--kernels <variant>", "kernel variant: auto, ref, avx2, avx512 (default auto)")
    .option("--quant <format>", `quantize the block linear layers: ${QUANT_FORMATS.join(", ")}`)
    .option("--quant-head", "also quantize the LM head (default: it keeps the compute dtype)")
    .option("--calib <file>", "SmoothQuant calibration jsonl (default ../shared/data/python-heldout-calib.jsonl)")
    .option("--calib-samples <n>", "calibration texts (default 32)")
    .option("--calib-tokens <n>", "tokens per calibration text (default 512)")
    .option("--smooth-alpha <a>", "SmoothQuant migration strength in [0, 1] (default 0.5)");
}

export function loadOptions(f: ModelFlags, contextLength?: number): LoadOptions {
  if (f.dtype !== undefined && f.dtype !== "f32" && f.dtype !== "bf16") {
    throw new InvalidOptionError(`--dtype must be f32 or bf16, got ${JSON.stringify(f.dtype)}`);
  }
  if (f.kernels !== undefined && !["auto", "ref", "avx2", "avx512"].includes(f.kernels)) {
    throw new InvalidOptionError(`--kernels must be auto, ref, avx2 or avx512, got ${JSON.stringify(f.kernels)}`);
  }
  if (f.model !== undefined && f.model.trim() === "") throw new InvalidOptionError("--model is empty");
  return {
    ...(f.dtype !== undefined ? { dtype: f.dtype } : {}),
    ...(f.threads !== undefined ? { threads: intOpt("--threads", f.threads, 1, 256) } : {}),
    ...(f.kernels !== undefined ? { kernels: f.kernels } : {}),
    ...(f.quant !== undefined ? { quant: checkQuant(f.quant, "--quant") } : {}),
    ...(f.quantHead ? { quantHead: true } : {}),
    ...(f.calib !== undefined ? { calib: f.calib } : {}),
    ...(f.calibSamples !== undefined ? { calibSamples: intOpt("--calib-samples", f.calibSamples, 1)! } : {}),
    ...(f.calibTokens !== undefined ? { calibTokens: intOpt("--calib-tokens", f.calibTokens, 2)! } : {}),
    ...(f.smoothAlpha !== undefined ? { smoothAlpha: numOpt("--smooth-alpha", f.smoothAlpha, (x) => x >= 0 && x <= 1, "a number in [0, 1]")! } : {}),
    ...(f.syntheticSeed !== undefined ? { seed: intOpt("--synthetic-seed", f.syntheticSeed, 0, 0xffffffff)! } : {}),
    progress: !!process.stderr.isTTY,
    ...(contextLength !== undefined ? { contextLength } : {}),
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

interface GenerateFlags extends ModelFlags, DraftFlags, ContextShiftFlags {
  prompt?: string;
  promptIds?: string;
  maxNewTokens: string;
  temperature: string;
  topK?: string;
  topP?: string;
  minP?: string;
  repetitionPenalty?: string;
  seed?: string;
  stop: string[];
  stopAtEos?: boolean;
  ctx?: string;
  json?: boolean;
}

/** Validates every generate flag before anything is loaded. */
function generateOptions(f: GenerateFlags): { prompt: string | number[]; gen: GenerateOptions } {
  if (f.prompt !== undefined && f.promptIds !== undefined) {
    throw new InvalidOptionError("give either --prompt or --prompt-ids, not both");
  }
  if (f.prompt === undefined && f.promptIds === undefined) {
    throw new InvalidOptionError("a prompt is required: --prompt TEXT or --prompt-ids 1,2,3");
  }
  const prompt = f.prompt ?? parseIdList("--prompt-ids", f.promptIds!);
  const temperature = numOpt("--temperature", f.temperature, (x) => x >= 0, "a number >= 0")!;
  const gen: GenerateOptions = {
    maxNewTokens: intOpt("--max-new-tokens", f.maxNewTokens, 0),
    temperature,
    topK: intOpt("--top-k", f.topK, 0),
    topP: numOpt("--top-p", f.topP, (x) => x > 0 && x <= 1, "a number in (0, 1]"),
    minP: numOpt("--min-p", f.minP, (x) => x >= 0 && x < 1, "a number in [0, 1)"),
    repetitionPenalty: numOpt("--repetition-penalty", f.repetitionPenalty, (x) => x > 0, "a number > 0"),
    seed: intOpt("--seed", f.seed, Number.MIN_SAFE_INTEGER),
    stop: f.stop,
    // Greedy decoding reproduces reference continuations, which run past EOS.
    stopAtEos: f.stopAtEos ?? temperature > 0,
  };
  gen.contextShift = contextShiftOptions(f);
  for (const k of Object.keys(gen) as (keyof GenerateOptions)[]) if (gen[k] === undefined) delete gen[k];
  return { prompt, gen };
}

const fmtMs = (ms: number) => (Number.isFinite(ms) ? `${ms >= 1 ? ms.toFixed(1) : ms.toFixed(2)} ms` : "n/a");
const fmtRate = (r: number) => (Number.isFinite(r) ? `${r >= 100 ? Math.round(r) : r.toFixed(1)} tok/s` : "n/a");

/** The one-line human summary printed to stderr after streamed text. */
export function timingsLine(name: string, dtype: string, threads: number, r: GenerateResult): string {
  const t = r.timings;
  const finish = r.finishReason === "length" ? "" : `, finish: ${r.finishReason}`;
  const a = r.assisted;
  const asst = a ? `, draft accepted ${a.accepted}/${a.proposed} (K=${a.draftConfidence > 0 ? `<=${a.draftTokens}, confidence ${a.draftConfidence}` : a.draftTokens})` : "";
  const shifts = r.contextShifts ? `, ${r.contextShifts} context shift${r.contextShifts === 1 ? "" : "s"}` : "";
  return (
    `[${name} ${dtype} ${threads} threads] prompt ${t.promptTokens} tok, TTFT ${fmtMs(t.ttftMs)} (${fmtRate(t.promptTokensPerSec)}), ` +
    `${t.generatedTokens} tok at TPOT ${fmtMs(t.tpotMs)} (${fmtRate(t.genTokensPerSec)})${finish}${asst}${shifts}`
  );
}

async function runGenerate(f: GenerateFlags, io: CliIO): Promise<number> {
  const { prompt, gen: plain } = generateOptions(f);
  const ctx = intOpt("--ctx", f.ctx, 2);
  const load = loadOptions(f, ctx);
  const plan = draftPlan(f, load.threads);
  return withDraftedModel(f.model, load, plan, async (model, _draft, assist) => {
    const gen = { ...plain, ...assist };
    const name = modelName(f.model);
    const threads = model.info().threads;
    if (f.json) {
      const r = await model.generate(prompt, gen);
      const t = r.timings;
      const out = {
        ids: r.ids,
        text: r.text,
        prompt_ids: r.promptIds,
        finish_reason: r.finishReason,
        ...(r.stop !== undefined ? { stop: r.stop } : {}),
        ttft_ms: num(t.ttftMs),
        tpot_ms: num(t.tpotMs),
        prompt_tokens_per_s: num(t.promptTokensPerSec),
        gen_tokens_per_s: num(t.genTokensPerSec),
        overhead_ms_per_token: num(t.overheadMsPerToken),
        total_ms: num(t.totalMs),
        model: name,
        dtype: model.dtype,
        quant: model.quant ?? null,
        threads,
        ...(r.assisted ? { assisted: r.assisted } : {}),
        ...(r.contextShifts !== undefined ? { context_shifts: r.contextShifts } : {}),
      };
      io.out(JSON.stringify(out) + "\n");
    } else {
      const s = model.stream(prompt, gen);
      for await (const chunk of s) io.out(chunk);
      const r = await s.result;
      io.err("\n" + timingsLine(name, model.dtype, threads, r) + "\n");
    }
    return 0;
  });
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerGenerate(program: Command, io: CliIO, setCode: (c: number) => void): void {
  const cmd = program
    .command("generate")
    .description("generate a continuation of a prompt (streams text; --json for one JSON object)")
    .option("--prompt <text>", "prompt text")
    .option("--prompt-ids <ids>", "prompt as comma-separated token ids, e.g. 1,2,3")
    .option("--max-new-tokens <n>", "maximum new tokens", "64")
    .option("--temperature <t>", "sampling temperature; 0 = greedy", "0")
    .option("--top-k <k>", "keep the k most likely tokens (0 = off)")
    .option("--top-p <p>", "nucleus sampling threshold (1 = off)")
    .option("--min-p <p>", "drop tokens below p * max prob (0 = off)")
    .option("--repetition-penalty <r>", "penalty for repeated tokens (1 = off)")
    .option("--seed <s>", "sampling seed")
    .option("--stop <str>", "stop string (repeatable)", collect, [] as string[])
    .option("--stop-at-eos", "stop at EOS (default only when temperature > 0)")
    .option("--no-stop-at-eos", "never stop at EOS")
    .option("--ctx <n>", "KV-cache capacity in tokens (default: the model's context)")
    .option("--json", "print one JSON object (ids, text, timings) instead of streaming");
  addContextShiftOptions(cmd);
  addDraftOptions(cmd);
  addModelOptions(cmd).action(async (flags: GenerateFlags) => setCode(await runGenerate(flags, io)));
}
