/**
 * Which ggml type each tensor of a K-quant GGUF export gets: llama.cpp's
 * llama_tensor_get_type (src/llama-quant.cpp) for the file types lowbit
 * writes, so that `lowbit convert --type q4_k_m` picks the types
 * `llama-quantize F16.gguf OUT.gguf Q4_K_M` picks for the same model.
 *
 *   q4_k | q5_k | q6_k   every quantized matrix of that type (llama-quantize --pure)
 *   q4_k_m | q5_k_m      Q4_K / Q5_K, with Q6_K for: the output matrix (or the
 *                        token embedding when tied; Q8_0 for falcon), attn_v /
 *                        attn_qkv and ffn_down of the layers use_more_bits picks
 *                        (the first and last eighth, every third between);
 *                        falcon's Q4_K_M ffn_down: Q6_K in the first 16th, Q5_K
 *                        where use_more_bits, else Q4_K; attn_v of a 70B-shaped
 *                        llama (80 layers, grouped KV heads) never below Q5_K
 * Rows whose length is not a multiple of 256 fall back as llama.cpp's do
 * (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0; F16 when not even 32 divides them). Matrices llama.cpp leaves unquantized (position / token-type
 * embeddings) stay F16, as llama-quantize copies them from an F16 file.
 * Counters run over the tensors in llama.cpp's order (layer, then name).
 */
export const KQUANT_OUT_TYPES = ["q4_k", "q5_k", "q6_k", "q4_k_m", "q5_k_m"] as const;
export type KQuantOutType = (typeof KQUANT_OUT_TYPES)[number];

/** general.file_type of each (llama_ftype: llama-quantize's "Q4_K" and "Q5_K" are aliases of Q4_K_M and Q5_K_M). */
export const KQUANT_FILE_TYPE = { q4_k: "Q4_K_M", q5_k: "Q5_K_M", q6_k: "Q6_K", q4_k_m: "Q4_K_M", q5_k_m: "Q5_K_M" } as const;

/** A matrix to be written: GGUF name and row length (ggml ne[0]). */
export interface MixTensor {
  name: string;
  cols: number;
}

export interface MixModel {
  /** GGUF architecture name ("llama", "falcon", ...) */
  arch: string;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
}

const layerOf = (name: string) => {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : -1;
};
const useMoreBits = (i: number, n: number) => i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;
const isAttnV = (name: string) => name.includes("attn_qkv.weight") || name.includes("attn_kv_b.weight") || name.includes("attn_v.weight");
/** tensor_allows_quantization, for the 2D tensors lowbit writes */
const quantizable = (name: string) => name.endsWith("weight") && !name.includes("_norm.weight") && name !== "position_embd.weight" && name !== "token_types.weight";

/** ggml type name of every matrix in `tensors`, as llama-quantize would choose from an F16 file. */
export function kquantTensorTypes(type: KQuantOutType, model: MixModel, tensors: MixTensor[]): Map<string, string> {
  const base = type.startsWith("q4_k") ? "Q4_K" : type.startsWith("q5_k") ? "Q5_K" : "Q6_K";
  const mix = type.endsWith("_m");
  const ordered = [...tensors].sort((a, b) => layerOf(a.name) - layerOf(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const tied = !tensors.some((t) => t.name === "output.weight");
  const falcon = model.arch === "falcon";
  const is70b = model.arch === "llama" && model.nLayers === 80 && model.nHeads !== model.nKvHeads;
  const nAttnV = tensors.filter((t) => isAttnV(t.name)).length;
  let iAttnV = 0, iFfnDown = 0;
  const out = new Map<string, string>();
  for (const t of ordered) {
    if (!quantizable(t.name)) {
      out.set(t.name, "F16");
      continue;
    }
    let ty: string = base;
    if (mix) {
      if (t.name === "output.weight" || (tied && t.name === "token_embd.weight")) {
        ty = falcon || t.cols % 256 !== 0 ? "Q8_0" : "Q6_K";
      } else if (t.name === "token_embd.weight") {
        // the base type
      } else if (isAttnV(t.name)) {
        if (useMoreBits(iAttnV, nAttnV)) ty = "Q6_K";
        if (is70b && ty === "Q4_K") ty = "Q5_K";
        iAttnV++;
      } else if (t.name.includes("ffn_down")) {
        const i = iFfnDown, n = model.nLayers;
        if (falcon && base === "Q4_K") ty = i < Math.trunc(n / 16) ? "Q6_K" : useMoreBits(i, n) ? "Q5_K" : "Q4_K";
        else if (useMoreBits(i, n)) ty = "Q6_K";
        iFfnDown++;
      }
    }
    if ((ty === "Q4_K" || ty === "Q5_K" || ty === "Q6_K") && t.cols % 256 !== 0) ty = { Q4_K: "Q5_0", Q5_K: "Q5_1", Q6_K: "Q8_0" }[ty];
    if (t.cols % (ty === "F16" ? 1 : 32) !== 0) ty = "F16";
    out.set(t.name, ty);
  }
  return out;
}
