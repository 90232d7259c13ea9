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

export type FamilyName = "llama" | "mistral" | "qwen2" | "qwen3" | "starcoder2" | "gpt_bigcode" | "phi3" | "gemma2";

export type Activation = "silu" | "gelu_tanh" | "gelu_erf" | "relu";

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
  /** attention and MLP both read the block's input (GPT-J, NeoX, Falcon) */
  parallel: boolean;
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
}

/** Where a weight comes from when a checkpoint fuses it with others: rows `index` of the parts. */
export interface Fused {
  name: string;
  /** qkv: [q, kv, kv] rows (heads * headDim each); gate_up: [ffn, ffn] */
  parts: "qkv" | "gate_up";
  index: number;
}

/** Tensor roles of a block, named as llama.cpp names them (the native weight is `blk.N.<role>.weight|bias`). */
export type LayerRole =
  | "attn_norm" | "attn_q" | "attn_k" | "attn_v" | "attn_q_norm" | "attn_k_norm" | "attn_output" | "post_attention_norm"
  | "ffn_norm" | "ffn_gate" | "ffn_up" | "ffn_down" | "post_ffw_norm";
export type GlobalRole = "token_embd" | "position_embd" | "output_norm" | "output";

/** A role's tensor in a checkpoint: a name (without .weight / .bias) or a slice of a fused tensor. */
export type SourceName = string | Fused;

export interface FamilyDef {
  name: FamilyName;
  /** HF config.json model_type values */
  modelTypes: readonly string[];
  /** GGUF general.architecture */
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
  /** llama.cpp's activation for this architecture */
  ggufAct: Activation;
}

const LLAMA_TRAITS: FamilyTraits = {
  norm: "rms", normBias: false, normPlusOne: false, gated: true, positions: "rope", ropeMode: "neox",
  qkvBias: false, oBias: false, mlpBias: false, qkNorm: false, parallel: false, postNorms: false, embedScale: false,
};

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
    ggufAct: "gelu_tanh",
  }),
  gpt_bigcode: {
    name: "gpt_bigcode", modelTypes: ["gpt_bigcode"], ggufArch: "starcoder", ggufRopePermuted: false,
    traits: { ...LLAMA_TRAITS, norm: "layer", normBias: true, gated: false, positions: "learned", qkvBias: true, oBias: true, mlpBias: true },
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
    ggufAct: "gelu_tanh",
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
    ggufAct: "gelu_tanh",
  }),
};

/** The family of an HF model_type; anything else is an UnsupportedArchitectureError naming it. */
export function familyOfModelType(mt: unknown, source: string): FamilyDef {
  const f = Object.values(FAMILIES).find((d) => typeof mt === "string" && d.modelTypes.includes(mt));
  if (!f) {
    const shown = mt === undefined ? "(missing)" : JSON.stringify(mt);
    throw new UnsupportedArchitectureError(
      `${source}: model_type ${shown} is not supported (supported: ${Object.values(FAMILIES).flatMap((d) => d.modelTypes).join(", ")})`,
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
  return { act: "silu", rotaryDims: headDim, windows: new Array<number>(nLayers).fill(0), attnScale: 0, attnSoftcap: 0, finalSoftcap: 0, nPositions: 0, posOffset: 0 };
}
