/**
 * Random-weight GGUF files of the architectures lowbit reads from GGUF only
 * (baichuan, qwen, chatglm), laid out as llama.cpp's loader creates their
 * tensors (src/models/<arch>.cpp there: names and ggml dims written out here,
 * independently of lowbit's family descriptions), with the 384-token BPE
 * vocabulary of the qwen2 family fixture. llama.cpp refuses a file with a
 * missing, extra or misshapen tensor, so its loading the file checks the layout.
 */
import { openGguf } from "../../src/formats/gguf.js";
import { gv, writeGguf, type GgufWriteTensor } from "../../src/formats/gguf-write.js";
import type { GgufValue } from "../../src/formats/gguf-types.js";

export type GgufOnlyArch = "baichuan" | "qwen" | "chatglm";

export interface ArchShape {
  arch: GgufOnlyArch;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  /** the MLP width (qwen's file says twice this in feed_forward_length, as its converter writes) */
  ff: number;
  /** the LM head is the embedding (no output.weight) */
  tied?: boolean;
}

/** Deterministic N(0, 1)-ish numbers (sum of uniforms) from a 32-bit LCG. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return () => (u() + u() + u() + u() - 2) * Math.sqrt(3);
}

export function writeGgufOnlyModel(path: string, shape: ArchShape, vocabFrom: string, seed = 1): void {
  const { arch, layers, hidden: d, heads, kvHeads, ff } = shape;
  const hd = d / heads, kvd = kvHeads * hd;
  const vocab = openGguf(vocabFrom);
  const tok = [...vocab.metadata].filter(([k]) => k.startsWith("tokenizer.")) as [string, GgufValue][];
  const nVocab = vocab.tensors.get("token_embd.weight")!.dims[1]!;
  const a = (k: string) => `${arch}.${k}`;
  const metadata: [string, GgufValue][] = [
    ["general.architecture", gv.str(arch)],
    ["general.name", gv.str(`lowbit-random-${arch}-${layers}`)],
    [a("context_length"), gv.u32(256)],
    [a("embedding_length"), gv.u32(d)],
    [a("block_count"), gv.u32(layers)],
    [a("feed_forward_length"), gv.u32(arch === "qwen" ? 2 * ff : ff)],
    [a("attention.head_count"), gv.u32(heads)],
    [a("attention.head_count_kv"), gv.u32(kvHeads)],
    [a("attention.layer_norm_rms_epsilon"), gv.f32(1e-5)],
    // ChatGLM rotates half of each head (its converter's partial_rotary_factor 0.5)
    [a("rope.dimension_count"), gv.u32(arch === "chatglm" ? hd / 2 : hd)],
    [a("rope.freq_base"), gv.f32(arch === "qwen" ? 10000 : arch === "chatglm" ? 50000 : 10000)],
    ...tok,
  ];
  const r = rng(seed);
  const t = (name: string, dims: number[], std: number, mean = 0): GgufWriteTensor => {
    const n = dims.reduce((x, y) => x * y, 1), v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = mean + std * r();
    return { name, dims, type: "F32", data: new Uint8Array(v.buffer) };
  };
  // deep random models are chaotic at the 2-layer fixtures' 0.15 (a quantization error grows through
  // 32-40 layers); 0.05 keeps each layer's update small against the residual, as trained models do
  const W = layers > 2 ? 0.05 : 0.15, B = 0.05;
  const tensors: GgufWriteTensor[] = [t("token_embd.weight", [d, nVocab], 1)];
  for (let l = 0; l < layers; l++) {
    const b = `blk.${l}.`;
    tensors.push(t(b + "attn_norm.weight", [d], 0.1, 1));
    if (arch === "baichuan") {
      tensors.push(t(b + "attn_q.weight", [d, d], W), t(b + "attn_k.weight", [d, kvd], W), t(b + "attn_v.weight", [d, kvd], W));
    } else {
      tensors.push(t(b + "attn_qkv.weight", [d, d + 2 * kvd], W), t(b + "attn_qkv.bias", [d + 2 * kvd], B));
    }
    tensors.push(t(b + "attn_output.weight", [d, d], W), t(b + "ffn_norm.weight", [d], 0.1, 1));
    if (arch === "chatglm") tensors.push(t(b + "ffn_up.weight", [d, 2 * ff], W));
    else tensors.push(t(b + "ffn_gate.weight", [d, ff], W), t(b + "ffn_up.weight", [d, ff], W));
    tensors.push(t(b + "ffn_down.weight", [ff, d], W));
  }
  tensors.push(t("output_norm.weight", [d], 0.1, 1));
  if (!shape.tied) tensors.push(t("output.weight", [d, nVocab], W));
  writeGguf(path, { metadata, tensors });
}
