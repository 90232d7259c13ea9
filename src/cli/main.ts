/**
 * The `lowbit` command line. main() returns the exit code and never calls
 * process.exit: 0 ok, 2 bad usage or input (any LowbitError, unknown
 * command/option), 1 an unexpected error (stack printed).
 *
 *   lowbit --version
 *   lowbit generate   [--model DIR] (--prompt TEXT | --prompt-ids 1,2,3 | --prompt-file F | stdin) [...]
 *   lowbit chat       [--model DIR] [--system TEXT] [...] (a conversation in the terminal: docs/CHAT.md)
 *   lowbit perplexity [--model DIR] --data FILE.jsonl [--window 1024] [...]
 *   lowbit quantize   [--model DIR] --quant FORMAT --out DIR [...]
 *   lowbit info       [--model DIR]
 *   lowbit eval humaneval [--model DIR] [--quant F] [--limit N] [--samples N] [--out FILE.jsonl] (docs/EVAL.md)
 *   lowbit eval perplexity (same as lowbit perplexity)
 *   lowbit convert    --model SRC --out FILE.gguf --type f32|f16|bf16|q8_0|q4_0
 *   lowbit bench      [--model M,..] [--quant F,..] [--prompts 32,1024|humaneval] [--vs-llamacpp] [--plot F.svg] [...]
 *   lowbit serve      [--model DIR] [--host H] [--port 8080] [--draft M] [--context-shift] (OpenAI-compatible server)
 *   lowbit synth      --shape tinyllama-1.1b|llama2-7b --type q4_0|q8_0|f16 --out FILE.gguf [--seed S]
 *   lowbit pull       hf:OWNER/REPO[:QUANT|/file.gguf] [--cache-dir DIR]   (docs/DOWNLOAD.md); lowbit list; lowbit rm hf:...
 *   lowbit run        MODEL [PROMPT] [flags]   (generate with a prompt, else chat)
 *
 * --model takes a Hugging Face directory, a .gguf file, synthetic:<shape> or a
 * saved quantized model (quantize --out), or hf:OWNER/REPO[:QUANT] (the cached copy, else pulled).
 */
import { Command, CommanderError } from "commander";
import { LowbitError } from "../errors.js";
import { LLM } from "../llm.js";
import { addon } from "../native.js";
import { addModelOptions, loadOptions, modelName, readProcessStdin, type CliIO, type ModelFlags } from "./options.js";
import { registerGenerate } from "./generate.js";
import { registerBench } from "./bench.js";
import { registerConvert } from "./convert.js";
import { registerEval } from "./eval.js";
import { registerPerplexity } from "./perplexity.js";
import { registerQuantEval } from "./quant-eval.js";
import { registerQuantDiagnose } from "./quant-diagnose.js";
import { registerQuantize } from "./quantize.js";
import { registerServe } from "./serve.js";
import { registerChat } from "./chat.js";
import { registerHub, resolveModelFlags } from "./hub.js";
import { registerRun, runArgv } from "./run.js";
import { f32Decimal, f32Number, weightFormat } from "./format.js";
import { readFileSync } from "node:fs";
import { addTpOption, followIfRank, tpWeightShares } from "./tp.js";
import { abortTp } from "../parallel/mpi.js";

/** package.json's version (dist/src/cli/main.js -> the package root). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

const MiB = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

interface InfoFlags extends ModelFlags {
  json?: boolean;
}

async function runInfo(f: InfoFlags, io: CliIO): Promise<number> {
  const load = loadOptions(f);
  if (await followIfRank(load, f.model, "info")) return 0;
  const model = await LLM.load(f.model, load);
  const cpu = addon().cpuInfo();
  try {
    const c = model.config;
    const n = model.info();
    const shares = model.tp ? tpWeightShares(n.weightBytes) : undefined;
    // bits per weight of the whole model: every rank's bytes (replicated norms counted per rank)
    const allBytes = shares ? shares.reduce((a, b) => a + b, 0) : n.weightBytes;
    const attn = c.hiddenSize * c.nHeads * c.headDim * 2 + c.hiddenSize * c.nKvHeads * c.headDim * 2;
    const params =
      c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2) +
      c.nLayers * (attn + 3 * c.hiddenSize * c.intermediateSize + 2 * c.hiddenSize) +
      c.hiddenSize;
    const weights = weightFormat(model);
    if (f.json) {
      // f32-stored values as the shortest decimal of the same f32 (1e-5, not 0.000009999999747378752)
      const config = { ...c, rmsNormEps: f32Number(c.rmsNormEps), ropeTheta: f32Number(c.ropeTheta) };
      io.out(JSON.stringify({ cpu, model: modelName(f.model), dtype: model.dtype, weights, quant: model.quant ?? null, quantHead: model.quantHead, origin: model.origin, native: n, params, bitsPerWeight: (allBytes * 8) / params, config, ...(shares ? { rankWeightBytes: shares } : {}) }) + "\n");
      return 0;
    }
    io.out(
      [
        `cpu        ${cpu.features}`,
        `cores      ${cpu.physicalCores} physical, ${cpu.logicalCores} logical`,
        `kernels    best available: ${cpu.kernels}; in use: ${n.kernels} (${n.threads} threads)`,
        `model      ${modelName(f.model)} (${f.model ?? "embedded"})`,
        `config     ${c.architecture}: ${c.nLayers} layers, hidden ${c.hiddenSize}, ffn ${c.intermediateSize}, ` +
          `${c.nHeads} heads / ${c.nKvHeads} kv heads of ${c.headDim}, vocab ${c.vocabSize}`,
        `           max positions ${c.maxPositionEmbeddings}, rope theta ${f32Decimal(c.ropeTheta)}, rms eps ${f32Decimal(c.rmsNormEps)}, ` +
          `tied embeddings ${c.tieWordEmbeddings}, eos ${JSON.stringify(c.eosTokenIds)}`,
        `params     ${(params / 1e6).toFixed(2)} M`,
        ...(model.quant ? [`quant      ${model.quant}${model.quantHead ? " + LM head" : ""}` +
          (model.origin.saved ? ` (saved model, quantized from ${model.origin.sourceModel})` : " (quantized at load)")] : []),
        `memory     weights ${MiB(n.weightBytes)}${shares ? " on rank 0" : ""} (${weights === model.dtype ? weights : `${weights}, ${model.dtype} compute`}${n.mappedBytes ? `; ${MiB(n.mappedBytes)} of it mapped from the file` : ""}), ${(allBytes * 8 / params).toFixed(2)} bits per weight, KV cache ${MiB(n.cacheBytes)} (${n.kvType}) for ${n.nCtx} tokens, ` +
          `${MiB(model.decodeWeightBytes)} read per decode step`,
        ...(shares ? [`ranks      ${shares.length} (tensor parallel): weights per rank ${shares.map((b, r) => `${r}: ${MiB(b)}`).join(", ")}; KV cache per rank ${MiB(n.cacheBytes)}`] : []),
      ].join("\n") + "\n",
    );
  } finally {
    await model.dispose();
  }
  return 0;
}

function registerInfo(program: Command, io: CliIO, setCode: (c: number) => void): void {
  const cmd = program
    .command("info")
    .description("CPU features, kernel variant and model summary")
    .option("--json", "print one JSON object");
  addTpOption(cmd);
  addModelOptions(cmd).action(async (flags: InfoFlags) => setCode(await runInfo(flags, io)));
}

/** Builds the command tree; each command reports its exit code through setCode. */
function buildProgram(io: CliIO, setCode: (c: number) => void): Command {
  const program = new Command("lowbit")
    .description("low-bit LLM inference on the CPU")
    .exitOverride()
    .configureOutput({
      writeOut: io.out,
      writeErr: io.err,
      outputError: (str, write) => write(str.replace(/^error: /, "error [USAGE]: ")),
    })
    .version(packageVersion(), "-V, --version", "print lowbit's version")
    .showHelpAfterError("(run with --help for usage)");
  registerGenerate(program, io, setCode);
  registerChat(program, io, setCode);
  registerPerplexity(program, io, setCode);
  registerQuantEval(program, io, setCode);
  registerQuantDiagnose(program, io, setCode);
  registerQuantize(program, io, setCode);
  registerInfo(program, io, setCode);
  registerEval(program, io, setCode);
  registerConvert(program, io, setCode);
  registerBench(program, io, setCode);
  registerServe(program, io, setCode);
  registerHub(program, io, setCode);
  registerRun(program);
  // --model hf:... (any command): the local path, pulled first when not cached
  program.hook("preAction", (_program, action) => resolveModelFlags(action, io));
  return program;
}

export async function main(argv: string[], io?: CliIO): Promise<number> {
  const cio: CliIO = io ?? {
    out: (s) => void process.stdout.write(s),
    err: (s) => void process.stderr.write(s),
    errIsTTY: Boolean(process.stderr.isTTY),
    readStdin: readProcessStdin,
  };
  let code = 0;
  try {
    await buildProgram(cio, (c) => (code = c)).parseAsync(runArgv(argv) ?? argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      // help/version exit 0; usage errors were already printed by commander
      code = e.exitCode === 0 ? 0 : 2;
    } else if (e instanceof LowbitError) {
      cio.err(`error [${e.code}]: ${e.message}\n`);
      code = 2;
    } else {
      cio.err(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      code = 1;
    }
  }
  // --tp: a rank that failed ends the whole job (the others would wait for it in a collective)
  if (code !== 0) abortTp(code);
  return code;
}
