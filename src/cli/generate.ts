/**
 * `lowbit generate`. Every bad value is an InvalidOptionError naming the flag (exit code 2).
 */
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { DataError, InvalidOptionError } from "../errors.js";
import { formatLabel, weightFormat } from "./format.js";
import { GENERATION_NUMBERS as G } from "../generate/config.js";
import type { GenerateOptions, GenerateResult } from "../generate/generate.js";
import {
  addContextShiftOptions, addModelOptions, contextShiftOptions, genFlag, intOpt, loadOptions, modelName, num, parseIdList,
  type CliIO, type ContextShiftFlags, type ModelFlags,
} from "./options.js";
import { addDraftOptions, draftPlan, lookupOptions, withDraftedModel, type DraftFlags } from "./draft.js";
import { addGrammarOptions, grammarOptions, type GrammarFlags } from "./grammar-flags.js";
import { addSamplingOptions, samplingOptions, type SamplingFlags } from "./sampling-flags.js";
import { addTpOption, followIfRank } from "./tp.js";

interface GenerateFlags extends ModelFlags, DraftFlags, ContextShiftFlags, GrammarFlags, SamplingFlags {
  prompt?: string;
  promptIds?: string;
  promptFile?: string;
  stop: string[];
  stopAtEos?: boolean;
  ctx?: string;
  json?: boolean;
  logprobs?: string;
}

/** One trailing newline (what echo and editors add) is not part of a piped or file prompt. */
const chompOne = (s: string) => s.replace(/\r?\n$/, "");

/**
 * The prompt: --prompt, --prompt-ids, --prompt-file (its text, one trailing newline dropped), or,
 * with none of them and standard input not a terminal, standard input (the same).
 */
async function promptText(f: GenerateFlags, io: CliIO): Promise<string | number[]> {
  const given = (["prompt", "promptIds", "promptFile"] as const).filter((k) => f[k] !== undefined);
  if (given.length > 1) {
    const flag = { prompt: "--prompt", promptIds: "--prompt-ids", promptFile: "--prompt-file" };
    throw new InvalidOptionError(`give one of ${given.map((k) => flag[k]).join(" and ")}, not both`);
  }
  if (f.prompt !== undefined) return f.prompt;
  if (f.promptIds !== undefined) return parseIdList("--prompt-ids", f.promptIds);
  let text: string | null;
  if (f.promptFile !== undefined) {
    try {
      text = readFileSync(f.promptFile, "utf8");
    } catch (e) {
      throw new DataError(`--prompt-file ${f.promptFile}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "not found" : (e as Error).message}`);
    }
    text = chompOne(text);
    if (text === "") throw new InvalidOptionError(`--prompt-file ${f.promptFile} is empty`);
    return text;
  }
  text = io.readStdin ? await io.readStdin() : null;
  text = text === null ? null : chompOne(text);
  if (text === null || text === "") {
    throw new InvalidOptionError("a prompt is required: --prompt TEXT, --prompt-ids 1,2,3, --prompt-file FILE or text piped to standard input");
  }
  return text;
}

/** Validates every generate flag before anything is loaded. */
function generateOptions(f: GenerateFlags, prompt: string | number[]): { prompt: string | number[]; gen: GenerateOptions } {
  const gen: GenerateOptions = {
    ...samplingOptions(f),
    logprobs: genFlag(G.logprobs, f.logprobs),
    stop: f.stop,
  };
  // Greedy decoding reproduces reference continuations, which run past EOS.
  gen.stopAtEos = f.stopAtEos ?? gen.temperature! > 0;
  gen.contextShift = contextShiftOptions(f);
  Object.assign(gen, grammarOptions(f));
  for (const k of Object.keys(gen) as (keyof GenerateOptions)[]) if (gen[k] === undefined) delete gen[k];
  return { prompt, gen };
}

const fmtMs = (ms: number) => (Number.isFinite(ms) ? `${ms >= 1 ? ms.toFixed(1) : ms.toFixed(2)} ms` : "n/a");
const fmtRate = (r: number) => (Number.isFinite(r) ? `${r >= 100 ? Math.round(r) : r.toFixed(1)} tok/s` : "n/a");

/** The one-line human summary printed to stderr after streamed text. */
export function timingsLine(name: string, format: string, threads: number, r: GenerateResult): string {
  const t = r.timings;
  const finish = r.finishReason === "length" ? "" : `, finish: ${r.finishReason}`;
  const a = r.assisted;
  const asst = a ? `, draft accepted ${a.accepted}/${a.proposed} (K=${a.draftConfidence > 0 ? `<=${a.draftTokens}, confidence ${a.draftConfidence}` : a.draftTokens})` : "";
  const shifts = r.contextShifts ? `, ${r.contextShifts} context shift${r.contextShifts === 1 ? "" : "s"}` : "";
  return (
    `[${name} ${format} ${threads} threads] prompt ${t.promptTokens} tok, TTFT ${fmtMs(t.ttftMs)} (${fmtRate(t.promptTokensPerSec)}), ` +
    `${t.generatedTokens} tok at TPOT ${fmtMs(t.tpotMs)} (${fmtRate(t.genTokensPerSec)})${finish}${asst}${shifts}`
  );
}

async function runGenerate(f: GenerateFlags, io: CliIO): Promise<number> {
  const ctx = intOpt("--ctx", f.ctx, 2);
  const load = loadOptions(f, ctx);
  if (await followIfRank(load, f.model)) return 0; // --tp, ranks > 0 (the prompt is rank 0's)
  if (f.logprobs !== undefined && !f.json) throw new InvalidOptionError("--logprobs needs --json");
  const { prompt, gen: plain } = generateOptions(f, await promptText(f, io));
  const plan = draftPlan(f, load.threads);
  const lookup = lookupOptions(f);
  return withDraftedModel(f.model, load, plan, async (model, _draft, assist) => {
    const gen = { ...plain, ...assist, ...lookup };
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
        weights: weightFormat(model),
        quant: model.quant ?? null,
        threads,
        ...(r.assisted ? { assisted: r.assisted } : {}),
        ...(r.contextShifts !== undefined ? { context_shifts: r.contextShifts } : {}),
        ...(r.logprobs ? { logprobs: r.logprobs } : {}),
      };
      io.out(JSON.stringify(out) + "\n");
    } else {
      const s = model.stream(prompt, gen);
      for await (const chunk of s) io.out(chunk);
      const r = await s.result;
      io.err("\n" + timingsLine(name, formatLabel(weightFormat(model), model.dtype), threads, r) + "\n");
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
    .option("--prompt-file <file>", "prompt text from a file (one trailing newline dropped); without any prompt flag, piped standard input is read")
    .option("--stop <str>", "stop string (repeatable)", collect, [] as string[])
    .option("--stop-at-eos", "stop at EOS (default only when temperature > 0)")
    .option("--no-stop-at-eos", "never stop at EOS")
    .option("--ctx <n>", "KV-cache capacity in tokens (default: the model's context)")
    .option("--json", "print one JSON object (ids, text, timings) instead of streaming")
    .option("--logprobs <n>", "with --json: each new token's log-probability and the n most likely tokens (0-20)");
  addSamplingOptions(cmd, { maxNewTokens: "64", maxNewTokensHelp: "maximum new tokens", temperature: "0" });
  addContextShiftOptions(cmd);
  addGrammarOptions(cmd);
  addDraftOptions(cmd);
  addTpOption(cmd);
  addModelOptions(cmd).action(async (flags: GenerateFlags) => setCode(await runGenerate(flags, io)));
}
