/**
 * The sampling flags `lowbit generate` and `lowbit chat` share (--max-new-tokens, --temperature,
 * --top-k, --top-p, --min-p, --repetition-penalty, --seed), declared and turned into
 * GenerateOptions in one place; each command gives its own defaults.
 */
import type { Command } from "commander";
import { GENERATION_NUMBERS as G } from "../generate/config.js";
import type { GenerateOptions } from "../generate/generate.js";
import { genFlag } from "./options.js";

export interface SamplingFlags {
  maxNewTokens: string;
  temperature: string;
  topK?: string;
  topP?: string;
  minP?: string;
  repetitionPenalty?: string;
  seed?: string;
}

export function addSamplingOptions(cmd: Command, defaults: { maxNewTokens: string; maxNewTokensHelp: string; temperature: string }): Command {
  return cmd
    .option("--max-new-tokens <n>", defaults.maxNewTokensHelp, defaults.maxNewTokens)
    .option("--temperature <t>", "sampling temperature; 0 = greedy", defaults.temperature)
    .option("--top-k <k>", "keep the k most likely tokens (0 = off)")
    .option("--top-p <p>", "nucleus sampling threshold (1 = off)")
    .option("--min-p <p>", "drop tokens below p * max prob (0 = off)")
    .option("--repetition-penalty <r>", "penalty for repeated tokens (1 = off)")
    .option("--seed <s>", "sampling seed");
}

/** The flags as GenerateOptions, each checked by the generation config's rule; unset ones left out. */
export function samplingOptions(f: SamplingFlags): GenerateOptions {
  const gen: GenerateOptions = {
    maxNewTokens: genFlag(G.maxNewTokens, f.maxNewTokens),
    temperature: genFlag(G.temperature, f.temperature),
    topK: genFlag(G.topK, f.topK),
    topP: genFlag(G.topP, f.topP),
    minP: genFlag(G.minP, f.minP),
    repetitionPenalty: genFlag(G.repetitionPenalty, f.repetitionPenalty),
    seed: genFlag(G.seed, f.seed),
  };
  for (const k of Object.keys(gen) as (keyof GenerateOptions)[]) if (gen[k] === undefined) delete gen[k];
  return gen;
}
