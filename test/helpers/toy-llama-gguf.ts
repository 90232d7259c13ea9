/**
 * A tiny llama-architecture GGUF whose transformer block is the identity, so
 * llama.cpp's logits expose its own dequantization of token_embd.weight:
 * every block matrix is zero (attention and FFN add nothing to the residual),
 * output_norm.weight is ones and output.weight is the F32 identity, hence
 *   logits(token t) = rmsnorm(dequant(token_embd)[t])   (vocab = hidden = n).
 * token_embd.weight is the tensor under test (any ggml type, given as bytes).
 * Tokenizer: gpt2-style, the 256 byte-level tokens then filler tokens, no merges.
 */
import { gv, writeGguf, type GgufWriteTensor } from "../../src/formats/gguf-write.js";
import type { GgufValue } from "../../src/formats/gguf-types.js";

/** GPT-2's byte -> printable unicode character table (bytes_to_unicode). */
function byteTokens(): string[] {
  const printable = (b: number): boolean => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const out: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 256 + extra++));
  return out;
}

export const TOY_EPS = 1e-5;

/**
 * Writes the toy model with n = hidden = vocab (a multiple of 256, at least 256)
 * and token_embd.weight of type `embType` ([n, n], row t = token t).
 */
export function writeToyLlama(path: string, n: number, embType: string, embBytes: Uint8Array): void {
  const ff = 256, heads = 4, zeros = (count: number): Uint8Array => new Uint8Array(4 * count);
  const ones = new Float32Array(n).fill(1), eye = new Float32Array(n * n);
  for (let i = 0; i < n; i++) eye[i * n + i] = 1;
  const tokens = byteTokens();
  for (let i = 256; i < n; i++) tokens.push(`<filler${i}>`);
  const metadata: [string, GgufValue][] = [
    ["general.architecture", gv.str("llama")],
    ["general.name", gv.str("lowbit-toy-identity")],
    ["llama.context_length", gv.u32(1024)],
    ["llama.embedding_length", gv.u32(n)],
    ["llama.block_count", gv.u32(1)],
    ["llama.feed_forward_length", gv.u32(ff)],
    ["llama.attention.head_count", gv.u32(heads)],
    ["llama.attention.head_count_kv", gv.u32(heads)],
    ["llama.rope.dimension_count", gv.u32(n / heads)],
    ["llama.attention.layer_norm_rms_epsilon", gv.f32(TOY_EPS)],
    ["tokenizer.ggml.model", gv.str("gpt2")],
    ["tokenizer.ggml.pre", gv.str("gpt-2")],
    ["tokenizer.ggml.tokens", gv.arr("string", tokens)],
    ["tokenizer.ggml.token_type", gv.arr("i32", new Int32Array(n).fill(1))],
    ["tokenizer.ggml.merges", gv.arr("string", [])],
    ["tokenizer.ggml.bos_token_id", gv.u32(0)],
    ["tokenizer.ggml.eos_token_id", gv.u32(1)],
  ];
  const f32 = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const tensors: GgufWriteTensor[] = [
    { name: "token_embd.weight", dims: [n, n], type: embType, data: embBytes },
    { name: "output_norm.weight", dims: [n], type: "F32", data: f32(ones) },
    { name: "output.weight", dims: [n, n], type: "F32", data: f32(eye) },
    { name: "blk.0.attn_norm.weight", dims: [n], type: "F32", data: f32(ones) },
    { name: "blk.0.attn_q.weight", dims: [n, n], type: "F32", data: zeros(n * n) },
    { name: "blk.0.attn_k.weight", dims: [n, n], type: "F32", data: zeros(n * n) },
    { name: "blk.0.attn_v.weight", dims: [n, n], type: "F32", data: zeros(n * n) },
    { name: "blk.0.attn_output.weight", dims: [n, n], type: "F32", data: zeros(n * n) },
    { name: "blk.0.ffn_norm.weight", dims: [n], type: "F32", data: f32(ones) },
    { name: "blk.0.ffn_gate.weight", dims: [n, ff], type: "F32", data: zeros(n * ff) },
    { name: "blk.0.ffn_up.weight", dims: [n, ff], type: "F32", data: zeros(n * ff) },
    { name: "blk.0.ffn_down.weight", dims: [ff, n], type: "F32", data: zeros(n * ff) },
  ];
  writeGguf(path, { metadata, tensors });
}
