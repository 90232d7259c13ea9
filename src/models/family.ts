/**
 * Model families as declarative descriptions. A family says how its blocks
 * compute (norm kind, activation, positions, biases, q/k norms, parallel
 * residual, post-norms, embedding scale) and how its tensors are named in a
 * Hugging Face checkpoint and in a GGUF file (including fused projections,
 * split at load). One graph builder (graph.ts) turns a config with its family
 * into the op graph; nothing here knows a weight format.
 *
 * Adding a family: one entry in FAMILIES (traits, names, the config keys it
 * spells differently), plus a native op only where it computes something no
 * op does yet (native/src/graph.h lists them).
 */
import { UnsupportedArchitectureError } from "../errors.js";

export type FamilyName =
  | "llama" | "mistral" | "qwen2" | "qwen3" | "starcoder2" | "gpt_bigcode" | "phi3" | "gemma2" | "gemma3"
  | "falcon" | "gpt_neox" | "gptj" | "mpt" | "bloom" | "opt"
  | "baichuan" | "baichuan_alibi" | "qwen" | "chatglm" | "falcon_gqa";

/** gelu_ggml: llama.cpp's CPU GELU (tanh approximation through an f16 table), which GGUF models get */
export type Activation = "silu" | "gelu_tanh" | "gelu_erf" | "relu" | "gelu_ggml";

/** How a family's blocks compute (the same for every model of the family). */
export interface FamilyTraits {
  norm: "rms" | "layer";
  /** layer norms carry a bias */
  normBias: boolean;
  /** the checkpoint stores w of norms computing x * (1 + w) (Gemma): folded into w at load (HF only; GGUF files hold 1 + w) */
  normPlusOne: boolean;
  /** gated MLP: down(act(gate(x)) * up(x)); else down(act(up(x))) */
  gated: boolean;
  /** RoPE (rotate_half pairs "neox", or GPT-J's adjacent pairs), learned absolute positions, or ALiBi */
  positions: "rope" | "learned" | "alibi";
  ropeMode: "neox" | "gptj";
  qkvBias: boolean;
  oBias: boolean;
  /** biases on the MLP's matrices */
  mlpBias: boolean;
  /** per-head RMSNorm of q and k before RoPE (Qwen3, Gemma 3) */
  qkNorm: boolean;
  /**
   * sequential: x += attn(norm1(x)); x += mlp(norm2(x)). parallel: x += attn(norm1(x)) + mlp(norm2(x))
   * (GPT-NeoX); parallel_shared_norm: x += attn(h) + mlp(h), h = norm1(x) (GPT-J, Falcon)
   */
  residual: "sequential" | "parallel" | "parallel_shared_norm";
  /** a LayerNorm right after the embedding (BLOOM) */
  embedNorm: boolean;
  /** the LM head has a bias (GPT-J) */
  outputBias: boolean;
  /** norms of the attention and MLP outputs before the residual add (Gemma 2/3) */
  postNorms: boolean;
  /** embeddings multiplied by sqrt(hidden_size) (Gemma) */
  embedScale: boolean;
}

/** Per-model values of the family's mechanisms (from config.json or GGUF metadata). */
export interface FamilyParams {
  act: Activation;
  /** rotary dims of each head (headDim: all; 0 without RoPE) */
  rotaryDims: number;
  /** per layer: the sliding window in tokens (0: full attention) */
  windows: number[];
  /** q.k scale (0: 1 / sqrt(headDim)) */
  attnScale: number;
  /** attention and final logit soft-capping (0: none) */
  attnSoftcap: number;
  finalSoftcap: number;
  /** learned positions: the table's rows and the offset of position 0 */
  nPositions: number;
  posOffset: number;
  /** ALiBi's max bias (BLOOM, MPT: 8); 0 without ALiBi */
  alibiMaxBias: number;
  /** per layer rope theta where layers differ (Gemma 3: sliding layers 10000, global ones the config's) */
  layerRopeTheta?: number[];
}

/** Where a weight comes from when a checkpoint fuses it with others: rows `index` of the parts. */
export interface Fused {
  name: string;
  /**
   * qkv: [q, kv, kv] rows (heads * headDim each); gate_up: [ffn, ffn]; qkv_heads: [heads][q, k, v][headDim] (NeoX, BLOOM);
   * qkv_groups: [kv heads][heads / kv heads queries, k, v][headDim] (Falcon's new decoder architecture)
   */
  parts: "qkv" | "gate_up" | "qkv_heads" | "qkv_groups";
  index: number;
}

/** Tensor roles of a block, named as llama.cpp names them (the native weight is `blk.N.<role>.weight|bias`). */
export type LayerRole =
  | "attn_norm" | "attn_q" | "attn_k" | "attn_v" | "attn_q_norm" | "attn_k_norm" | "attn_output" | "post_attention_norm"
  | "ffn_norm" | "ffn_gate" | "ffn_up" | "ffn_down" | "post_ffw_norm";
export type GlobalRole = "token_embd" | "position_embd" | "token_embd_norm" | "output_norm" | "output";

/** A role's tensor in a checkpoint: a name (without .weight / .bias) or a slice of a fused tensor. */
export type SourceName = string | Fused;

export interface FamilyDef {
  name: FamilyName;
  /** HF config.json model_type values (none: read from GGUF files only, its HF code needing trust_remote_code) */
  modelTypes: readonly string[];
  /**
   * the family whose config or file this one is a variant of, picked by a config key or the file's
   * depth or tensors (config.ts familyVariant, formats/gguf-config.ts)
   */
  variantOf?: FamilyName;
  /** GGUF general.architecture ("": llama.cpp's converter writes none, so lowbit reads none) */
  ggufArch: string;
  /** llama.cpp's converter permutes attn_q / attn_k rows for its "normal" rope (llama only) */
  ggufRopePermuted: boolean;
  traits: FamilyTraits;
  /** config.json keys this family spells differently: canonical (Llama) key -> the family's */
  hfKeys?: Partial<Record<string, string>>;
  /** the HF activation key (default hidden_act) and its default */
  hfAct: { key: string; default: string };
  /** HF tensor names: per layer (under hfLayerPrefix + N + ".") and global */
  hfLayerPrefix: string;
  hfLayer: Partial<Record<LayerRole, SourceName>>;
  hfGlobal: Partial<Record<GlobalRole, string>>;
  /** GGUF tensors fused in llama.cpp's layout (others are blk.N.<role>) */
  ggufFused?: Partial<Record<LayerRole, Fused>>;
  /** roles llama.cpp names otherwise for this architecture (Falcon-40B's two norms) */
  ggufRoleNames?: Partial<Record<LayerRole, string>>;
  /** llama.cpp's activation for this architecture */
  ggufAct: Activation;
}

const LLAMA_TRAITS: FamilyTraits = {
  norm: "rms", normBias: false, normPlusOne: false, gated: true, positions: "rope", ropeMode: "neox",
  qkvBias: false, oBias: false, mlpBias: false, qkNorm: false, residual: "sequential", embedNorm: false, outputBias: false,
  postNorms: false, embedScale: false,
};
/** LayerNorm with biases, biases on every matrix, a plain GELU MLP: the GPT-2 lineage */
const GPT_TRAITS: FamilyTraits = {
  ...LLAMA_TRAITS, norm: "layer", normBias: true, gated: false, qkvBias: true, oBias: true, mlpBias: true,
};
const QKV = (name: string, parts: Fused["parts"] = "qkv"): Partial<Record<LayerRole, Fused>> => ({
  attn_q: { name, parts, index: 0 }, attn_k: { name, parts, index: 1 }, attn_v: { name, parts, index: 2 },
});

const LLAMA_HF_LAYER: Partial<Record<LayerRole, SourceName>> = {
  attn_norm: "input_layernorm", attn_q: "self_attn.q_proj", attn_k: "self_attn.k_proj", attn_v: "self_attn.v_proj",
  attn_output: "self_attn.o_proj", ffn_norm: "post_attention_layernorm",
  ffn_gate: "mlp.gate_proj", ffn_up: "mlp.up_proj", ffn_down: "mlp.down_proj",
};
const LLAMA_HF_GLOBAL: Partial<Record<GlobalRole, string>> = { token_embd: "model.embed_tokens", output_norm: "model.norm", output: "lm_head" };

const llamaLike = (name: FamilyName, traits: Partial<FamilyTraits>, extra: Partial<FamilyDef> = {}): FamilyDef => ({
  name, modelTypes: [name], ggufArch: name, ggufRopePermuted: false, traits: { ...LLAMA_TRAITS, ...traits },
  hfAct: { key: "hidden_act", default: "silu" }, hfLayerPrefix: "model.layers.", hfLayer: LLAMA_HF_LAYER, hfGlobal: LLAMA_HF_GLOBAL,
  ggufAct: "silu", ...extra,
});

export const FAMILIES: Readonly<Record<FamilyName, FamilyDef>> = {
  llama: llamaLike("llama", {}, { ggufRopePermuted: true }),
  // llama.cpp's converter writes Mistral as general.architecture "llama"
  mistral: llamaLike("mistral", {}, { ggufArch: "llama", ggufRopePermuted: true }),
  qwen2: llamaLike("qwen2", { qkvBias: true }),
  qwen3: llamaLike("qwen3", { qkNorm: true }, { hfLayer: { ...LLAMA_HF_LAYER, attn_q_norm: "self_attn.q_norm", attn_k_norm: "self_attn.k_norm" } }),
  starcoder2: llamaLike("starcoder2", { norm: "layer", normBias: true, gated: false, qkvBias: true, oBias: true, mlpBias: true }, {
    hfKeys: { rms_norm_eps: "norm_epsilon" },
    hfAct: { key: "hidden_act", default: "gelu_pytorch_tanh" },
    hfLayer: { ...LLAMA_HF_LAYER, ffn_gate: undefined, ffn_up: "mlp.c_fc", ffn_down: "mlp.c_proj" },
    ggufAct: "gelu_ggml",
  }),
  gpt_bigcode: {
    name: "gpt_bigcode", modelTypes: ["gpt_bigcode"], ggufArch: "starcoder", ggufRopePermuted: false,
    traits: { ...GPT_TRAITS, positions: "learned" },
    hfKeys: {
      hidden_size: "n_embd", num_hidden_layers: "n_layer", num_attention_heads: "n_head", intermediate_size: "n_inner",
      max_position_embeddings: "n_positions", rms_norm_eps: "layer_norm_epsilon",
    },
    hfAct: { key: "activation_function", default: "gelu_pytorch_tanh" },
    hfLayerPrefix: "transformer.h.",
    hfLayer: {
      attn_norm: "ln_1", attn_q: { name: "attn.c_attn", parts: "qkv", index: 0 }, attn_k: { name: "attn.c_attn", parts: "qkv", index: 1 },
      attn_v: { name: "attn.c_attn", parts: "qkv", index: 2 }, attn_output: "attn.c_proj", ffn_norm: "ln_2", ffn_up: "mlp.c_fc", ffn_down: "mlp.c_proj",
    },
    hfGlobal: { token_embd: "transformer.wte", position_embd: "transformer.wpe", output_norm: "transformer.ln_f", output: "lm_head" },
    ggufFused: {
      attn_q: { name: "attn_qkv", parts: "qkv", index: 0 }, attn_k: { name: "attn_qkv", parts: "qkv", index: 1 }, attn_v: { name: "attn_qkv", parts: "qkv", index: 2 },
    },
    ggufAct: "gelu_ggml",
  },
  phi3: llamaLike("phi3", {}, {
    hfLayer: {
      ...LLAMA_HF_LAYER,
      attn_q: { name: "self_attn.qkv_proj", parts: "qkv", index: 0 }, attn_k: { name: "self_attn.qkv_proj", parts: "qkv", index: 1 },
      attn_v: { name: "self_attn.qkv_proj", parts: "qkv", index: 2 },
      ffn_gate: { name: "mlp.gate_up_proj", parts: "gate_up", index: 0 }, ffn_up: { name: "mlp.gate_up_proj", parts: "gate_up", index: 1 },
    },
    ggufFused: {
      attn_q: { name: "attn_qkv", parts: "qkv", index: 0 }, attn_k: { name: "attn_qkv", parts: "qkv", index: 1 }, attn_v: { name: "attn_qkv", parts: "qkv", index: 2 },
      ffn_gate: { name: "ffn_up", parts: "gate_up", index: 0 }, ffn_up: { name: "ffn_up", parts: "gate_up", index: 1 },
    },
  }),
  gemma2: llamaLike("gemma2", { normPlusOne: true, postNorms: true, embedScale: true }, {
    hfAct: { key: "hidden_activation", default: "gelu_pytorch_tanh" },
    hfLayer: {
      ...LLAMA_HF_LAYER, post_attention_norm: "post_attention_layernorm", ffn_norm: "pre_feedforward_layernorm", post_ffw_norm: "post_feedforward_layernorm",
    },
    ggufAct: "gelu_ggml",
  }),
  gemma3: llamaLike("gemma3", { normPlusOne: true, postNorms: true, embedScale: true, qkNorm: true }, {
    modelTypes: ["gemma3_text"],
    hfAct: { key: "hidden_activation", default: "gelu_pytorch_tanh" },
    hfLayer: {
      ...LLAMA_HF_LAYER, attn_q_norm: "self_attn.q_norm", attn_k_norm: "self_attn.k_norm",
      post_attention_norm: "post_attention_layernorm", ffn_norm: "pre_feedforward_layernorm", post_ffw_norm: "post_feedforward_layernorm",
    },
    ggufAct: "gelu_ggml",
  }),
  // Falcon-7B/RW style (parallel_attn, one norm, MQA); new_decoder_architecture and alibi are refused (config.ts)
  falcon: {
    name: "falcon", modelTypes: ["falcon", "RefinedWeb", "RefinedWebModel"], ggufArch: "falcon", ggufRopePermuted: false,
    traits: { ...GPT_TRAITS, qkvBias: false, oBias: false, mlpBias: false, residual: "parallel_shared_norm" },
    hfKeys: { rms_norm_eps: "layer_norm_epsilon", intermediate_size: "ffn_hidden_size" },
    hfAct: { key: "activation", default: "gelu" },
    hfLayerPrefix: "transformer.h.",
    hfLayer: { attn_norm: "input_layernorm", ...QKV("self_attention.query_key_value"), attn_output: "self_attention.dense", ffn_norm: "post_attention_layernorm", ffn_up: "mlp.dense_h_to_4h", ffn_down: "mlp.dense_4h_to_h" },
    hfGlobal: { token_embd: "transformer.word_embeddings", output_norm: "transformer.ln_f", output: "lm_head" },
    ggufFused: QKV("attn_qkv"),
    ggufAct: "gelu_ggml",
  },
  // Falcon-40B / 180B (new_decoder_architecture): grouped KV heads fused per group, ln_attn and ln_mlp in parallel
  falcon_gqa: {
    name: "falcon_gqa", modelTypes: [], variantOf: "falcon", ggufArch: "falcon", ggufRopePermuted: false,
    traits: { ...GPT_TRAITS, qkvBias: false, oBias: false, mlpBias: false, residual: "parallel" },
    hfKeys: { rms_norm_eps: "layer_norm_epsilon", intermediate_size: "ffn_hidden_size", num_key_value_heads: "num_kv_heads" },
    hfAct: { key: "activation", default: "gelu" },
    hfLayerPrefix: "transformer.h.",
    hfLayer: {
      attn_norm: "ln_attn", ...QKV("self_attention.query_key_value", "qkv_groups"), attn_output: "self_attention.dense",
      ffn_norm: "ln_mlp", ffn_up: "mlp.dense_h_to_4h", ffn_down: "mlp.dense_4h_to_h",
    },
    hfGlobal: { token_embd: "transformer.word_embeddings", output_norm: "transformer.ln_f", output: "lm_head" },
    ggufFused: QKV("attn_qkv"),
    // llama.cpp: ln_attn is attn_norm_2, ln_mlp is attn_norm (its converter's falcon40b mapping)
    ggufRoleNames: { attn_norm: "attn_norm_2", ffn_norm: "attn_norm" },
    ggufAct: "gelu_ggml",
  },
  gpt_neox: {
    name: "gpt_neox", modelTypes: ["gpt_neox"], ggufArch: "gptneox", ggufRopePermuted: false,
    traits: { ...GPT_TRAITS, residual: "parallel" },
    hfKeys: { rms_norm_eps: "layer_norm_eps", rope_theta: "rotary_emb_base" },
    hfAct: { key: "hidden_act", default: "gelu" },
    hfLayerPrefix: "gpt_neox.layers.",
    hfLayer: {
      attn_norm: "input_layernorm", ...QKV("attention.query_key_value", "qkv_heads"), attn_output: "attention.dense",
      ffn_norm: "post_attention_layernorm", ffn_up: "mlp.dense_h_to_4h", ffn_down: "mlp.dense_4h_to_h",
    },
    hfGlobal: { token_embd: "gpt_neox.embed_in", output_norm: "gpt_neox.final_layer_norm", output: "embed_out" },
    ggufFused: QKV("attn_qkv"),
    ggufAct: "gelu_ggml",
  },
  gptj: {
    name: "gptj", modelTypes: ["gptj"], ggufArch: "", ggufRopePermuted: false,
    traits: { ...GPT_TRAITS, ropeMode: "gptj", qkvBias: false, oBias: false, residual: "parallel_shared_norm", outputBias: true },
    hfKeys: {
      hidden_size: "n_embd", num_hidden_layers: "n_layer", num_attention_heads: "n_head", intermediate_size: "n_inner",
      max_position_embeddings: "n_positions", rms_norm_eps: "layer_norm_epsilon",
    },
    hfAct: { key: "activation_function", default: "gelu_new" },
    hfLayerPrefix: "transformer.h.",
    hfLayer: { attn_norm: "ln_1", attn_q: "attn.q_proj", attn_k: "attn.k_proj", attn_v: "attn.v_proj", attn_output: "attn.out_proj", ffn_up: "mlp.fc_in", ffn_down: "mlp.fc_out" },
    hfGlobal: { token_embd: "transformer.wte", output_norm: "transformer.ln_f", output: "lm_head" },
    ggufAct: "gelu_ggml",
  },
  mpt: {
    name: "mpt", modelTypes: ["mpt"], ggufArch: "mpt", ggufRopePermuted: false,
    traits: { ...GPT_TRAITS, normBias: false, qkvBias: false, oBias: false, mlpBias: false, positions: "alibi" },
    hfKeys: { hidden_size: "d_model", num_hidden_layers: "n_layers", num_attention_heads: "n_heads", max_position_embeddings: "max_seq_len", rms_norm_eps: "layer_norm_epsilon" },
    hfAct: { key: "hidden_act", default: "gelu" },
    hfLayerPrefix: "transformer.blocks.",
    hfLayer: { attn_norm: "norm_1", ...QKV("attn.Wqkv"), attn_output: "attn.out_proj", ffn_norm: "norm_2", ffn_up: "ffn.up_proj", ffn_down: "ffn.down_proj" },
    hfGlobal: { token_embd: "transformer.wte", output_norm: "transformer.norm_f", output: "lm_head" },
    ggufFused: QKV("attn_qkv"),
    ggufAct: "gelu_ggml",
  },
  bloom: {
    name: "bloom", modelTypes: ["bloom"], ggufArch: "bloom", ggufRopePermuted: false,
    traits: { ...GPT_TRAITS, positions: "alibi", embedNorm: true },
    hfKeys: { num_hidden_layers: "n_layer", num_attention_heads: "n_head", rms_norm_eps: "layer_norm_epsilon" },
    hfAct: { key: "hidden_act", default: "gelu_pytorch_tanh" },
    hfLayerPrefix: "transformer.h.",
    hfLayer: {
      attn_norm: "input_layernorm", ...QKV("self_attention.query_key_value", "qkv_heads"), attn_output: "self_attention.dense",
      ffn_norm: "post_attention_layernorm", ffn_up: "mlp.dense_h_to_4h", ffn_down: "mlp.dense_4h_to_h",
    },
    hfGlobal: { token_embd: "transformer.word_embeddings", token_embd_norm: "transformer.word_embeddings_layernorm", output_norm: "transformer.ln_f", output: "lm_head" },
    ggufFused: QKV("attn_qkv"),
    ggufAct: "gelu_ggml",
  },
  opt: {
    name: "opt", modelTypes: ["opt"], ggufArch: "", ggufRopePermuted: false,
    traits: { ...GPT_TRAITS, positions: "learned" },
    hfKeys: { intermediate_size: "ffn_dim" },
    hfAct: { key: "activation_function", default: "relu" },
    hfLayerPrefix: "model.decoder.layers.",
    hfLayer: {
      attn_norm: "self_attn_layer_norm", attn_q: "self_attn.q_proj", attn_k: "self_attn.k_proj", attn_v: "self_attn.v_proj", attn_output: "self_attn.out_proj",
      ffn_norm: "final_layer_norm", ffn_up: "fc1", ffn_down: "fc2",
    },
    hfGlobal: { token_embd: "model.decoder.embed_tokens", position_embd: "model.decoder.embed_positions", output_norm: "model.decoder.final_layer_norm", output: "lm_head" },
    ggufAct: "relu",
  },
  // GGUF only (their Hugging Face code needs trust_remote_code): llama.cpp's GGUF form is the reference.
  // Baichuan: llama.cpp gives RoPE to 32-layer files (7B) and ALiBi (max bias 8) to 40-layer ones (13B),
  // so one general.architecture is two families, picked by block_count (formats/gguf-config.ts)
  baichuan: llamaLike("baichuan", {}, { modelTypes: [], ggufRopePermuted: true }),
  baichuan_alibi: llamaLike("baichuan_alibi", { positions: "alibi" }, { modelTypes: [], ggufArch: "baichuan", variantOf: "baichuan" }),
  // Qwen (v1): fused attn_qkv with bias; its GGUF feed_forward_length is twice the MLP width (HF's intermediate_size)
  qwen: llamaLike("qwen", { qkvBias: true }, { modelTypes: [], ggufFused: QKV("attn_qkv") }),
  // ChatGLM2/3: fused attn_qkv with bias (multi-query groups), GPT-J pair order on half of each head, fused gate|up in ffn_up
  chatglm: llamaLike("chatglm", { qkvBias: true, ropeMode: "gptj" }, {
    modelTypes: [],
    ggufFused: {
      ...QKV("attn_qkv"),
      ffn_gate: { name: "ffn_up", parts: "gate_up", index: 0 }, ffn_up: { name: "ffn_up", parts: "gate_up", index: 1 },
    },
  }),
};

/** Families read from GGUF files only (no HF model_type). */
export const GGUF_ONLY_FAMILIES: readonly FamilyName[] = Object.values(FAMILIES).filter((d) => d.modelTypes.length === 0 && !d.variantOf).map((d) => d.name);

/** The family of an HF model_type; anything else is an UnsupportedArchitectureError naming it. */
export function familyOfModelType(mt: unknown, source: string): FamilyDef {
  const f = Object.values(FAMILIES).find((d) => typeof mt === "string" && d.modelTypes.includes(mt));
  if (!f) {
    const shown = mt === undefined ? "(missing)" : JSON.stringify(mt);
    throw new UnsupportedArchitectureError(
      `${source}: model_type ${shown} is not supported (supported: ${Object.values(FAMILIES).flatMap((d) => d.modelTypes).join(", ")}; ` +
        `${[...new Set(GGUF_ONLY_FAMILIES.map((f) => FAMILIES[f].ggufArch))].join(", ")} from GGUF files only)`,
    );
  }
  return f;
}

/** HF activation names -> lowbit's (transformers' ACT2FN). */
export function parseActivation(name: unknown, source: string, key: string): Activation {
  const map: Record<string, Activation> = {
    silu: "silu", swish: "silu", gelu_pytorch_tanh: "gelu_tanh", gelu_new: "gelu_tanh", gelu_fast: "gelu_tanh",
    gelu: "gelu_erf", relu: "relu",
  };
  const a = typeof name === "string" ? map[name] : undefined;
  if (!a) throw new UnsupportedArchitectureError(`${source}: ${key} ${JSON.stringify(name)} is not supported (supported: ${Object.keys(map).join(", ")})`);
  return a;
}

/** The default FamilyParams of a Llama-like model with this head size and layer count. */
export function defaultParams(headDim: number, nLayers: number): FamilyParams {
  return { act: "silu", rotaryDims: headDim, windows: new Array<number>(nLayers).fill(0), attnScale: 0, attnSoftcap: 0, finalSoftcap: 0, nPositions: 0, posOffset: 0, alibiMaxBias: 0 };
}
