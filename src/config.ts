/**
 * Llama-family Hugging Face config.json, validated and normalized into the
 * camelCase LlamaConfig the rest of lowbit uses. Accepts both the classic
 * top-level `rope_theta` and the transformers v5 `rope_parameters` block.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError, ModelNotFoundError, UnsupportedArchitectureError } from "./errors.js";
import { parseJsonText, shownJson } from "./json-text.js";
import { parseRopeScaling, type RopeScaling } from "./models/rope-scaling.js";
import { defaultParams, familyOfModelType, FAMILIES, parseActivation, type FamilyDef, type FamilyName, type FamilyParams } from "./models/family.js";

/**
 * A model's config, any family (the name is Llama's, whose fields every
 * family shares; models/family.ts describes what a family adds).
 */
export interface LlamaConfig {
  /** the family (models/family.ts) */
  architecture: FamilyName;
  hiddenSize: number;
  intermediateSize: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  vocabSize: number;
  ropeTheta: number;
  /** RoPE frequency scaling (models/rope-scaling.ts); null: plain RoPE */
  ropeScaling: RopeScaling | null;
  /** the epsilon of every norm (RMSNorm or LayerNorm, as the family has) */
  rmsNormEps: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** the family's per-model values (absent: Llama's: every dim rotary, full attention, silu) */
  family?: FamilyParams;
}

/** A config's family values, Llama's defaults when absent. */
export function familyParams(c: LlamaConfig): FamilyParams {
  return c.family ?? defaultParams(c.headDim, c.nLayers);
}

type Json = Record<string, unknown>;

/**
 * Upper bounds on a config's dimensions, checked before anything proportional
 * to them is built (the loader's tensor list, the KV cache). Each is several
 * times the largest released Llama-family model's value (in brackets), so a
 * real model never meets them and a hostile one fails here in microseconds.
 */
export const CONFIG_LIMITS = {
  num_hidden_layers: 1024, // [126, Llama 3.1 405B]
  hidden_size: 1 << 16, // [16384]
  intermediate_size: 1 << 18, // [53248]
  num_attention_heads: 1024, // [128]
  num_key_value_heads: 1024, // [16]
  head_dim: 1024, // [256]
  vocab_size: 1 << 22, // [262144, Gemma 3]
  max_position_embeddings: 1 << 24, // [10485760, Llama 4 Scout]; also the native KV cache's limit
} as const;

type LimitedKey = keyof typeof CONFIG_LIMITS;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isPosInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0;
}

function isTokenId(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** A positive integer within CONFIG_LIMITS[key]. */
function checkDim(v: unknown, key: LimitedKey, source: string): number {
  if (!isPosInt(v)) throw new ConfigError(`${source}: "${key}" must be a positive integer, got ${shownJson(v)}`);
  if (v > CONFIG_LIMITS[key]) {
    throw new ConfigError(`${source}: "${key}" is ${v}, above the limit of ${CONFIG_LIMITS[key]} (see CONFIG_LIMITS in src/config.ts)`);
  }
  return v;
}

/** A required dimension. */
function reqDim(o: Json, key: LimitedKey, source: string): number {
  const v = o[key];
  if (v === undefined || v === null) throw new ConfigError(`${source}: missing required "${key}"`);
  return checkDim(v, key, source);
}

/** An optional dimension (absent or null -> default). */
function optDim(o: Json, key: LimitedKey, def: number, source: string): number {
  const v = o[key];
  return v === undefined || v === null ? def : checkDim(v, key, source);
}

/** An optional positive finite number field (absent or null -> default). */
function optPosNum(o: Json, key: string, def: number, source: string, label = key): number {
  const v = o[key];
  if (v === undefined || v === null) return def;
  // the native side computes in f32: the value must stay positive and finite there
  if (typeof v !== "number" || !(Math.fround(v) > 0) || !Number.isFinite(Math.fround(v))) {
    throw new ConfigError(`${source}: "${label}" must be a positive number within f32 range, got ${shownJson(v)}`);
  }
  return v;
}

/** An optional boolean field (absent or null -> default). */
function optBool(o: Json, key: string, def: boolean, source: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== "boolean") throw new ConfigError(`${source}: "${key}" must be a boolean, got ${shownJson(v)}`);
  return v;
}

/** Rope theta and scaling, from `rope_theta` + `rope_scaling` or transformers v5 `rope_parameters`. */
function parseRope(o: Json, source: string): { ropeTheta: number; ropeScaling: RopeScaling | null } {
  const params = o.rope_parameters;
  if (params !== undefined && params !== null && !isObject(params)) {
    throw new ConfigError(`${source}: "rope_parameters" must be an object`);
  }
  const scaling = o.rope_scaling;
  if (scaling !== undefined && scaling !== null && !isObject(scaling)) {
    throw new ConfigError(`${source}: "rope_scaling" must be an object, got ${shownJson(scaling)}`);
  }
  const model = { maxPositionEmbeddings: o.max_position_embeddings, originalMaxPositionEmbeddings: o.original_max_position_embeddings };
  const a = isObject(scaling) ? parseRopeScaling(scaling, source, model) : null;
  const b = isObject(params) ? parseRopeScaling(params, source, model) : null;
  if (a && b && JSON.stringify(a) !== JSON.stringify(b)) {
    throw new ConfigError(`${source}: "rope_scaling" and "rope_parameters" disagree`);
  }
  let ropeTheta = 10000;
  if (o.rope_theta !== undefined && o.rope_theta !== null) ropeTheta = optPosNum(o, "rope_theta", 10000, source);
  else if (isObject(params)) ropeTheta = optPosNum(params, "rope_theta", 10000, source, "rope_parameters.rope_theta");
  return { ropeTheta, ropeScaling: a ?? b };
}

/** Validate a parsed config.json object; `source` names it in error messages. */
export function parseConfig(json: unknown, source: string, familyDef?: FamilyDef): LlamaConfig {
  if (!isObject(json)) throw new ConfigError(`${source}: config is not a JSON object`);
  // a GGUF file names its family itself (GGUF-only families have no model_type)
  const fam = familyDef ?? familyVariant(familyOfModelType(json.model_type, source), json);
  // the family's own spellings of the shared keys, read as the Llama keys
  const o: Json = { ...json };
  for (const [canon, theirs] of Object.entries(fam.hfKeys ?? {})) {
    if (theirs !== undefined && o[canon] === undefined) o[canon] = json[theirs];
  }
  normalizeFamilyKeys(fam, json, o, source);

  const hiddenSize = reqDim(o, "hidden_size", source);
  const intermediateSize = reqDim(o, "intermediate_size", source);
  const nLayers = reqDim(o, "num_hidden_layers", source);
  const nHeads = reqDim(o, "num_attention_heads", source);
  const vocabSize = reqDim(o, "vocab_size", source);

  const nKvHeads = optDim(o, "num_key_value_heads", nHeads, source);
  if (nHeads % nKvHeads !== 0) {
    throw new ConfigError(
      `${source}: num_key_value_heads (${nKvHeads}) must divide num_attention_heads (${nHeads})`,
    );
  }

  let headDim: number;
  if (o.head_dim === undefined || o.head_dim === null) {
    headDim = hiddenSize / nHeads;
    if (!Number.isInteger(headDim)) {
      throw new ConfigError(
        `${source}: hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${nHeads}) and no head_dim is given`,
      );
    }
  } else {
    headDim = checkDim(o.head_dim, "head_dim", source);
  }
  if (headDim > CONFIG_LIMITS.head_dim) checkDim(headDim, "head_dim", source);
  if (headDim % 2 !== 0) throw new ConfigError(`${source}: head_dim (${headDim}) must be even for RoPE`);

  const { ropeTheta, ropeScaling } = parseRope(o, source);
  const rmsNormEps = optPosNum(o, "rms_norm_eps", fam.name === "llama" ? 1e-6 : 1e-5, source, fam.hfKeys?.rms_norm_eps ?? "rms_norm_eps");
  const maxPositionEmbeddings = optDim(o, "max_position_embeddings", 2048, source);
  const tieWordEmbeddings = optBool(o, "tie_word_embeddings", TIED_BY_DEFAULT.has(fam.name), source);

  const actKey = fam.hfAct.key;
  if (o[actKey] !== undefined && o[actKey] !== null && typeof o[actKey] !== "string") throw new ConfigError(`${source}: "${actKey}" must be a string`);
  const act = parseActivation(o[actKey] ?? fam.hfAct.default, source, actKey);
  if (fam.name === "llama" && act !== "silu") {
    throw new UnsupportedArchitectureError(`${source}: hidden_act "${String(o[actKey])}" not supported (only "silu")`);
  }
  if (fam.name === "llama" || fam.name === "mistral") {
    for (const key of ["attention_bias", "mlp_bias"]) {
      if (optBool(o, key, false, source)) {
        throw new UnsupportedArchitectureError(`${source}: ${key}=true is not supported yet`);
      }
    }
  }
  const family = fam.name === "llama" ? undefined : parseFamilyParams(fam, o, { headDim, nLayers, maxPositionEmbeddings, act }, source);

  const checkId = (v: unknown, key: string): number => {
    if (!isTokenId(v) || v >= vocabSize) {
      throw new ConfigError(`${source}: "${key}" must be a token id in [0, ${vocabSize}), got ${shownJson(v)}`);
    }
    return v;
  };
  const bos = o.bos_token_id;
  const bosTokenId = bos === undefined || bos === null ? null : checkId(bos, "bos_token_id");
  const eos = o.eos_token_id;
  let eosTokenIds: number[];
  if (eos === undefined || eos === null) eosTokenIds = [];
  else if (Array.isArray(eos)) eosTokenIds = eos.map((v) => checkId(v, "eos_token_id"));
  else eosTokenIds = [checkId(eos, "eos_token_id")];

  return {
    architecture: fam.name,
    hiddenSize, intermediateSize, nLayers, nHeads, nKvHeads, headDim, vocabSize,
    ropeTheta, ropeScaling, rmsNormEps, maxPositionEmbeddings, tieWordEmbeddings, bosTokenId, eosTokenIds,
    ...(family ? { family } : {}),
  };
}

function refuse2(source: string, what: string): never {
  throw new UnsupportedArchitectureError(`${source}: ${what} is not supported yet`);
}

/** A family's variant its config selects (Falcon's new_decoder_architecture). */
function familyVariant(fam: FamilyDef, json: Json): FamilyDef {
  if (fam.name === "falcon" && json.new_decoder_architecture === true) return FAMILIES.falcon_gqa;
  return fam;
}

/** families whose config.json tie_word_embeddings defaults to true (their transformers config classes) */
const TIED_BY_DEFAULT = new Set<FamilyName>(["gemma2", "gemma3", "gpt_bigcode", "falcon", "falcon_gqa", "mpt", "bloom", "opt"]);

/**
 * The shared (Llama) keys of a family that spells or derives them otherwise
 * (hfKeys covers plain renames), and its switches lowbit does not run, refused by name.
 */
function normalizeFamilyKeys(fam: FamilyDef, json: Json, o: Json, source: string): void {
  const four = () => (typeof o.hidden_size === "number" ? 4 * o.hidden_size : undefined);
  const refuse = (what: string) => { throw new UnsupportedArchitectureError(`${source}: ${fam.name} with ${what} is not supported yet`); };
  const heads = o.num_attention_heads;
  switch (fam.name) {
    case "gpt_bigcode":
      // multi-query: one KV head; n_inner null means 4 * n_embd
      o.num_key_value_heads = json.multi_query === false ? heads : 1;
      o.intermediate_size ??= four();
      break;
    case "falcon_gqa":
      if (json.alibi === true) refuse("alibi=true");
      if (json.bias === true) refuse("bias=true");
      if (json.num_ln_in_parallel_attn === 1) refuse("num_ln_in_parallel_attn=1");
      if (typeof heads !== "number" || typeof json.num_kv_heads !== "number" || heads % json.num_kv_heads) refuse(`num_kv_heads ${shownJson(json.num_kv_heads)} that does not divide num_attention_heads`);
      o.intermediate_size ??= four();
      break;
    case "falcon":
      if (json.alibi === true) refuse("alibi=true");
      if (json.parallel_attn === false) refuse("parallel_attn=false");
      if (json.bias === true) refuse("bias=true");
      o.num_key_value_heads = json.multi_query === false ? heads : 1;
      o.intermediate_size ??= four();
      break;
    case "gpt_neox":
      if (json.use_parallel_residual === false) refuse("use_parallel_residual=false");
      if (json.attention_bias === false) refuse("attention_bias=false");
      break;
    case "gptj":
      o.intermediate_size ??= four();
      break;
    case "mpt": {
      const a = isObject(json.attn_config) ? json.attn_config : {};
      if (a.alibi !== true) refuse("attn_config.alibi other than true");
      for (const k of ["clip_qkv", "softmax_scale"]) if (a[k] !== undefined && a[k] !== null) refuse(`attn_config.${k}=${shownJson(a[k])}`);
      if (a.qk_ln === true) refuse("attn_config.qk_ln=true");
      // transformers' MptMLP is 4 * d_model wide whatever expansion_ratio says (a GGUF file gives its width)
      o.intermediate_size ??= four();
      o.tie_word_embeddings = true; // MPT's head is always the embedding
      break;
    }
    case "bloom":
      if (json.apply_residual_connection_post_layernorm === true) refuse("apply_residual_connection_post_layernorm=true");
      o.hidden_size ??= json.n_embed;
      o.intermediate_size ??= four();
      break;
    case "gemma3": {
      // transformers v5: rope_parameters per layer type; the global layers' block is the model's rope
      const rp = json.rope_parameters;
      if (isObject(rp) && (isObject(rp.full_attention) || isObject(rp.sliding_attention))) {
        const full = isObject(rp.full_attention) ? rp.full_attention : {};
        const local = isObject(rp.sliding_attention) ? rp.sliding_attention : {};
        if ((local.rope_type ?? "default") !== "default") refuse(`sliding_attention rope_type ${shownJson(local.rope_type)}`);
        o.rope_parameters = full;
        o.__local_rope_theta = local.rope_theta ?? 10000;
      } else {
        o.__local_rope_theta = json.rope_local_base_freq ?? 10000;
      }
      break;
    }
    case "opt":
      if (json.do_layer_norm_before === false) refuse("do_layer_norm_before=false (post-norm OPT-350m)");
      if (json.word_embed_proj_dim !== undefined && json.word_embed_proj_dim !== null && json.word_embed_proj_dim !== o.hidden_size) refuse("word_embed_proj_dim != hidden_size");
      if (json.enable_bias === false) refuse("enable_bias=false");
      if (json.layer_norm_elementwise_affine === false) refuse("layer_norm_elementwise_affine=false");
      break;
    default:
      break;
  }
}

/** A family's per-model values from its config.json keys (every key it reads is checked; a mechanism lowbit lacks is refused by name). */
function parseFamilyParams(fam: FamilyDef, o: Json, c: { headDim: number; nLayers: number; maxPositionEmbeddings: number; act: FamilyParams["act"] }, source: string): FamilyParams {
  const p = { ...defaultParams(c.headDim, c.nLayers), act: c.act };
  const t = FAMILIES[fam.name].traits;
  if (t.positions !== "rope") p.rotaryDims = 0;
  if (t.positions === "learned") p.nPositions = c.maxPositionEmbeddings;
  if (t.positions === "alibi") {
    const a = isObject(o.attn_config) ? o.attn_config.alibi_bias_max : undefined;
    p.alibiMaxBias = a === undefined || a === null ? 8 : optPosNum({ a }, "a", 8, source, "attn_config.alibi_bias_max");
    if (fam.name === "mpt" && (o.num_attention_heads as number) & ((o.num_attention_heads as number) - 1)) {
      // MPT orders the slopes of a head count that is not a power of two otherwise than BLOOM / llama.cpp
      throw new UnsupportedArchitectureError(`${source}: mpt with ${String(o.num_attention_heads)} heads (not a power of two) is not supported yet`);
    }
  }
  if (fam.name === "opt") {
    p.nPositions = c.maxPositionEmbeddings + 2;
    p.posOffset = 2;
  }
  if (fam.name === "gptj" && o.rotary_dim !== undefined && o.rotary_dim !== null) {
    if (!isPosInt(o.rotary_dim) || o.rotary_dim % 2 || o.rotary_dim > c.headDim) throw new ConfigError(`${source}: "rotary_dim" must be even and at most head_dim, got ${shownJson(o.rotary_dim)}`);
    p.rotaryDims = o.rotary_dim;
  }
  const params = isObject(o.rope_parameters) ? o.rope_parameters : {};
  const prf = o.partial_rotary_factor ?? params.partial_rotary_factor ?? (fam.name === "gpt_neox" ? o.rotary_pct ?? 0.25 : undefined);
  if (prf !== undefined && prf !== null && t.positions === "rope") {
    if (typeof prf !== "number" || !(prf > 0 && prf <= 1)) throw new ConfigError(`${source}: "partial_rotary_factor" must be in (0, 1], got ${shownJson(prf)}`);
    p.rotaryDims = Math.floor(c.headDim * prf);
    if (p.rotaryDims % 2 || p.rotaryDims < 2) throw new ConfigError(`${source}: partial_rotary_factor ${prf} gives ${p.rotaryDims} rotary dims (must be even, >= 2)`);
  }
  // sliding windows: all layers (Mistral, StarCoder2, Phi-3), or per layer_types (Gemma)
  const sw = o.sliding_window;
  let window = 0;
  if (sw !== undefined && sw !== null) {
    if (!isPosInt(sw)) throw new ConfigError(`${source}: "sliding_window" must be a positive integer or null, got ${shownJson(sw)}`);
    window = sw;
  }
  if (fam.name === "qwen2" || fam.name === "qwen3") {
    // Qwen's sliding window applies only with use_sliding_window (layers past max_window_layers)
    if (optBool(o, "use_sliding_window", false, source)) throw new UnsupportedArchitectureError(`${source}: use_sliding_window=true is not supported yet`);
    window = 0;
    if (fam.name === "qwen3" && optBool(o, "attention_bias", false, source)) throw new UnsupportedArchitectureError(`${source}: attention_bias=true is not supported for qwen3`);
  }
  if (fam.name === "phi3" && window > 0 && window >= c.maxPositionEmbeddings) window = 0;
  const types = o.layer_types;
  if (Array.isArray(types)) {
    if (types.length !== c.nLayers) throw new ConfigError(`${source}: "layer_types" has ${types.length} entries for ${c.nLayers} layers`);
    p.windows = types.map((ty, l) => {
      if (ty === "full_attention") return 0;
      if (ty === "sliding_attention") {
        if (!window) throw new ConfigError(`${source}: layer ${l} is sliding_attention but "sliding_window" is not set`);
        return window;
      }
      throw new UnsupportedArchitectureError(`${source}: layer_types[${l}] ${shownJson(ty)} is not supported`);
    });
  } else if (fam.name === "gemma2") {
    p.windows = p.windows.map((_, l) => (l % 2 === 0 ? window : 0));
  } else if (fam.name === "gemma3") {
    // before layer_types: every sliding_window_pattern-th layer global
    const pat = isPosInt(o.sliding_window_pattern) ? o.sliding_window_pattern : 6;
    p.windows = p.windows.map((_, l) => ((l + 1) % pat !== 0 ? window : 0));
  } else {
    p.windows.fill(window);
  }
  if (fam.name === "gemma3") {
    const local = optPosNum(o, "__local_rope_theta", 10000, source, "rope_parameters.sliding_attention.rope_theta");
    const global = isObject(o.rope_parameters) && o.rope_parameters.rope_theta !== undefined ? optPosNum(o.rope_parameters, "rope_theta", 1e6, source, "rope_parameters.full_attention.rope_theta") : optPosNum(o, "rope_theta", 1e6, source);
    p.layerRopeTheta = p.windows.map((w) => (w ? local : global));
    p.attnScale = 1 / Math.sqrt(optPosNum(o, "query_pre_attn_scalar", c.headDim, source));
    if (o.attn_logit_softcapping !== undefined && o.attn_logit_softcapping !== null) refuse2(source, "gemma3 attn_logit_softcapping");
    p.finalSoftcap = o.final_logit_softcapping === null ? 0 : optPosNum(o, "final_logit_softcapping", 0, source) || 0;
  }
  if (fam.name === "gemma2") {
    p.attnScale = 1 / Math.sqrt(optPosNum(o, "query_pre_attn_scalar", c.headDim, source));
    p.attnSoftcap = o.attn_logit_softcapping === null ? 0 : optPosNum(o, "attn_logit_softcapping", 0, source) || 0;
    p.finalSoftcap = o.final_logit_softcapping === null ? 0 : optPosNum(o, "final_logit_softcapping", 0, source) || 0;
  }
  if (fam.name === "starcoder2" && !optBool(o, "use_bias", true, source)) {
    throw new UnsupportedArchitectureError(`${source}: starcoder2 with use_bias=false is not supported yet`);
  }
  if (fam.name === "gpt_bigcode" && o.scale_attn_weights === false) {
    throw new UnsupportedArchitectureError(`${source}: gpt_bigcode with scale_attn_weights=false is not supported`);
  }
  return p;
}

/** Read and validate `dir/config.json`. */
export function loadConfig(dir: string): LlamaConfig {
  const abs = path.resolve(dir);
  if (!fs.existsSync(abs)) throw new ModelNotFoundError(`${abs}: model directory does not exist`);
  const file = path.join(abs, "config.json");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new ModelNotFoundError(`${file}: cannot read config.json: ${(e as Error).message}`, { cause: e });
  }
  const json = parseJsonText(text, file, (msg, cause) => new ConfigError(msg, { cause }));
  return parseConfig(json, file);
}
