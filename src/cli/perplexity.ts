/** `lowbit perplexity`: windowed perplexity of a model on a jsonl corpus. */
import type { Command } from "commander";
import { cliBar } from "./bar.js";
import { perplexity, readJsonlTexts } from "../eval/perplexity.js";
import { LLM } from "../llm.js";
import { addModelOptions, intOpt, loadOptions, modelName, num, type CliIO, type ModelFlags } from "./options.js";

interface PerplexityFlags extends ModelFlags {
  data: string;
  window: string;
  maxWindows?: string;
  json?: boolean;
}

async function runPerplexity(f: PerplexityFlags, io: CliIO): Promise<number> {
  const window = intOpt("--window", f.window, 1)!;
  const maxWindows = intOpt("--max-windows", f.maxWindows, 1);
  const load = loadOptions(f);
  const texts = readJsonlTexts(f.data); // fail on bad data before the (slower) model load
  const model = await LLM.load(f.model, load);
  const name = modelName(f.model);
  const threads = model.info().threads;
  const bar = cliBar(io, f.json, `perplexity ${name} ${model.dtype} |{bar}| {value}/{total} windows | {duration_formatted} | ETA {eta_formatted}`);
  try {
    const r = await perplexity(model, texts, {
      window,
      ...(maxWindows !== undefined ? { maxWindows } : {}),
      onProgress: (done, total) => {
        if (!bar) return;
        if (done === 0) bar.start(total, 0);
        else bar.update(done);
      },
    });
    bar?.stop();
    if (f.json) {
      const out = { ppl: num(r.ppl), windows: r.windows, tokens: r.tokens, nll: num(r.nll), seconds: r.seconds, model: name, dtype: model.dtype, quant: model.quant ?? null };
      io.out(JSON.stringify(out) + "\n");
    } else {
      io.out(
        `model    ${name} (${model.dtype}, ${threads} threads)\n` +
          `ppl      ${r.ppl.toFixed(4)}\n` +
          `nll      ${r.nll.toFixed(5)} nats/token\n` +
          `windows  ${r.windows} x ${window} predictions\n` +
          `tokens   ${r.tokens}\n` +
          `seconds  ${r.seconds.toFixed(2)}\n`,
      );
    }
  } finally {
    bar?.stop();
    await model.dispose();
  }
  return 0;
}

export function registerPerplexity(program: Command, io: CliIO, setCode: (c: number) => void): void {
  const cmd = program
    .command("perplexity")
    .description("perplexity on a jsonl file of {\"text\": ...} records (non-overlapping windows)")
    .requiredOption("--data <file>", "jsonl file, one {\"text\": ...} object per line")
    .option("--window <n>", "predictions per window (window + 1 tokens each)", "1024")
    .option("--max-windows <n>", "evaluate at most N windows (default: all)")
    .option("--json", "print one JSON object instead of a summary");
  addModelOptions(cmd).action(async (flags: PerplexityFlags) => setCode(await runPerplexity(flags, io)));
}
