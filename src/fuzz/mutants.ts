/**
 * Seeded mutants of the embedded model's files, one target at a time:
 *   gguf         the model exported as GGUF (q8_0 and bf16) by lowbit's own writer
 *   safetensors  model.safetensors
 *   config       config.json
 *   tokenizer    tokenizer.json and tokenizer_config.json
 * Mutant `index` of target `t` under `seed` is always the same mutant (its own
 * PRNG stream), so a failure is reproduced from (target, seed, index) alone.
 * Used by the fuzz test (test/fuzz-load.test.ts) and `npm run fuzz` (cli.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { embeddedGguf } from "./model-files.js";
import { Rng, type FuzzBases, type Mutant } from "./mutant.js";
import { ggufMutant } from "./mutate-gguf.js";
import { configMutant, tokenizerMutant } from "./mutate-json.js";
import { safetensorsMutant } from "./mutate-safetensors.js";

export const FUZZ_TARGETS = ["gguf", "safetensors", "config", "tokenizer"] as const;
export type FuzzTarget = (typeof FUZZ_TARGETS)[number];
export { Rng, type FuzzBases, type Mutant } from "./mutant.js";

/** Exports the GGUF bases into `dir` (once; kept between runs). */
export function prepareBases(dir: string): FuzzBases {
  fs.mkdirSync(dir, { recursive: true });
  embeddedGguf(path.join(dir, "base-q8_0.gguf"), "q8_0");
  embeddedGguf(path.join(dir, "base-bf16.gguf"), "bf16");
  return { dir };
}

function streamSeed(seed: number, target: FuzzTarget, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const c of `${target}:${index}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

/** Mutant `index` of `target` under `seed`. */
export function makeMutant(target: FuzzTarget, seed: number, index: number, bases: FuzzBases): Mutant {
  const rng = new Rng(streamSeed(seed, target, index));
  switch (target) {
    case "gguf": return ggufMutant(rng, bases);
    case "safetensors": return safetensorsMutant(rng);
    case "config": return configMutant(rng);
    case "tokenizer": return tokenizerMutant(rng);
  }
}
