/** The assisted-generation flags shared by generate and eval humaneval. */
import type { Command } from "commander";
import { InvalidOptionError } from "../errors.js";
import { LLM, type LoadOptions } from "../llm.js";
import { checkQuant } from "../quant/formats.js";
import { intOpt } from "./generate.js";

export interface DraftFlags {
  draft?: string;
  draftQuant?: string;
  draftTokens?: string;
}

export interface DraftPlan {
  dir: string;
  load: LoadOptions;
  tokens?: number;
}

export function addDraftOptions(cmd: Command): Command {
  return cmd
    .option("--draft <model>", "assisted generation: a smaller model with the same tokenizer proposes tokens (e.g. models/tinycode-7m for tinycode-100m)")
    .option("--draft-quant <format>", "quantize the draft model at load (any --quant format)")
    .option("--draft-tokens <n>", "tokens the draft proposes per verification step (default 5)");
}

/** Validates the flags before any model loads. The draft runs on the target's thread count. */
export function draftPlan(f: DraftFlags, threads?: number): DraftPlan | undefined {
  const tokens = intOpt("--draft-tokens", f.draftTokens, 1, 64);
  const quant = f.draftQuant !== undefined ? checkQuant(f.draftQuant, "--draft-quant") : undefined;
  if (f.draft === undefined) {
    if (tokens !== undefined || quant !== undefined) throw new InvalidOptionError("--draft-tokens and --draft-quant need --draft");
    return undefined;
  }
  if (f.draft.trim() === "") throw new InvalidOptionError("--draft is empty");
  return { dir: f.draft, load: { ...(quant !== undefined ? { quant } : {}), ...(threads !== undefined ? { threads } : {}), progress: false }, ...(tokens !== undefined ? { tokens } : {}) };
}

/** The generate options of a loaded draft. */
export function draftOptions(p: DraftPlan | undefined, draft: LLM | undefined): { draft?: LLM; draftTokens?: number } {
  return draft ? { draft, ...(p?.tokens !== undefined ? { draftTokens: p.tokens } : {}) } : {};
}

/**
 * Loads the target model, then the plan's draft (if any), and runs fn with both and the draft's
 * generate options; both models are disposed however fn ends, or when the draft fails to load.
 */
export async function withDraftedModel<T>(
  dir: string | undefined,
  load: LoadOptions,
  plan: DraftPlan | undefined,
  fn: (model: LLM, draft: LLM | undefined, assist: { draft?: LLM; draftTokens?: number }) => Promise<T>,
): Promise<T> {
  const model = await LLM.load(dir, load);
  let draft: LLM | undefined;
  try {
    draft = plan ? await LLM.load(plan.dir, plan.load) : undefined;
    return await fn(model, draft, draftOptions(plan, draft));
  } finally {
    await model.dispose();
    await draft?.dispose();
  }
}
