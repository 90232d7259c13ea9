/**
 * LlamaConfig <-> GGUF `general.*` / `llama.*` metadata (the keys llama.cpp
 * reads for the llama architecture). Reading goes through parseConfig, so a
 * GGUF file and a config.json are validated by the same rules.
 */
import { parseConfig, type LlamaConfig } from "../config.js";
import { GgufError, UnsupportedArchitectureError } from "../errors.js";
import type { GgufFile } from "./gguf-file.js";
import { gv } from "./gguf-write.js";
import type { GgufValue } from "./gguf-types.js";

/** The LlamaConfig of a GGUF file of the llama architecture. */
export function configFromGguf(f: GgufFile): LlamaConfig {
  const src = f.path;
  const arch = f.getString("general.architecture");
  if (arch !== "llama") {
    throw new UnsupportedArchitectureError(`${src}: general.architecture "${arch}" is not supported (only "llama")`);
  }
  const p = "llama.";
  const int = (k: string, fallback?: number) => f.getInt(p + k, fallback);
  if (int("expert_count", 0) > 0) {
    throw new UnsupportedArchitectureError(`${src}: mixture-of-experts llama models (llama.expert_count) are not supported`);
  }
  const scaling = f.has(p + "rope.scaling.type") ? f.getString(p + "rope.scaling.type") : "none";
  if (scaling !== "none") {
    throw new UnsupportedArchitectureError(`${src}: rope scaling "${scaling}" is not supported yet`);
  }
  const nHeads = int("attention.head_count");
  const hidden = int("embedding_length");
  const headDim = int("attention.key_length", Math.floor(hidden / nHeads) || 1);
  const rotDims = int("rope.dimension_count", headDim);
  if (rotDims !== headDim) {
    throw new UnsupportedArchitectureError(`${src}: partial rotary embeddings (rope.dimension_count ${rotDims} != head dim ${headDim}) are not supported`);
  }
  if (f.has(p + "attention.value_length") && int("attention.value_length") !== headDim) {
    throw new UnsupportedArchitectureError(`${src}: llama.attention.value_length differs from key_length`);
  }
  const embd = f.tensors.get("token_embd.weight");
  if (!embd) throw new GgufError(`${src}: tensor "token_embd.weight" is missing`);
  const vocab = f.has(p + "vocab_size") ? int("vocab_size") : embd.dims[1] ?? 0;
  const id = (k: string) => (f.has(k) ? f.getInt(k) : undefined);
  const json: Record<string, unknown> = {
    model_type: "llama",
    hidden_size: hidden,
    intermediate_size: int("feed_forward_length"),
    num_hidden_layers: int("block_count"),
    num_attention_heads: nHeads,
    num_key_value_heads: int("attention.head_count_kv", nHeads),
    head_dim: headDim,
    vocab_size: vocab,
    rope_theta: f.getFloat(p + "rope.freq_base", 10000),
    rms_norm_eps: f.getFloat(p + "attention.layer_norm_rms_epsilon"),
    max_position_embeddings: int("context_length"),
    tie_word_embeddings: !f.tensors.has("output.weight"),
    bos_token_id: id("tokenizer.ggml.bos_token_id"),
    eos_token_id: id("tokenizer.ggml.eos_token_id"),
  };
  return parseConfig(json, `${src} (GGUF metadata)`);
}

/** GGUF file_type values (llama_ftype) for the types lowbit writes. */
export const GGUF_FILE_TYPES = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, BF16: 32 } as const;

/** The `general.*` and `llama.*` keys llama.cpp needs to load a model of this config. */
export function ggufConfigMetadata(c: LlamaConfig, name: string, fileType: keyof typeof GGUF_FILE_TYPES): [string, GgufValue][] {
  const quantized = fileType === "Q4_0" || fileType === "Q8_0";
  return [
    ["general.architecture", gv.str("llama")],
    ["general.name", gv.str(name)],
    ["general.file_type", gv.u32(GGUF_FILE_TYPES[fileType])],
    ...(quantized ? ([["general.quantization_version", gv.u32(2)]] as [string, GgufValue][]) : []),
    ["llama.vocab_size", gv.u32(c.vocabSize)],
    ["llama.context_length", gv.u32(c.maxPositionEmbeddings)],
    ["llama.embedding_length", gv.u32(c.hiddenSize)],
    ["llama.block_count", gv.u32(c.nLayers)],
    ["llama.feed_forward_length", gv.u32(c.intermediateSize)],
    ["llama.rope.dimension_count", gv.u32(c.headDim)],
    ["llama.attention.head_count", gv.u32(c.nHeads)],
    ["llama.attention.head_count_kv", gv.u32(c.nKvHeads)],
    ...(c.headDim * c.nHeads !== c.hiddenSize
      ? ([["llama.attention.key_length", gv.u32(c.headDim)], ["llama.attention.value_length", gv.u32(c.headDim)]] as [string, GgufValue][])
      : []),
    ["llama.attention.layer_norm_rms_epsilon", gv.f32(c.rmsNormEps)],
    ["llama.rope.freq_base", gv.f32(c.ropeTheta)],
  ];
}
