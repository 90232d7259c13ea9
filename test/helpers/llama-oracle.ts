/**
 * llama.cpp (through node-llama-cpp's prebuilt binaries, a devDependency) as
 * the reference tokenizer for GGUF files, and vocab-only GGUF files for it.
 */
import { openGguf } from "../../src/formats/gguf.js";
import { gv, writeGguf } from "../../src/formats/gguf-write.js";
import type { GgufValue } from "../../src/formats/gguf-types.js";
import { tokenizerFromGguf } from "../../src/tokenizer/gguf.js";
import type { Tokenizer } from "../../src/tokenizer.js";

export interface OracleVocab {
  /** llama.cpp's tokenize(text, add_special = false, parse_special = true) */
  tokenize(text: string): number[];
  /** llama.cpp's detokenize(ids, remove_special = false, unparse_special = true) */
  detokenize(ids: number[]): string;
  dispose(): Promise<void>;
}

export interface Oracle {
  load(path: string): Promise<OracleVocab>;
  dispose(): Promise<void>;
}

/** Why llama.cpp is unavailable, or null when it loads. */
let unavailable: string | null = null;
let oracle: Oracle | null = null;

/** llama.cpp, CPU only, or null with `oracleUnavailable()` saying why (tests skip with it). */
export async function getOracle(): Promise<Oracle | null> {
  if (oracle || unavailable) return oracle;
  try {
    const { getLlama } = await import("node-llama-cpp");
    // node-llama-cpp first sizes a full model load, which fails (as it should) on a file
    // without tensors before the vocab-only load succeeds: those log lines are dropped
    const llama = await getLlama({ build: "never", gpu: false, logger: () => {} });
    oracle = {
      async load(path) {
        const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
        return {
          tokenize: (text) => Array.from(model.tokenize(text, true)).map(Number),
          detokenize: (ids) => model.detokenize(ids as never, true),
          dispose: () => model.dispose(),
        };
      },
      dispose: () => llama.dispose(),
    };
  } catch (e) {
    unavailable = `llama.cpp (node-llama-cpp prebuilt binaries) not usable here: ${(e as Error).message}`;
  }
  return oracle;
}

export function oracleUnavailable(): string {
  return unavailable ?? "llama.cpp not loaded";
}

/**
 * Write a vocab-only GGUF (no tensors): general.architecture "llama" is all
 * llama.cpp needs to load just the vocabulary.
 */
export function writeVocabGguf(path: string, entries: Iterable<readonly [string, GgufValue]>): void {
  writeGguf(path, { metadata: [["general.architecture", gv.str("llama")], ["general.name", gv.str("vocab test")], ...entries] });
}

export function tokenizerOfFile(path: string): Tokenizer {
  return tokenizerFromGguf(openGguf(path));
}
