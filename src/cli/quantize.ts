/**
 * `lowbit quantize`: quantize (and calibrate) a checkpoint once and save it as
 * a lowbit saved-model directory, which every --model flag then accepts.
 *
 *   lowbit quantize --model HF_DIR --quant w8a8-sq [--calib FILE.jsonl] [--quant-head] --out DIR
 *   lowbit quantize --model HF_DIR --quant w4a16-g128 --method gptq|awq|rtn [--act-order] [--calib FILE.jsonl] --out DIR
 */
import type { Command } from "commander";
import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { InvalidOptionError } from "../errors.js";
import { DEFAULT_MODEL_DIR, LLM } from "../llm.js";
import { isSavedModelDir } from "../saved/format.js";
import { checkChoice, type LoadOptions } from "../load-options.js";
import { QUANT_METHODS } from "../quant/method.js";
import { addModelOptions, loadOptions, modelName, numOpt, type CliIO, type ModelFlags } from "./options.js";

interface QuantizeFlags extends ModelFlags {
  out?: string;
  json?: boolean;
  method?: string;
  actOrder?: boolean;
  gptqDamp?: string;
  oneShot?: boolean;
}

/** --method, --act-order, --gptq-damp as LoadOptions (checked with the format by checkLoadOptions). */
function methodOptions(f: QuantizeFlags): Pick<LoadOptions, "quantMethod" | "actOrder" | "gptqDamp" | "gptqOneShot"> {
  return {
    ...(f.oneShot ? { gptqOneShot: true } : {}),
    ...(f.method !== undefined ? { quantMethod: checkChoice("--method", f.method, QUANT_METHODS) } : {}),
    ...(f.actOrder ? { actOrder: true } : {}),
    ...(f.gptqDamp !== undefined ? { gptqDamp: numOpt("--gptq-damp", f.gptqDamp, (x) => x > 0 && x <= 1, "a number in (0, 1]")! } : {}),
  };
}

const MiB = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

/** Bytes of the weight files of a model directory (*.safetensors). */
function weightFileBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) if (f.endsWith(".safetensors")) n += statSync(join(dir, f)).size;
  return n;
}

async function runQuantize(f: QuantizeFlags, io: CliIO): Promise<number> {
  if (f.out === undefined || f.out.trim() === "") throw new InvalidOptionError("--out DIR is required (where the quantized model is saved)");
  const src = resolve(f.model ?? DEFAULT_MODEL_DIR);
  if (f.quant === undefined && !isSavedModelDir(src)) throw new InvalidOptionError("--quant FORMAT is required (the format to quantize to)");
  const load = { ...loadOptions(f), ...methodOptions(f) };
  const t0 = performance.now();
  const model = await LLM.load(src, load);
  try {
    const t1 = performance.now();
    const r = await model.save(f.out);
    const t2 = performance.now();
    const sourceBytes = weightFileBytes(src);
    if (f.json) {
      io.out(JSON.stringify({
        out: r.dir, file: r.file, bytes: r.bytes, source_bytes: sourceBytes, model: modelName(src), quant: model.quant, quant_head: model.quantHead,
        dtype: model.dtype, quantization: model.origin.quantization, load_seconds: (t1 - t0) / 1000, save_seconds: (t2 - t1) / 1000,
      }) + "\n");
    } else {
      io.out(
        `saved    ${r.dir}\n` +
          `model    ${modelName(src)} as ${model.quant}${model.quantHead ? " with a quantized LM head" : ""} (${model.dtype} embedding${model.quantHead ? "" : " and head"})\n` +
          `weights  ${MiB(r.bytes)} (source checkpoint ${MiB(sourceBytes)}), ${r.tensors} tensors\n` +
          `time     quantize ${((t1 - t0) / 1000).toFixed(2)} s, save ${((t2 - t1) / 1000).toFixed(2)} s\n` +
          `use      lowbit generate --model ${r.dir} --prompt "..."\n`,
      );
    }
  } finally {
    await model.dispose();
  }
  return 0;
}

export function registerQuantize(program: Command, io: CliIO, setCode: (c: number) => void): void {
  const cmd = program
    .command("quantize")
    .description("quantize a model once (with calibration for w8a8-sq, --method gptq / awq) and save it; --model accepts the saved directory")
    .option("--out <dir>", "output directory (new, empty, or an earlier saved model)")
    .option("--json", "print one JSON object")
    .option("--method <m>", `how int4 values are chosen: ${QUANT_METHODS.join(", ")} (default rtn; gptq and awq calibrate on --calib)`)
    .option("--act-order", "gptq: quantize columns by decreasing Hessian diagonal")
    .option("--gptq-damp <f>", "gptq: damping, a fraction of the Hessian's mean diagonal (default 0.01)")
    .option("--one-shot", "gptq: every Hessian from the float model in one pass (default: layer by layer, the layers before already quantized)");
  addModelOptions(cmd).action(async (flags: QuantizeFlags) => setCode(await runQuantize(flags, io)));
}
