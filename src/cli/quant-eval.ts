/** `lowbit quant-eval`: perplexity, KL vs f32 and greedy agreement of weight formats. */
import type { Command } from "commander";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { quantAccuracy, type EvalFormat } from "../eval/quant-accuracy.js";
import { readJsonlTexts } from "../eval/perplexity.js";
import { InvalidOptionError, ModelNotFoundError } from "../errors.js";
import { isSavedModelDir, readSavedHeader } from "../saved/format.js";
import { DEFAULT_MODEL_DIR } from "../llm.js";
import { checkQuant, QUANT_FORMATS } from "../quant/formats.js";
import { isSyntheticSpec } from "../models/synthetic.js";
import { checkChoice } from "../load-options.js";
import { QUANT_METHODS } from "../quant/method.js";
import { addCalibrationOptions, calibrationOptions, intOpt, listFlag, MODEL_HELP, modelName, SEED_HELP, staticScaleOptions, type CalibrationFlags, type CliIO } from "./options.js";

interface Flags extends CalibrationFlags {
  model?: string;
  data: string;
  formats?: string;
  window: string;
  maxWindows?: string;
  threads?: string;
  syntheticSeed?: string;
  json?: boolean;
  methods?: string;
  actOrder?: boolean;
  oneShot?: boolean;
  saved?: string;
}

async function run(f: Flags, io: CliIO): Promise<number> {
  // A saved quantized model is compared with the f32 checkpoint it was quantized from.
  const synthetic = f.model !== undefined && isSyntheticSpec(f.model);
  const given = synthetic ? f.model! : resolve(f.model ?? DEFAULT_MODEL_DIR);
  const saved = !synthetic && isSavedModelDir(given) ? given : undefined;
  const dir = saved ? readSavedHeader(saved).sourceModel : given;
  if (saved && !existsSync(join(dir, "config.json"))) {
    throw new ModelNotFoundError(`${saved} is a saved model quantized from ${dir}, which is not found: quant-eval needs that f32 checkpoint as its baseline`);
  }
  const formats: EvalFormat[] = saved ? ["f32"] : ["f32", "bf16", ...QUANT_FORMATS];
  const chosen: EvalFormat[] = f.formats
    ? ["f32", ...f.formats.split(",").filter((x) => x !== "f32").map((x) => (x === "bf16" ? "bf16" : checkQuant(x, "--formats")))]
    : formats;
  const window = intOpt("--window", f.window, 1)!;
  const maxWindows = intOpt("--max-windows", f.maxWindows, 1);
  const threads = intOpt("--threads", f.threads, 1, 256);
  const seed = intOpt("--synthetic-seed", f.syntheticSeed, 0, 0xffffffff);
  const calibration = calibrationOptions(f);
  const statics = staticScaleOptions(f);
  const texts = readJsonlTexts(f.data);
  let prompts: number[][] = [];
  try {
    if (synthetic) throw new Error("no directory");
    prompts = (JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as { prompts: { input_ids: number[] }[] }).prompts.map((p) => p.input_ids);
  } catch {
    io.err("note: no reference.json beside the model: greedy agreement skipped\n");
  }
  // --saved: saved quantized models of this checkpoint, each a row after the formats
  const alsoSaved = f.saved !== undefined ? listFlag("--saved", f.saved).map((d) => resolve(d)) : [];
  for (const d of alsoSaved) {
    if (!isSavedModelDir(d)) throw new InvalidOptionError(`--saved ${d}: not a saved lowbit model (lowbit quantize --out)`);
    const from = resolve(readSavedHeader(d).sourceModel);
    if (from !== resolve(dir)) throw new InvalidOptionError(`--saved ${d} was quantized from ${from}, not from ${resolve(dir)}`);
  }
  const savedRows = [...(saved ? [saved] : []), ...alsoSaved];
  if (chosen.length + savedRows.length < 2) throw new InvalidOptionError("--formats names no format to compare with f32");
  const r = await quantAccuracy(dir, chosen, texts, prompts, {
    window,
    ...(maxWindows !== undefined ? { maxWindows } : {}),
    ...(threads !== undefined ? { threads } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(savedRows.length ? { saved: savedRows } : {}),
    calibration,
    statics,
    ...(f.methods !== undefined ? { methods: listFlag("--methods", f.methods).map((m) => checkChoice("--methods", m, QUANT_METHODS)) } : {}),
    ...(f.actOrder ? { actOrder: true } : {}),
    ...(f.oneShot ? { oneShot: true } : {}),
    onProgress: (l) => (f.json ? undefined : io.err(`\r${l}`)),
  });
  if (f.json) {
    io.out(JSON.stringify({ model: modelName(f.model), ...r }) + "\n");
    return 0;
  }
  io.err("\n");
  io.out(`${modelName(f.model)}: ${r.windows} windows x ${r.window} = ${r.tokens} predictions\n\n`);
  io.out("| format | ppl | vs f32 | mean KL vs f32 (nats) | greedy tokens equal to f32, per prompt |\n|---|---|---|---|---|\n");
  for (const x of r.rows) {
    const d = x.format === "f32" ? "-" : `${x.pplDelta >= 0 ? "+" : ""}${(x.pplDelta * 100).toFixed(2)}%`;
    io.out(`| ${x.format} | ${x.ppl.toFixed(4)} | ${d} | ${x.format === "f32" ? "-" : x.meanKL.toExponential(2)} | ${x.greedyMatch.join(", ")} |\n`);
  }
  const mse = r.rows.filter((x) => x.weightMSE);
  if (mse.length) {
    io.out("\nw4a8 weight error (mean squared error over the quantized matrices):\n\n");
    io.out("| format | MSE, float scales | MSE, integer scales | integer / float | amplifiers (min..max over matrices) |\n|---|---|---|---|---|\n");
    for (const x of mse) {
      const w = x.weightMSE!;
      const amp = w.int === undefined ? "-" : w.amplifierMin === w.amplifierMax ? `${w.amplifierMin}` : `${w.amplifierMin}..${w.amplifierMax}`;
      io.out(`| ${x.format} | ${w.float.toExponential(4)} | ${w.int === undefined ? "-" : w.int.toExponential(4)} | ${w.int === undefined ? "-" : (w.int / w.float).toFixed(4)} | ${amp} |\n`);
    }
  }
  return 0;
}

export function registerQuantEval(program: Command, io: CliIO, setCode: (c: number) => void): void {
  const cmd = program
    .command("quant-eval")
    .description("accuracy of weight formats vs f32: perplexity, mean KL divergence, greedy agreement")
    .option("--model <dir>", MODEL_HELP)
    .option("--synthetic-seed <n>", SEED_HELP)
    .requiredOption("--data <file>", "jsonl corpus (each line's `text`)")
    .option("--formats <list>", `comma-separated, compared with f32 (default: bf16,${QUANT_FORMATS.join(",")})`)
    .option("--window <n>", "predictions per window", "1024")
    .option("--max-windows <n>", "limit the number of windows")
    .option("--threads <n>", "compute threads")
    .option("--json", "print one JSON object")
    .option("--methods <list>", `int4 formats once per method, of ${QUANT_METHODS.join(",")} (default rtn)`)
    .option("--act-order", "with --methods gptq: a gptq act-order row too")
    .option("--one-shot", "with --methods gptq: a row with one-shot calibration too (gptq rows are layer by layer)")
    .option("--saved <dirs>", "comma-separated saved quantized models of --model (lowbit quantize --out), a row each");
  addCalibrationOptions(cmd).action(async (f: Flags) => setCode(await run(f, io)));
}
