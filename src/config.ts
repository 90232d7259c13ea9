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

export interface LlamaConfig {
  architecture: "llama";
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
  rmsNormEps: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
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
  const a = isObject(scaling) ? parseRopeScaling(scaling, source) : null;
  const b = isObject(params) ? parseRopeScaling(params, source) : null;
  if (a && b && JSON.stringify(a) !== JSON.stringify(b)) {
    throw new ConfigError(`${source}: "rope_scaling" and "rope_parameters" disagree`);
  }
  let ropeTheta = 10000;
  if (o.rope_theta !== undefined && o.rope_theta !== null) ropeTheta = optPosNum(o, "rope_theta", 10000, source);
  else if (isObject(params)) ropeTheta = optPosNum(params, "rope_theta", 10000, source, "rope_parameters.rope_theta");
  return { ropeTheta, ropeScaling: a ?? b };
}

/** Validate a parsed config.json object; `source` names it in error messages. */
export function parseConfig(json: unknown, source: string): LlamaConfig {
  if (!isObject(json)) throw new ConfigError(`${source}: config is not a JSON object`);
  const o = json;

  const mt = o.model_type;
  if (mt !== "llama") {
    const shown = mt === undefined ? "(missing)" : shownJson(mt);
    throw new UnsupportedArchitectureError(`${source}: model_type ${shown} is not supported (only "llama")`);
  }

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
  const rmsNormEps = optPosNum(o, "rms_norm_eps", 1e-6, source);
  const maxPositionEmbeddings = optDim(o, "max_position_embeddings", 2048, source);
  const tieWordEmbeddings = optBool(o, "tie_word_embeddings", false, source);

  const act = o.hidden_act;
  if (act !== undefined && act !== null) {
    if (typeof act !== "string") throw new ConfigError(`${source}: "hidden_act" must be a string`);
    if (act !== "silu") {
      throw new UnsupportedArchitectureError(`${source}: hidden_act "${act}" not supported (only "silu")`);
    }
  }
  for (const key of ["attention_bias", "mlp_bias"]) {
    if (optBool(o, key, false, source)) {
      throw new UnsupportedArchitectureError(`${source}: ${key}=true is not supported yet`);
    }
  }

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
    architecture: "llama",
    hiddenSize, intermediateSize, nLayers, nHeads, nKvHeads, headDim, vocabSize,
    ropeTheta, ropeScaling, rmsNormEps, maxPositionEmbeddings, tieWordEmbeddings, bosTokenId, eosTokenIds,
  };
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
