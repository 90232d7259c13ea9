import type { StDtype } from "../formats/safetensors.js";

/**
 * GGUF block types a source hands to the native side as they are: each loads into its own
 * native format (native/src/formats/ and the q4_0 / q8_0 kernels) and runs on the file's blocks.
 */
export const BLOCK_DTYPES = ["Q4_0", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL", "IQ4_XS"] as const;
export type BlockDtype = (typeof BLOCK_DTYPES)[number];

/** dtypes of tensor bytes a model source hands to the native side */
export type SourceDtype = StDtype | BlockDtype;

export function isBlockDtype(d: string): d is BlockDtype {
  return (BLOCK_DTYPES as readonly string[]).includes(d);
}
