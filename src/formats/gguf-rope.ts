/**
 * llama.cpp's row order for the rotary projections. Its converter permutes
 * the rows of attn_q / attn_k within each head so that the two elements
 * RoPE rotates together are adjacent (GGML's "normal" rope) instead of half a
 * head apart (the Hugging Face / NeoX layout lowbit's kernels use):
 *
 *   gguf row h*hd + 2*i + j  =  hf row h*hd + j*(hd/2) + i     (i < hd/2, j in {0, 1})
 *
 * A row is a whole number of ggml blocks, so the permutation moves raw row
 * bytes and works for every tensor type, quantized or not.
 */
import type { LlamaConfig } from "../config.js";
import { WeightsFormatError } from "../errors.js";

/** The heads whose rows a tensor's permutation runs over: attn_q and attn_k only (0: not permuted). */
export function ropeHeads(c: LlamaConfig, tensor: string): number {
  return tensor.endsWith(".attn_q.weight") ? c.nHeads : tensor.endsWith(".attn_k.weight") ? c.nKvHeads : 0;
}

/**
 * Reorders the rows of a [heads*hd, *] matrix stored as `rows` runs of
 * `rowBytes` bytes: "toGguf" applies the permutation above, "toHf" undoes it.
 */
export function permuteRopeRows(bytes: Uint8Array, rows: number, rowBytes: number, heads: number, dir: "toGguf" | "toHf"): Uint8Array {
  if (heads <= 0 || rows % heads !== 0 || (rows / heads) % 2 !== 0 || bytes.length !== rows * rowBytes) {
    throw new WeightsFormatError(`cannot permute ${rows} rotary rows of ${rowBytes} bytes for ${heads} heads (${bytes.length} bytes given)`);
  }
  const hd = rows / heads, half = hd / 2;
  const out = new Uint8Array(bytes.length);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < half; i++)
      for (let j = 0; j < 2; j++) {
        const g = h * hd + 2 * i + j, f = h * hd + j * half + i;
        const [src, dst] = dir === "toGguf" ? [f, g] : [g, f];
        out.set(bytes.subarray(src * rowBytes, (src + 1) * rowBytes), dst * rowBytes);
      }
  return out;
}
