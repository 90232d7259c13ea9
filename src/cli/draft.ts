/** The assisted-generation flags shared by generate and eval humaneval. */
import type { Command } from "commander";
import { InvalidOptionError } from "../errors.js";
import { LLM, type LoadOptions } from "../llm.js";
import { checkQuant } from "../quant/formats.js";
import { GENERATION_NUMBERS as G } from "../generate/config.js";
import type { GenerateOptions } from "../generate/generate.js";
import { genFlag } from "./options.js";

export interface DraftFlags {
  draft?: string;
  draftQuant?: string;
  draftTokens?: string;
  draftConfidence?: string;
  lookup?: string;
  lookupNgram?: string;
}

export interface DraftPlan {
  dir: string;
  load: LoadOptions;
  tokens?: number;
  confidence?: number;
}

export function addDraftOptions(cmd: Command): Command {
  return cmd
    .option("--draft <model>", "assisted generation: a smaller model with the same tokenizer proposes tokens (e.g. models/tinycode-7m for tinycode-100m)")
    .option("--draft-quant <format>", "quantize the draft model at load (any --quant format)")
    .option("--draft-tokens <n>", "tokens the draft proposes per verification step (default 5; with --draft-confidence, the most)")
    .option("--draft-confidence <p>", "the draft stops proposing at a token its softmax gives less than p, in [0, 1) (llama.cpp's --draft-p-min; default 0: always --draft-tokens)")
    .option("--lookup <n>", "prompt-lookup decoding, no draft model: draft up to n tokens (1-64) from what followed the last n-gram's latest earlier occurrence, verified in one step")
    .option("--lookup-ngram <n>", "with --lookup: the longest n-gram matched (1-16, default 2)");
}

/** The prompt-lookup generate options of the flags (validated; none without --lookup). */
export function lookupOptions(f: DraftFlags): Pick<GenerateOptions, "promptLookup" | "promptLookupNgram"> {
  const tokens = genFlag(G.promptLookup, f.lookup);
  const ngram = genFlag(G.promptLookupNgram, f.lookupNgram);
  if (tokens === undefined) {
    if (ngram !== undefined) throw new InvalidOptionError("--lookup-ngram needs --lookup");
    return {};
  }
  if (f.draft !== undefined) throw new InvalidOptionError("use either --draft or --lookup, not both");
  return { promptLookup: tokens, ...(ngram !== undefined ? { promptLookupNgram: ngram } : {}) };
}

/** Validates the flags before any model loads. The draft runs on the target's thread count. */
export function draftPlan(f: DraftFlags, threads?: number): DraftPlan | undefined {
  const tokens = genFlag(G.draftTokens, f.draftTokens);
  const confidence = genFlag(G.draftConfidence, f.draftConfidence);
  const quant = f.draftQuant !== undefined ? checkQuant(f.draftQuant, "--draft-quant") : undefined;
  if (f.draft === undefined) {
    if (tokens !== undefined || quant !== undefined || confidence !== undefined) throw new InvalidOptionError("--draft-tokens, --draft-confidence and --draft-quant need --draft");
    return undefined;
  }
  if (f.draft.trim() === "") throw new InvalidOptionError("--draft is empty");
  return { dir: f.draft, load: { ...(quant !== undefined ? { quant } : {}), ...(threads !== undefined ? { threads } : {}), progress: false }, ...(tokens !== undefined ? { tokens } : {}), ...(confidence !== undefined ? { confidence } : {}) };
}

export type DraftGenerateOptions = Pick<GenerateOptions, "draftTokens" | "draftConfidence"> & { draft?: LLM };

/** The generate options of a loaded draft. */
export function draftOptions(p: DraftPlan | undefined, draft: LLM | undefined): DraftGenerateOptions {
  if (!draft) return {};
  return { draft, ...(p?.tokens !== undefined ? { draftTokens: p.tokens } : {}), ...(p?.confidence !== undefined ? { draftConfidence: p.confidence } : {}) };
}

/**
 * Loads the target model, then the plan's draft (if any), and runs fn with both and the draft's
 * generate options; both models are disposed however fn ends, or when the draft fails to load.
 */
export async function withDraftedModel<T>(
  dir: string | undefined,
  load: LoadOptions,
  plan: DraftPlan | undefined,
  fn: (model: LLM, draft: LLM | undefined, assist: DraftGenerateOptions) => Promise<T>,
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
