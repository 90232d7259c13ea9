/**
 * LlamaConfig <-> GGUF `general.*` / `llama.*` metadata (the keys llama.cpp
 * reads for the llama architecture). Reading goes through parseConfig, so a
 * GGUF file and a config.json are validated by the same rules.
 */
import { familyParams, parseConfig, type LlamaConfig } from "../config.js";
import { FAMILIES, type FamilyName } from "../models/family.js";
import { GgufError, UnsupportedArchitectureError } from "../errors.js";
import { readTensorBytes, type GgufFile } from "./gguf-file.js";
import type { RopeScaling } from "../models/rope-scaling.js";
import { gv } from "./gguf-write.js";
import type { GgufValue } from "./gguf-types.js";

/** GGUF general.architecture -> lowbit's family (Mistral files are "llama"). */
const GGUF_FAMILY: Readonly<Record<string, FamilyName>> = Object.fromEntries(
  Object.values(FAMILIES).filter((d) => d.name !== "mistral" && !d.variantOf && d.ggufArch).map((d) => [d.ggufArch, d.name]),
);

/**
 * llama.cpp's baichuan: RoPE for 32 layers (7B), ALiBi with max bias 8 for 40 (13B); any other depth
 * gets neither there (a model type it does not know), which no real Baichuan is: refused by name.
 */
function baichuanFamily(blocks: number, src: string): FamilyName {
  if (blocks === 32) return "baichuan";
  if (blocks === 40) return "baichuan_alibi";
  throw new UnsupportedArchitectureError(
    `${src}: baichuan with ${blocks} layers: llama.cpp defines its positions only for 32 layers (7B, RoPE) and 40 (13B, ALiBi)`,
  );
}

/** The LlamaConfig of a GGUF file of a supported architecture (models/family.ts). */
export function configFromGguf(f: GgufFile): LlamaConfig {
  const src = f.path;
  const arch = f.getString("general.architecture");
  const famName = Object.prototype.hasOwnProperty.call(GGUF_FAMILY, arch) ? GGUF_FAMILY[arch] : undefined;
  if (!famName) {
    throw new UnsupportedArchitectureError(`${src}: general.architecture "${arch}" is not supported (supported: ${Object.keys(GGUF_FAMILY).join(", ")})`);
  }
  const p = `${arch}.`;
  const int = (k: string, fallback?: number) => f.getInt(p + k, fallback);
  // variants: Baichuan by depth; Falcon's new decoder architecture by its second norm (llama.cpp: attn_norm_2)
  const fam = FAMILIES[arch === "baichuan" ? baichuanFamily(int("block_count"), src)
    : arch === "falcon" && f.tensors.has("blk.0.attn_norm_2.weight") ? "falcon_gqa" : famName];
  if (int("expert_count", 0) > 0) {
    throw new UnsupportedArchitectureError(`${src}: mixture-of-experts ${arch} models (${arch}.expert_count) are not supported`);
  }
  const nHeads = int("attention.head_count");
  const hidden = int("embedding_length");
  const headDim = int("attention.key_length", Math.floor(hidden / nHeads) || 1);
  const rope = fam.traits.positions === "rope";
  const rotDims = rope ? int("rope.dimension_count", headDim) : headDim;
  if (rotDims !== headDim && (famName === "llama" || rotDims > headDim || rotDims % 2 || rotDims < 2)) {
    throw new UnsupportedArchitectureError(`${src}: partial rotary embeddings (rope.dimension_count ${rotDims} != head dim ${headDim}) are not supported for ${arch}`);
  }
  if (f.has(p + "attention.value_length") && int("attention.value_length") !== headDim) {
    throw new UnsupportedArchitectureError(`${src}: ${arch}.attention.value_length differs from key_length`);
  }
  const embd = f.tensors.get("token_embd.weight");
  if (!embd) throw new GgufError(`${src}: tensor "token_embd.weight" is missing`);
  const vocab = f.has(p + "vocab_size") ? int("vocab_size") : embd.dims[1] ?? 0;
  const id = (k: string) => (f.has(k) ? f.getInt(k) : undefined);
  const nKv = int("attention.head_count_kv", nHeads);
  const layerNorm = fam.traits.norm === "layer";
  const ff = int("feed_forward_length");
  if (fam.name === "qwen" && ff % 2) throw new GgufError(`${src}: qwen.feed_forward_length ${ff} is odd (it is twice the MLP width)`);
  const json: Record<string, unknown> = {
    model_type: fam.modelTypes[0],
    hidden_size: hidden,
    intermediate_size: fam.name === "qwen" ? ff / 2 : ff,
    num_hidden_layers: int("block_count"),
    num_attention_heads: nHeads,
    num_key_value_heads: nKv,
    head_dim: headDim,
    vocab_size: vocab,
    rope_theta: f.getFloat(p + "rope.freq_base", 10000),
    rms_norm_eps: f.getFloat(p + (layerNorm ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon")),
    max_position_embeddings: int("context_length"),
    tie_word_embeddings: !f.tensors.has("output.weight"),
    bos_token_id: id("tokenizer.ggml.bos_token_id"),
    eos_token_id: id("tokenizer.ggml.eos_token_id"),
  };
  if (famName === "gpt_bigcode" || fam.name === "falcon") json.multi_query = nKv !== nHeads;
  if (fam.name === "falcon_gqa") json.num_kv_heads = nKv;
  if (fam.name === "falcon" && nKv !== 1 && nKv !== nHeads) {
    throw new UnsupportedArchitectureError(`${src}: falcon with ${nKv} KV heads and one norm per layer (no attn_norm_2) is not supported`);
  }
  if (famName === "gpt_neox") json.use_parallel_residual = f.has(p + "use_parallel_residual") ? f.getBool(p + "use_parallel_residual") : true;
  if (famName === "mpt") {
    if (f.has(p + "attention.clamp_kqv")) throw new UnsupportedArchitectureError(`${src}: mpt.attention.clamp_kqv (clip_qkv) is not supported yet`);
    json.attn_config = { alibi: true, alibi_bias_max: f.has(p + "attention.max_alibi_bias") ? f.getFloat(p + "attention.max_alibi_bias") : 0 };
  }
  if (famName === "gemma2") {
    // llama.cpp's defaults when the keys are absent
    json.attn_logit_softcapping = f.has(p + "attn_logit_softcapping") ? f.getFloat(p + "attn_logit_softcapping") : 50;
    json.final_logit_softcapping = f.has(p + "final_logit_softcapping") ? f.getFloat(p + "final_logit_softcapping") : 30;
    json.sliding_window = f.has(p + "attention.sliding_window") ? int("attention.sliding_window") : 4096;
    json.query_pre_attn_scalar = headDim;
  }
  if (famName === "gemma3") {
    // llama.cpp: sliding layers only with attention.sliding_window; the pattern (array, or every n-th layer global) defaults to 6
    const n = json.num_hidden_layers as number;
    const win = f.has(p + "attention.sliding_window") ? int("attention.sliding_window") : 0;
    let swa = new Array<boolean>(n).fill(false);
    if (win > 0) {
      const key = p + "attention.sliding_window_pattern";
      const v = f.metadata.get(key);
      if (v && v.type === "array") swa = Array.from(f.getArray(key).items as ArrayLike<unknown>, Boolean);
      else {
        const pat = f.has(key) ? f.getInt(key) : 6;
        swa = swa.map((_, l) => pat === 0 || l % pat < pat - 1);
      }
    }
    json.sliding_window = win || null;
    json.layer_types = swa.map((s) => (s ? "sliding_attention" : "full_attention"));
    json.rope_parameters = {
      full_attention: { rope_type: "default", rope_theta: json.rope_theta },
      sliding_attention: { rope_type: "default", rope_theta: f.has(p + "rope.freq_base_swa") ? f.getFloat(p + "rope.freq_base_swa") : 10000 },
    };
    delete json.rope_theta;
    json.query_pre_attn_scalar = headDim;
    if (f.has(p + "final_logit_softcapping")) json.final_logit_softcapping = f.getFloat(p + "final_logit_softcapping");
  }
  const c = parseConfig(json, `${src} (GGUF metadata)`, fam);
  // llama.cpp's activation for the architecture; windows only where llama.cpp applies them (Gemma 2)
  const family = c.family ? { ...c.family, act: fam.ggufAct, rotaryDims: rope ? rotDims : 0 } : undefined;
  if (!family && rotDims !== headDim) throw new UnsupportedArchitectureError(`${src}: partial rotary embeddings are not supported for ${arch}`);
  if (famName === "gpt_bigcode" && family) family.nPositions = f.tensors.get("position_embd.weight")?.dims[1] ?? family.nPositions;
  return { ...c, ropeScaling: ggufRopeScaling(f, rotDims, p), ...(family ? { family } : {}) };
}

/**
 * llama.cpp's rope scaling keys and tensor: `rope.scaling.type` "linear" with
 * `rope.scaling.factor` (or the older `rope.scale_linear`), and
 * `rope_freqs.weight` (F32, head_dim/2 divisors: llama3), and Phi-3's longrope as its
 * converter writes it: `rope_factors_long.weight` / `rope_factors_short.weight`, with
 * `rope.scaling.original_context_length` and `rope.scaling.attn_factor`. Other types
 * (yarn) are refused by name, never ignored.
 */
function ggufRopeScaling(f: GgufFile, headDim: number, p: string): RopeScaling | null {
  const src = f.path;
  const type = f.has(p + "rope.scaling.type") ? f.getString(p + "rope.scaling.type") : undefined;
  let factor = f.has(p + "rope.scaling.factor") ? f.getFloat(p + "rope.scaling.factor") : f.has(p + "rope.scale_linear") ? f.getFloat(p + "rope.scale_linear") : 0;
  if (type !== undefined && type !== "none" && type !== "linear") {
    throw new UnsupportedArchitectureError(`${src}: rope scaling "${type}" is not supported (supported: none, linear, rope_freqs)`);
  }
  if (type === "none") factor = 0; // llama.cpp ignores the factor then
  if (!(factor >= 0) || !Number.isFinite(factor)) throw new GgufError(`${src}: rope scaling factor ${factor} is not a finite number >= 0`);
  const long = ggufFactors(f, "rope_factors_long.weight", headDim), short = ggufFactors(f, "rope_factors_short.weight", headDim);
  if (long || short) {
    if (!long || !short) throw new GgufError(`${src}: longrope needs both rope_factors_long.weight and rope_factors_short.weight`);
    if (f.tensors.has("rope_freqs.weight") || (factor > 0 && factor !== 1)) throw new UnsupportedArchitectureError(`${src}: longrope factors together with other rope scaling are not supported`);
    return {
      type: "longrope", shortFactor: short, longFactor: long,
      originalMaxPositionEmbeddings: f.getInt(p + "rope.scaling.original_context_length"),
      // llama.cpp's rope_attn_factor (default 1)
      attentionFactor: f.has(p + "rope.scaling.attn_factor") ? f.getFloat(p + "rope.scaling.attn_factor") : 1,
    };
  }
  const linear = factor > 0 && factor !== 1;
  if (linear && f.tensors.has("rope_freqs.weight")) throw new UnsupportedArchitectureError(`${src}: linear rope scaling together with rope_freqs.weight is not supported`);
  if (linear) return { type: "linear", factor };
  const factors = ggufFactors(f, "rope_freqs.weight", headDim);
  return factors ? { type: "freq-factors", factors } : null;
}

/** An F32 [rotary dims / 2] tensor of per-pair rope divisors, or undefined when the file has none. */
function ggufFactors(f: GgufFile, name: string, dims: number): number[] | undefined {
  const t = f.tensors.get(name);
  if (!t) return undefined;
  if (t.typeName !== "F32" || t.dims.length !== 1 || t.dims[0] !== dims / 2) {
    throw new GgufError(`${f.path}: ${name} must be F32 [${dims / 2}] (rotary dims / 2), got ${t.typeName} [${t.dims}]`);
  }
  const bytes = readTensorBytes(f, t, Buffer.allocUnsafe(t.nbytes));
  const v = Array.from(new Float32Array(Uint8Array.from(bytes).buffer, 0, dims / 2));
  if (v.some((x) => !(x > 0) || !Number.isFinite(x))) throw new GgufError(`${f.path}: ${name} holds a value that is not finite and > 0`);
  return v;
}

/** GGUF file_type values (llama_ftype) for the types lowbit writes. */
export const GGUF_FILE_TYPES = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, Q4_K_M: 15, Q5_K_M: 17, Q6_K: 18, BF16: 32 } as const;

/**
 * The `general.*` and `<arch>.*` keys llama.cpp needs to load a model of this
 * config (the keys its converter writes for the family). A mechanism the
 * architecture's GGUF form cannot carry (a sliding window where llama.cpp
 * runs none) is refused, never dropped.
 */
const isQuantizedFileType = (t: keyof typeof GGUF_FILE_TYPES) => t !== "F32" && t !== "F16" && t !== "BF16";

export function ggufConfigMetadata(c: LlamaConfig, name: string, fileType: keyof typeof GGUF_FILE_TYPES): [string, GgufValue][] {
  if (c.architecture === "llama") return llamaMetadata(c, name, fileType);
  const fam = FAMILIES[c.architecture], t = fam.traits, p = familyParams(c);
  const src = `GGUF export of a ${c.architecture} model`;
  if (!fam.ggufArch) throw new UnsupportedArchitectureError(`${src}: llama.cpp has no GGUF form of this family`);
  const a = `${fam.ggufArch}.`;
  const windowed = p.windows.some((w) => w > 0);
  if (windowed && fam.name !== "gemma2" && fam.name !== "gemma3") {
    throw new UnsupportedArchitectureError(`${src}: its sliding window (${Math.max(...p.windows)} tokens) has no GGUF form llama.cpp runs`);
  }
  // Gemma 3's linear scaling of its global layers is llama.cpp's rope.scaling (its sliding layers unscaled)
  const gemmaLinear = fam.name === "gemma3" && c.ropeScaling?.type === "linear";
  if (c.ropeScaling && !gemmaLinear) throw new UnsupportedArchitectureError(`${src}: rope scaling ${c.ropeScaling.type} is not written for this architecture yet`);
  const u32 = (k: string, v: number): [string, GgufValue] => [a + k, gv.u32(v)];
  const f32 = (k: string, v: number): [string, GgufValue] => [a + k, gv.f32(v)];
  const m: [string, GgufValue][] = [
    ["general.architecture", gv.str(fam.ggufArch)],
    ["general.name", gv.str(name)],
    ["general.file_type", gv.u32(GGUF_FILE_TYPES[fileType])],
    ...(isQuantizedFileType(fileType) ? ([["general.quantization_version", gv.u32(2)]] as [string, GgufValue][]) : []),
    u32("vocab_size", c.vocabSize),
    u32("context_length", c.maxPositionEmbeddings),
    u32("embedding_length", c.hiddenSize),
    u32("block_count", c.nLayers),
    // qwen (v1): the file says twice the MLP width (its converter writes HF's intermediate_size)
    u32("feed_forward_length", fam.name === "qwen" ? 2 * c.intermediateSize : c.intermediateSize),
    u32("attention.head_count", c.nHeads),
    u32("attention.head_count_kv", c.nKvHeads),
    u32("attention.key_length", c.headDim),
    u32("attention.value_length", c.headDim),
    f32(t.norm === "layer" ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon", c.rmsNormEps),
  ];
  if (t.positions === "rope") m.push(u32("rope.dimension_count", p.rotaryDims));
  if (t.positions === "rope" && fam.name !== "gemma3") m.push(f32("rope.freq_base", c.ropeTheta));
  if (t.positions === "alibi") m.push(f32("attention.max_alibi_bias", p.alibiMaxBias));
  if (t.residual === "parallel") m.push([a + "use_parallel_residual", gv.bool(true)]);
  if (fam.name === "gemma2") {
    if (p.windows.some((w, l) => w !== (l % 2 === 0 ? p.windows[0] : 0))) throw new UnsupportedArchitectureError(`${src}: llama.cpp's gemma2 slides on even layers only`);
    if (!p.attnSoftcap || !p.finalSoftcap) throw new UnsupportedArchitectureError(`${src}: llama.cpp's gemma2 always soft-caps`);
    if (Math.abs(p.attnScale * Math.sqrt(c.headDim) - 1) > 1e-6) throw new UnsupportedArchitectureError(`${src}: query_pre_attn_scalar other than head_dim`);
    m.push(u32("attention.sliding_window", p.windows[0]!), f32("attn_logit_softcapping", p.attnSoftcap), f32("final_logit_softcapping", p.finalSoftcap));
  }
  if (fam.name === "gemma3") {
    if (Math.abs(p.attnScale * Math.sqrt(c.headDim) - 1) > 1e-6) throw new UnsupportedArchitectureError(`${src}: query_pre_attn_scalar other than head_dim`);
    const win = Math.max(...p.windows);
    if (p.windows.some((w) => w !== 0 && w !== win)) throw new UnsupportedArchitectureError(`${src}: sliding windows of several sizes`);
    const theta = p.layerRopeTheta ?? [];
    const local = theta.find((_, l) => p.windows[l]) ?? 10000, global = theta.find((_, l) => !p.windows[l]) ?? c.ropeTheta;
    m.push(f32("rope.freq_base", global));
    if (win) {
      // llama.cpp's pattern n: layer l slides when l % n < n - 1 (its default 6 is written too: the file says it)
      const swa = p.windows.map((w) => w > 0);
      const n = [...Array(c.nLayers + 1).keys()].slice(1).find((k) => swa.every((s, l) => s === (l % k < k - 1)));
      if (n === undefined) throw new UnsupportedArchitectureError(`${src}: its sliding layers follow no period llama.cpp's pattern writes`);
      m.push(u32("attention.sliding_window", win), f32("rope.freq_base_swa", local), u32("attention.sliding_window_pattern", n));
    }
    if (p.finalSoftcap) m.push(f32("final_logit_softcapping", p.finalSoftcap));
    if (c.ropeScaling?.type === "linear") m.push([a + "rope.scaling.type", gv.str("linear")], f32("rope.scaling.factor", c.ropeScaling.factor));
  }
  return m;
}

function llamaMetadata(c: LlamaConfig, name: string, fileType: keyof typeof GGUF_FILE_TYPES): [string, GgufValue][] {
  if (c.ropeScaling?.type === "longrope") throw new UnsupportedArchitectureError("GGUF export of a llama model: longrope rope scaling is not written yet");
  const quantized = isQuantizedFileType(fileType);
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
    ...(c.ropeScaling?.type === "linear"
      ? ([["llama.rope.scaling.type", gv.str("linear")], ["llama.rope.scaling.factor", gv.f32(c.ropeScaling.factor)]] as [string, GgufValue][])
      : []),
  ];
}
