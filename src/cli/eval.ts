/**
 * `lowbit eval`: the evaluation command group.
 *
 *   lowbit eval humaneval  [--model DIR] [--quant F] [--limit N] [--samples N --temperature T --seed S] [--out FILE.jsonl] [--json]
 *   lowbit eval perplexity (the same command as `lowbit perplexity`)
 *   lowbit eval cloze      (src/cli/cloze.ts)
 *   lowbit eval streaming  (src/cli/streaming.ts)
 */
import { closeSync, openSync, writeSync } from "node:fs";
import type { Command } from "commander";
import { cliBar } from "./bar.js";
import { DataError } from "../errors.js";
import { humanEval, loadProblems } from "../eval/humaneval.js";
import { requireSandbox } from "../eval/sandbox.js";
import { addModelOptions, intOpt, loadOptions, modelName, numOpt, type CliIO, type ModelFlags } from "./options.js";
import { registerPerplexity } from "./perplexity.js";
import { registerCloze } from "./cloze.js";
import { registerStreaming } from "./streaming.js";
import { addDraftOptions, draftPlan, lookupOptions, withDraftedModel, type DraftFlags } from "./draft.js";

interface HumanEvalFlags extends ModelFlags, DraftFlags {
  data?: string;
  limit?: string;
  samples: string;
  temperature?: string;
  seed?: string;
  maxNewTokens: string;
  timeout: string;
  out?: string;
  json?: boolean;
}

async function runHumanEval(f: HumanEvalFlags, io: CliIO): Promise<number> {
  const limit = intOpt("--limit", f.limit, 1);
  const samples = intOpt("--samples", f.samples, 1, 10000)!;
  const temperature = numOpt("--temperature", f.temperature, (x) => x >= 0, "a number >= 0") ?? (samples > 1 ? 0.8 : 0);
  const seed = intOpt("--seed", f.seed, 0);
  const maxNewTokens = intOpt("--max-new-tokens", f.maxNewTokens, 1)!;
  const timeoutMs = intOpt("--timeout", f.timeout, 1)! * 1000;
  const load = loadOptions(f);
  const plan = draftPlan(f, load.threads);
  const lookup = lookupOptions(f);
  const problems = loadProblems(f.data); // bad data fails before the model load
  requireSandbox(); // and so does a machine where the sandbox cannot be set up
  let fd: number | undefined;
  if (f.out !== undefined) {
    try {
      fd = openSync(f.out, "w");
    } catch (e) {
      throw new DataError(`cannot write ${f.out}: ${(e as Error).message}`, { cause: e });
    }
  }
  const name = modelName(f.model);
  const total = Math.min(limit ?? problems.length, problems.length) * samples;
  const bar = cliBar(io, f.json, `humaneval ${name} |{bar}| {value}/{total} samples | passed {passed} | {duration_formatted} | ETA {eta_formatted}`);
  let passed = 0;
  try {
    return await withDraftedModel(f.model, load, plan, async (model, draft, assist) => {
      bar?.start(total, 0, { passed });
      const r = await humanEval(model, problems, {
        samples,
        temperature,
        maxNewTokens,
        sandbox: { timeoutMs, cpuSeconds: Math.max(1, Math.ceil(timeoutMs / 1000) - 1) },
        ...assist,
        ...lookup,
        ...(limit !== undefined ? { limit } : {}),
        ...(seed !== undefined ? { seed } : {}),
        onRecord: (rec, done) => {
          if (rec.passed) passed++;
          if (fd !== undefined) writeSync(fd, JSON.stringify(rec) + "\n");
          bar?.update(done, { passed });
        },
      });
      bar?.stop();
      const summary = {
        model: name,
        dtype: model.dtype,
        quant: model.quant ?? null,
        draft: plan ? { model: modelName(plan.dir), quant: draft!.quant ?? null, tokens: plan.tokens ?? 5 } : null,
        problems: r.problems,
        samples: r.samples,
        temperature,
        ...r.passAtK,
        solved: r.solved,
        statuses: r.statuses,
        sandbox: SANDBOX_LAYERS,
        seconds: r.seconds,
        out: f.out ?? null,
      };
      if (f.json) io.out(JSON.stringify(summary) + "\n");
      else {
        const pk = Object.entries(r.passAtK).map(([k, v]) => `${k.padEnd(9)}${(100 * v).toFixed(2)}%`);
        io.out(
          [
            `model    ${name} (${model.dtype}${model.quant ? `, ${model.quant}` : ""})`,
            `problems ${r.problems} x ${r.samples} sample${r.samples > 1 ? `s, temperature ${temperature}` : " (greedy)"}`,
            ...pk,
            `solved   ${r.solved}/${r.problems}`,
            `status   ${Object.entries(r.statuses).map(([k, v]) => `${k} ${v}`).join(", ")}`,
            `sandbox  ${SANDBOX_LAYERS}`,
            `seconds  ${r.seconds.toFixed(1)}`,
            ...(f.out ? [`records  ${f.out}`] : []),
          ].join("\n") + "\n",
        );
      }
      return 0;
    });
  } finally {
    bar?.stop();
    if (fd !== undefined) closeSync(fd);
  }
}

const SANDBOX_LAYERS = "namespaces (user, mount, net, pid), new root, locked mounts, no capabilities, seccomp, rlimits + audit hook";

export function registerEval(program: Command, io: CliIO, setCode: (c: number) => void): void {
  const group = program.command("eval").description("evaluations: humaneval, perplexity, cloze, streaming");
  const cmd = group
    .command("humaneval")
    .description("HumanEval pass@k: completions run with their tests in a sandboxed python3 (docs/EVAL.md)")
    .option("--data <file>", "HumanEval jsonl(.gz) (default: the copy shipped in data/humaneval)")
    .option("--limit <n>", "first N problems only")
    .option("--samples <n>", "samples per problem (1 = greedy pass@1)", "1")
    .option("--temperature <t>", "sampling temperature (default 0 with 1 sample, 0.8 with more)")
    .option("--seed <n>", "sampling seed (sample s of problem i uses seed + i*samples + s)")
    .option("--max-new-tokens <n>", "completion length limit", "384")
    .option("--timeout <s>", "wall-clock seconds per program (CPU limit: one less)", "10")
    .option("--out <file>", "write one JSON record per sample (jsonl)")
    .option("--json", "print one JSON object instead of a summary");
  addDraftOptions(cmd);
  addModelOptions(cmd).action(async (flags: HumanEvalFlags) => setCode(await runHumanEval(flags, io)));
  registerPerplexity(group, io, setCode);
  registerCloze(group, io, setCode);
  registerStreaming(group, io, setCode);
}
