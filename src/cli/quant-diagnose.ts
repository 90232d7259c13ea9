/**
 * `lowbit quant-diagnose`: where static int8 activation scales (w8a8-sq-static)
 * lose accuracy, per matmul input and layer (src/eval/static-diagnosis.ts).
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { diagnoseStatic } from "../eval/static-diagnosis.js";
import { readJsonlTexts } from "../eval/perplexity.js";
import { DEFAULT_MODEL_DIR } from "../llm.js";
import { checkStaticScales } from "../quant/static-scales.js";
import { addCalibrationOptions, calibrationOptions, intOpt, numOpt, MODEL_HELP, modelName, type CalibrationFlags, type CliIO } from "./options.js";

interface Flags extends CalibrationFlags {
  model?: string;
  data?: string;
  window: string;
  maxWindows: string;
  threads?: string;
  perLayer?: boolean;
  json?: boolean;
}

const pct = (x: number) => `${(x * 100).toFixed(x < 0.001 ? 4 : 2)}%`;

async function run(f: Flags, io: CliIO): Promise<number> {
  const window = intOpt("--window", f.window, 1)!;
  const maxWindows = intOpt("--max-windows", f.maxWindows, 1)!;
  const threads = intOpt("--threads", f.threads, 1, 256);
  const st = checkStaticScales(f.staticScales ?? "max", f.staticPercentile !== undefined ? numOpt("--static-percentile", f.staticPercentile, (x) => x > 0 && x <= 100, "a number in (0, 100]") : undefined);
  const texts = f.data !== undefined ? readJsonlTexts(f.data) : undefined;
  const r = await diagnoseStatic(resolve(f.model ?? DEFAULT_MODEL_DIR), {
    calibration: calibrationOptions(f), ...(threads !== undefined ? { threads } : {}), ...(texts ? { texts } : {}), window, maxWindows,
    method: st.method, percentile: st.percentile, perLayer: !!f.perLayer,
    onProgress: (w) => (f.json ? undefined : io.err(`${w}\n`)),
  });
  if (f.json) {
    io.out(JSON.stringify({ model: modelName(f.model), ...r }) + "\n");
    return 0;
  }
  io.out(`${modelName(f.model)}: ${r.calibTokens} calibration tokens (smoothed f32 inputs)\n\n`);
  io.out("| layer | input | max \\|x\\| | token max p50 / p99 | max / p50 | mse clip | clipped values / tokens (mse) | rel. error dynamic | static max | static mse | static p" + st.percentile + " |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const x of r.inputs) {
    io.out(`| ${x.layer} | ${x.kind} | ${x.max.toPrecision(4)} | ${x.tokMaxP50.toPrecision(3)} / ${x.tokMaxP99.toPrecision(3)} | ${(x.max / x.tokMaxP50).toFixed(1)} | ${x.clipMse.toPrecision(4)} | ${pct(x.clippedValuesMse)} / ${pct(x.clippedTokensMse)} | ` +
      `${x.relErr.dynamic.toExponential(2)} | ${x.relErr.max.toExponential(2)} | ${x.relErr.mse.toExponential(2)} | ${x.relErr.percentile.toExponential(2)} |\n`);
  }
  if (r.ablation.length) {
    io.out(`\nPerplexity, ${r.windows} windows x ${r.window}, static ${st.method} scales on the named inputs only (every other matmul dynamic); f32 ${r.f32ppl.toFixed(4)}\n\n`);
    io.out("| static inputs | ppl | vs f32 |\n|---|---|---|\n");
    for (const a of r.ablation) io.out(`| ${a.static} | ${a.ppl.toFixed(4)} | ${a.ppl >= r.f32ppl ? "+" : ""}${((a.ppl / r.f32ppl - 1) * 100).toFixed(2)}% |\n`);
  }
  return 0;
}

export function registerQuantDiagnose(program: Command, io: CliIO, setCode: (c: number) => void): void {
  const cmd = program
    .command("quant-diagnose")
    .description("where static int8 activation scales (w8a8-sq-static) lose accuracy: per layer and matmul input (the ablation uses max scales unless --static-scales names another; it sets --dynamic-inputs itself)")
    .option("--model <dir>", MODEL_HELP)
    .option("--data <file>", "held-out jsonl for the perplexity ablation (omitted: statistics only)")
    .option("--window <n>", "predictions per window", "1024")
    .option("--max-windows <n>", "windows of the ablation", "4")
    .option("--threads <n>", "compute threads")
    .option("--per-layer", "ablate one layer at a time too")
    .option("--json", "print one JSON object");
  // --static-scales / --static-percentile: the scales of the ablation (default max, the calibration being diagnosed)
  addCalibrationOptions(cmd).action(async (f: Flags) => setCode(await run(f, io)));
}
