/**
 * GGUF export commands (docs/GGUF.md):
 *
 *   lowbit convert --model SRC --out FILE.gguf --type f32|f16|bf16|q8_0|q4_0|q4_k|q5_k|q6_k|q4_k_m|q5_k_m
 *       SRC: a Hugging Face directory, a .gguf file, synthetic:<shape>, or a saved
 *       q4_0 / q8_0 lowbit model (its blocks are written exactly; --type defaults to its format)
 *   lowbit convert --model SRC --out FILE.gguf --type q4_0|q4_k|q4_k_m --method gptq|awq [--act-order] [--one-shot] [--calib FILE.jsonl]
 *       the Q4_0 blocks (Q4_K blocks of the K types: quant/kquant-calibrated.ts) chosen by GPTQ / AWQ on calibration texts (src/quant/method.ts)
 *   lowbit synth --shape tinyllama-1.1b|llama2-7b|tiny --type q4_0|q8_0|f16|... --out FILE.gguf [--seed S]
 *       a random-weight model of a real shape with a valid tokenizer, for
 *       speed comparisons with llama.cpp on shapes bigger than the shipped models
 */
import type { Command } from "commander";
import { cliBar } from "./bar.js";
import { InvalidOptionError } from "../errors.js";
import { checkGgufOutType, exportGguf, GGUF_OUT_TYPES } from "../formats/gguf-export.js";
import { DEFAULT_MODEL_DIR, LLM } from "../llm.js";
import { isSavedModelDir } from "../saved/format.js";
import { openModelSource } from "../loader.js";
import type { ModelSource } from "../models/source.js";
import { SYNTHETIC_PREFIX, syntheticShapeNames } from "../models/synthetic.js";
import { checkChoice } from "../load-options.js";
import { checkQuantMethod, QUANT_METHODS, type QuantMethod } from "../quant/method.js";
import { calibrationOptions, intOpt, type CalibrationFlags, type CliIO } from "./options.js";
import { calibratedKQuantSource } from "../quant/kquant-calibrated.js";
import type { CalibrationOptions } from "../quant/smoothquant.js";
import { addon } from "../native.js";
import { defaultKernels } from "../load-options.js";

interface ExportFlags {
  out?: string;
  type?: string;
  json?: boolean;
}

function writeFile(source: ModelSource, f: ExportFlags, io: CliIO, what: string): number {
  if (f.out === undefined || f.out.trim() === "") throw new InvalidOptionError("--out FILE.gguf is required");
  const type = checkGgufOutType(f.type);
  const bar = cliBar(io, f.json, `${what} |{bar}| {value}/{total} tensors | {duration_formatted}`);
  const t0 = performance.now();
  try {
    const r = exportGguf(source, f.out, type, {
      onTensor: (i, n) => {
        if (!bar) return;
        if (i === 0) bar.start(n, 0);
        bar.update(i + 1);
      },
    });
    bar?.stop();
    const seconds = (performance.now() - t0) / 1000;
    if (f.json) io.out(JSON.stringify({ out: f.out, type, bytes: r.size, tensors: r.tensors.size, seconds, source: source.origin }) + "\n");
    else io.out(`wrote    ${f.out} (${type}, ${(r.size / 1048576).toFixed(1)} MiB, ${r.tensors.size} tensors) in ${seconds.toFixed(1)} s\nsource   ${source.origin}\n`);
  } finally {
    bar?.stop();
  }
  return 0;
}

/** LoadOptions' calibration keys as the calibration pass's options. */
function calibOf(c: ReturnType<typeof calibrationOptions>): CalibrationOptions {
  return { ...(c.calib !== undefined ? { file: c.calib } : {}), ...(c.calibSamples !== undefined ? { samples: c.calibSamples } : {}), ...(c.calibTokens !== undefined ? { tokens: c.calibTokens } : {}) };
}

/** --method gptq / awq: the model loaded as q4_0 with that method, its blocks written as they are. */
async function writeCalibrated(src: string, method: QuantMethod, f: ExportFlags & CalibrationFlags & { actOrder?: boolean; oneShot?: boolean }, io: CliIO): Promise<number> {
  const type = checkGgufOutType(f.type);
  if (type !== "q4_0" && type !== "q4_k" && type !== "q4_k_m") throw new InvalidOptionError(`--method ${method} writes --type q4_0, q4_k or q4_k_m (GPTQ / AWQ for ${type} is not implemented)`);
  if (isSavedModelDir(src)) throw new InvalidOptionError(`${src} is a saved model, already quantized: --method applies to a float checkpoint`);
  if (type !== "q4_0") {
    if (method === "rtn") return writeFile(openModelSource(src), { ...f, type }, io, "convert");
    checkQuantMethod(method, "q4_0", f.actOrder);
    if (f.oneShot) throw new InvalidOptionError(`--one-shot: GPTQ for --type ${type} runs layer by layer only`);
    if (f.out === undefined || f.out.trim() === "") throw new InvalidOptionError("--out FILE.gguf is required");
    const source = openModelSource(src), threads = addon().cpuInfo().physicalCores;
    const bar = cliBar(io, f.json, `${method === "gptq" ? "GPTQ, layer by layer" : "AWQ"} |{bar}| {value}/{total} | {duration_formatted}`);
    const calibrated = await calibratedKQuantSource(source, type, method, {
      calib: calibOf(calibrationOptions(f)), threads, kernels: defaultKernels(), ...(f.actOrder ? { actOrder: true } : {}),
      onProgress: (d, n) => (d === 0 ? bar?.start(n, 0) : bar?.update(d)),
    }).finally(() => bar?.stop());
    return writeFile(calibrated, { ...f, type }, io, "convert");
  }
  const model = await LLM.load(src, { quant: "q4_0", quantMethod: method, ...(f.actOrder ? { actOrder: true } : {}), ...(f.oneShot ? { gptqOneShot: true } : {}), ...calibrationOptions(f), progress: !f.json && io.errIsTTY });
  try {
    return writeFile(model.asModelSource(), { ...f, type }, io, "convert");
  } finally {
    await model.dispose();
  }
}

export function registerConvert(program: Command, io: CliIO, setCode: (c: number) => void): void {
  program
    .command("convert")
    .description("write a model as a llama.cpp GGUF file")
    .option("--model <src>", "Hugging Face directory, .gguf file or synthetic:<shape> (default: the embedded model)")
    .option("--out <file>", "output .gguf file")
    .option("--type <type>", `tensor type: ${GGUF_OUT_TYPES.join(", ")}`)
    .option("--json", "print one JSON object")
    .option("--method <m>", `how the Q4_0 / Q4_K blocks are chosen (--type q4_0, q4_k, q4_k_m): ${QUANT_METHODS.join(", ")} (default rtn: llama.cpp's reference quantizer)`)
    .option("--act-order", "--method gptq: columns by decreasing Hessian diagonal")
    .option("--one-shot", "--method gptq: every Hessian from the float model in one pass (default: layer by layer)")
    .option("--calib <file>", "--method gptq / awq: calibration jsonl (default ../shared/data/python-heldout-calib.jsonl)")
    .option("--calib-samples <n>", "calibration texts (default 32)")
    .option("--calib-tokens <n>", "tokens per calibration text (default 512)")
    .action(async (flags: ExportFlags & CalibrationFlags & { model?: string; method?: string; actOrder?: boolean; oneShot?: boolean }) => {
      const src = flags.model ?? DEFAULT_MODEL_DIR;
      if (src.trim() === "") throw new InvalidOptionError("--model is empty");
      const method = flags.method !== undefined ? checkChoice("--method", flags.method, QUANT_METHODS) : "rtn";
      if (method !== "rtn" || flags.actOrder || flags.oneShot) return setCode(await writeCalibrated(src, method, flags, io));
      if (!isSavedModelDir(src)) return setCode(writeFile(openModelSource(src), flags, io, "convert"));
      // a saved quantized lowbit model: its q4_0 / q8_0 blocks are written as they are
      const model = await LLM.load(src, { threads: 1 });
      try {
        if (model.quant !== "q4_0" && model.quant !== "q8_0") {
          throw new InvalidOptionError(`${src} is a saved ${model.quant} model, which has no GGUF type; convert its source checkpoint (${model.origin.sourceModel}) or save it as q4_0 / q8_0`);
        }
        setCode(writeFile(model.asModelSource(), { ...flags, type: flags.type ?? model.quant }, io, "convert"));
      } finally {
        await model.dispose();
      }
    });
  program
    .command("synth")
    .description("write a random-weight GGUF model of a real shape (for benchmarks)")
    .option("--shape <name>", `one of ${syntheticShapeNames().join(", ")}`)
    .option("--seed <n>", "weights seed (default 42)")
    .option("--out <file>", "output .gguf file")
    .option("--type <type>", `tensor type: ${GGUF_OUT_TYPES.join(", ")}`)
    .option("--json", "print one JSON object")
    .action((flags: ExportFlags & { shape?: string; seed?: string }) => {
      if (flags.shape === undefined) throw new InvalidOptionError(`--shape is required: one of ${syntheticShapeNames().join(", ")}`);
      const seed = flags.seed !== undefined ? intOpt("--seed", flags.seed, 0, 2 ** 31 - 1) : undefined;
      const source = openModelSource(SYNTHETIC_PREFIX + flags.shape, seed !== undefined ? { seed } : {});
      setCode(writeFile(source, flags, io, "synth"));
    });
}

