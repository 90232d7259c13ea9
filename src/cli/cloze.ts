/**
 * `lowbit eval cloze`: multiple-choice accuracy by log-likelihood (src/eval/cloze.ts).
 *
 *   lowbit eval cloze [--model DIR] [--quant F] [--data TASK.jsonl | --code TEXTS.jsonl]
 *                     [--items N] [--seed S] [--context-tokens N] [--out FILE.jsonl] [--write-task FILE.jsonl] [--json]
 *
 * Without --data, the task is built from --code (default: ../shared/data/python-heldout-test.jsonl).
 */
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { cliBar } from "./bar.js";
import { DataError, InvalidOptionError } from "../errors.js";
import { cloze, readClozeJsonl, type ClozeItem } from "../eval/cloze.js";
import { buildCodeCloze } from "../eval/code-cloze.js";
import { readJsonlTexts } from "../eval/perplexity.js";
import { HELDOUT_TEST, sharedDataFile } from "../eval/shared-data.js";
import { LLM } from "../llm.js";
import { addModelOptions, intOpt, loadOptions, modelName, type CliIO, type ModelFlags } from "./options.js";

interface ClozeFlags extends ModelFlags {
  data?: string;
  code?: string;
  items?: string;
  seed: string;
  contextTokens: string;
  out?: string;
  writeTask?: string;
  json?: boolean;
}

/** The items of a run: a given task file, or the code task built from a corpus. */
export function clozeItems(f: Pick<ClozeFlags, "data" | "code" | "items" | "seed">): { items: ClozeItem[]; task: string } {
  if (f.data !== undefined && f.code !== undefined) throw new InvalidOptionError("--data (a multiple-choice jsonl) and --code (texts to build the code task from) exclude each other");
  if (f.data !== undefined) {
    const all = readClozeJsonl(f.data);
    const n = intOpt("--items", f.items, 1);
    return { items: n !== undefined ? all.slice(0, n) : all, task: f.data };
  }
  const code = f.code ?? sharedDataFile(HELDOUT_TEST);
  if (code === undefined) throw new DataError(`no task: pass --data TASK.jsonl ({context, choices, answer} per line) or --code TEXTS.jsonl ({text} per line); ../shared/data/${HELDOUT_TEST} was not found`);
  const items = buildCodeCloze(readJsonlTexts(code), { items: intOpt("--items", f.items ?? "300", 1)!, seed: intOpt("--seed", f.seed, 0)! });
  return { items, task: `code cloze from ${code}` };
}

async function runCloze(f: ClozeFlags, io: CliIO): Promise<number> {
  const contextTokens = intOpt("--context-tokens", f.contextTokens, 1)!;
  const load = loadOptions(f);
  const { items, task } = clozeItems(f); // bad data fails before the model load
  if (f.writeTask !== undefined) {
    try {
      writeFileSync(f.writeTask, items.map((x) => JSON.stringify(x)).join("\n") + "\n");
    } catch (e) {
      throw new DataError(`cannot write ${f.writeTask}: ${(e as Error).message}`, { cause: e });
    }
  }
  const model = await LLM.load(f.model, load);
  const name = modelName(f.model);
  const bar = cliBar(io, f.json, `cloze ${name} |{bar}| {value}/{total} items | {duration_formatted} | ETA {eta_formatted}`);
  try {
    const r = await cloze(model, items, {
      contextTokens,
      onProgress: (done, total) => (done === 0 ? bar?.start(total, 0) : bar?.update(done)),
    });
    bar?.stop();
    if (f.out !== undefined) {
      try {
        writeFileSync(f.out, r.records.map((x) => JSON.stringify({ ...x, source: items[x.item]!.source ?? null })).join("\n") + "\n");
      } catch (e) {
        throw new DataError(`cannot write ${f.out}: ${(e as Error).message}`, { cause: e });
      }
    }
    const summary = { model: name, dtype: model.dtype, quant: model.quant ?? null, task, items: r.items, acc: r.acc, acc_norm: r.accNorm, chance: r.chance, context_tokens: r.contextTokens, seconds: r.seconds };
    if (f.json) io.out(JSON.stringify(summary) + "\n");
    else
      io.out(
        [
          `model     ${name} (${model.dtype}${model.quant ? `, ${model.quant}` : ""})`,
          `task      ${task}`,
          `items     ${r.items} (chance ${(100 * r.chance).toFixed(1)}%)`,
          `acc       ${(100 * r.acc).toFixed(2)}%`,
          `acc_norm  ${(100 * r.accNorm).toFixed(2)}%  (log-likelihood per character)`,
          `seconds   ${r.seconds.toFixed(1)}`,
        ].join("\n") + "\n",
      );
  } finally {
    bar?.stop();
    await model.dispose();
  }
  return 0;
}

export function registerCloze(group: Command, io: CliIO, setCode: (c: number) => void): void {
  const cmd = group
    .command("cloze")
    .description("multiple-choice accuracy by log-likelihood: the code cloze task (true next line vs 3 from other files) or any {context, choices, answer} jsonl")
    .option("--data <file>", "multiple-choice jsonl: {context, choices, answer} per line (answer: index or the right choice's text)")
    .option("--code <file>", "jsonl of {text} to build the code task from (default ../shared/data/python-heldout-test.jsonl)")
    .option("--items <n>", "items (code task: how many to build, default 300; --data: the first N, default all)")
    .option("--seed <n>", "code task: sampling seed", "1")
    .option("--context-tokens <n>", "keep the last N context tokens", "256")
    .option("--out <file>", "per-item results (jsonl)")
    .option("--write-task <file>", "write the items scored (jsonl, reusable with --data)")
    .option("--json", "print one JSON object instead of a summary");
  addModelOptions(cmd).action(async (flags: ClozeFlags) => setCode(await runCloze(flags, io)));
}
