/**
 * The tinycode-100m GGUF files of the legacy and IQ4 types that
 * gguf-legacy-llamacpp.test.ts checks against llama.cpp, and the recipe of its
 * fixture (scripts/oracle/legacy-greedy-llamacpp.mjs): lowbit's F16 export
 * quantized by llama.cpp's llama-quantize. Entries: [label, llama-quantize type,
 * extra arguments, the matrix types the file holds].
 */
export const LEGACY_FILES: [string, string, string[], string[]][] = [
  ["Q4_1-pure", "Q4_1", ["--pure"], ["Q4_1"]], ["Q5_0-pure", "Q5_0", ["--pure"], ["Q5_0"]], ["Q5_1-pure", "Q5_1", ["--pure"], ["Q5_1"]],
  ["IQ4_NL-pure", "IQ4_NL", ["--pure"], ["IQ4_NL"]], ["IQ4_XS-pure", "IQ4_XS", ["--pure"], ["IQ4_XS"]],
  // llama-quantize's default mixes: output.weight Q6_K (IQ4_XS: also the first ffn_down Q5_K)
  ["Q4_1", "Q4_1", [], ["Q4_1", "Q6_K"]], ["IQ4_XS", "IQ4_XS", [], ["IQ4_XS", "Q5_K", "Q6_K"]],
];
/** reference prompts and greedy tokens per prompt in the fixture */
export const LEGACY_PROMPTS = 3, LEGACY_TOKENS = 32;
