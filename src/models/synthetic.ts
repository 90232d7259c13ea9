/**
 * Synthetic Llama models: a registry of named shapes with seeded random
 * weights generated at load time (`LLM.load("synthetic:tinyllama-1.1b")`),
 * for benchmarking shapes whose weights do not fit in the cache without
 * shipping a checkpoint.
 *
 * Weights: every matrix ~ N(0, 0.02^2) (the usual Llama initializer range,
 * which keeps activations of a random network O(1)), every norm weight 1.0, every bias 0,
 * stored as bf16. Each tensor has its own PRNG stream seeded from (seed,
 * tensor name), so a tensor's values do not depend on load order, and the
 * bytes are produced tensor by tensor into the loader's reused scratch buffer:
 * the JS heap never holds more than the largest tensor.
 *
 * Tokenizer: the embedded tinycode-7m tokenizer (16384 ids). A shape's vocab
 * may be larger (TinyLlama: 32000); ids past the tokenizer's vocabulary decode
 * to "" (see Tokenizer.withPaddedVocab), so generation never throws.
 */
import { parseConfig, type LlamaConfig } from "../config.js";
import { ModelNotFoundError, WeightsFormatError } from "../errors.js";
import type { StDtype } from "../formats/safetensors.js";
import { ggufTokenizerMetadata } from "../tokenizer/gguf-write.js";
import { Tokenizer } from "../tokenizer.js";
import { llamaTensors, type TensorSpec } from "./llama.js";
import { EMBEDDED_MODEL_DIR, type ModelSource } from "./source.js";
import { localShape, type Shard } from "./shard-spec.js";

export const SYNTHETIC_PREFIX = "synthetic:";
export const DEFAULT_SYNTHETIC_SEED = 42;
/** standard deviation of every synthetic matrix entry */
export const SYNTHETIC_STD = 0.02;

type Shape = Omit<LlamaConfig, "architecture" | "bosTokenId" | "eosTokenIds">;

/** Named shapes (add one here to benchmark it). */
export const SYNTHETIC_SHAPES: Readonly<Record<string, Shape>> = {
  /** TinyLlama-1.1B: 1.1B parameters, 2.2 GB in bf16 (far beyond a 32 MB L3) */
  "tinyllama-1.1b": {
    hiddenSize: 2048, intermediateSize: 5632, nLayers: 22, nHeads: 32, nKvHeads: 4, headDim: 64, vocabSize: 32000,
    ropeTheta: 10000, ropeScaling: null, rmsNormEps: 1e-5, maxPositionEmbeddings: 2048, tieWordEmbeddings: false,
  },
  /** Llama-2-7B: 6.7B parameters, 13.5 GB in bf16 */
  "llama2-7b": {
    hiddenSize: 4096, intermediateSize: 11008, nLayers: 32, nHeads: 32, nKvHeads: 32, headDim: 128, vocabSize: 32000,
    ropeTheta: 10000, ropeScaling: null, rmsNormEps: 1e-5, maxPositionEmbeddings: 4096, tieWordEmbeddings: false,
  },
  /** a few million parameters, for fast tests (vocab past the tokenizer's, like TinyLlama) */
  tiny: {
    hiddenSize: 128, intermediateSize: 352, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 32, vocabSize: 32000,
    ropeTheta: 10000, ropeScaling: null, rmsNormEps: 1e-5, maxPositionEmbeddings: 512, tieWordEmbeddings: false,
  },
};

/**
 * ~1B shapes of other families, as their config.json spells them (parsed by the family's own
 * rules; same weights recipe: matrices N(0, 0.02^2), norm weights 1, biases 0).
 */
export const SYNTHETIC_FAMILY_SHAPES: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  /** Qwen2.5-1.5B: GQA 12/2, q/k/v biases, tied head over a 151936-token vocabulary */
  "qwen2.5-1.5b": {
    model_type: "qwen2", hidden_size: 1536, intermediate_size: 8960, num_hidden_layers: 28, num_attention_heads: 12, num_key_value_heads: 2,
    vocab_size: 151936, rope_theta: 1000000, rms_norm_eps: 1e-6, max_position_embeddings: 32768, tie_word_embeddings: true,
  },
  /** StarCoderBase-1B (GPTBigCode): multi-query attention, learned positions, LayerNorm, GELU, biases */
  "starcoderbase-1b": {
    model_type: "gpt_bigcode", n_embd: 2048, n_inner: 8192, n_layer: 24, n_head: 16, multi_query: true, vocab_size: 49152,
    n_positions: 8192, layer_norm_epsilon: 1e-5, activation_function: "gelu_pytorch_tanh",
  },
  /** Pythia-1B (GPT-NeoX): parallel residual with two LayerNorms, rotary on a quarter of each head */
  "pythia-1b": {
    model_type: "gpt_neox", hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 8, vocab_size: 50304,
    rotary_pct: 0.25, rotary_emb_base: 10000, layer_norm_eps: 1e-5, max_position_embeddings: 2048, hidden_act: "gelu", tie_word_embeddings: false,
  },
  /** small versions of the same families, for tests */
  "tiny-qwen2": {
    model_type: "qwen2", hidden_size: 128, intermediate_size: 352, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
    vocab_size: 16384, max_position_embeddings: 512, tie_word_embeddings: true,
  },
  "tiny-starcoder": {
    model_type: "gpt_bigcode", n_embd: 128, n_inner: 512, n_layer: 2, n_head: 4, multi_query: true, vocab_size: 16384, n_positions: 512,
  },
  /** MPT's ALiBi attention (no positions table), tied head */
  "tiny-mpt": {
    model_type: "mpt", d_model: 128, n_heads: 4, n_layers: 2, max_seq_len: 512, vocab_size: 16384, attn_config: { alibi: true },
  },
  "tiny-pythia": {
    model_type: "gpt_neox", hidden_size: 128, intermediate_size: 512, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 16384,
    rotary_pct: 0.25, max_position_embeddings: 512, tie_word_embeddings: false,
  },
};

/** Every synthetic shape name (Llama shapes and other families'). */
export function syntheticShapeNames(): string[] {
  return [...Object.keys(SYNTHETIC_SHAPES), ...Object.keys(SYNTHETIC_FAMILY_SHAPES)];
}

export function isSyntheticShape(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(SYNTHETIC_SHAPES, name) || Object.prototype.hasOwnProperty.call(SYNTHETIC_FAMILY_SHAPES, name);
}

export function isSyntheticSpec(model: string): boolean {
  return model.startsWith(SYNTHETIC_PREFIX);
}

/** The LlamaConfig of `synthetic:<shape>`; unknown shapes are a ModelNotFoundError listing the known ones. */
export function syntheticConfig(model: string, tokenizer: Tokenizer): LlamaConfig {
  const shape = model.slice(SYNTHETIC_PREFIX.length);
  const eos = tokenizer.eosTokenId;
  if (Object.prototype.hasOwnProperty.call(SYNTHETIC_FAMILY_SHAPES, shape)) {
    return parseConfig({ ...SYNTHETIC_FAMILY_SHAPES[shape], bos_token_id: tokenizer.bosTokenId, eos_token_id: eos }, model);
  }
  const s = Object.prototype.hasOwnProperty.call(SYNTHETIC_SHAPES, shape) ? SYNTHETIC_SHAPES[shape] : undefined;
  if (!s) {
    throw new ModelNotFoundError(
      `unknown synthetic model shape ${JSON.stringify(shape)}; known: ${syntheticShapeNames().map((k) => SYNTHETIC_PREFIX + k).join(", ")}`,
    );
  }
  return { architecture: "llama", ...s, bosTokenId: tokenizer.bosTokenId, eosTokenIds: eos === null ? [] : [eos] };
}

/** 32-bit FNV-1a of a string. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A well-mixed nonzero 32-bit state from (seed, name) (murmur3's finalizer). */
function streamSeed(seed: number, name: string): number {
  let h = (fnv1a(name) ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = (h ^ (h >>> 16)) >>> 0;
  return h === 0 ? 0x6d2b79f5 : h;
}

/** Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9). */
function probit(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) => (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5, r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** bf16 bits of x (round to nearest even). */
function bf16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * 65536 bf16 values: entry u is the normal quantile of (u + 0.5) / 65536 times
 * the std, so a uniform 16-bit draw becomes a N(0, std^2) sample (truncated
 * at ±4.2 std) with one table lookup.
 */
let normalTable: Uint16Array | null = null;
function normalBf16(): Uint16Array {
  if (!normalTable) {
    normalTable = new Uint16Array(65536);
    for (let u = 0; u < 65536; u++) normalTable[u] = bf16Bits(SYNTHETIC_STD * probit((u + 0.5) / 65536));
  }
  return normalTable;
}

const BF16_ONE = 0x3f80;

/**
 * n uniform 16-bit draws of one tensor's stream, in order: put(i, draw). xorshift32, scrambled by
 * a multiply; each 32-bit output gives two draws (its low half, then its high half).
 */
function drawStream(seed: number, n: number, put: (i: number, u: number) => void): void {
  let s = seed;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const r = Math.imul(s, 0x9e3779bb);
    put(i, r & 0xffff);
    put(i + 1, r >>> 16);
  }
  if (i < n) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    put(i, Math.imul(s, 0x9e3779bb) >>> 16);
  }
}

/**
 * The bf16 bytes of one synthetic tensor, written into `scratch` when it is
 * large enough and 2-byte aligned (else into a fresh buffer).
 */
export function syntheticTensor(spec: TensorSpec, seed: number, scratch?: Uint8Array): Uint8Array {
  const { rows, cols } = localShape(spec);
  const n = rows * cols, nbytes = n * 2;
  const buf = scratch && scratch.length >= nbytes && scratch.byteOffset % 2 === 0 ? scratch.subarray(0, nbytes) : new Uint8Array(nbytes);
  const out = new Uint16Array(buf.buffer, buf.byteOffset, n);
  if (spec.kind === "norm") {
    out.fill(spec.name.endsWith(".bias") ? 0 : BF16_ONE);
    return buf;
  }
  if (spec.shard) {
    shardOfStream(spec, spec.shard, seed, out);
    return buf;
  }
  const table = normalBf16();
  drawStream(streamSeed(seed, spec.name), n, (i, u) => (out[i] = table[u]!));
  return buf;
}

/**
 * One rank's part of a matrix (tensor parallelism): the whole tensor's stream is drawn in order,
 * only the shard's elements are kept (so they are the single-process values, and no full copy exists).
 */
function shardOfStream(spec: TensorSpec, shard: Shard, seed: number, out: Uint16Array): void {
  const table = normalBf16();
  const { axis, start, count } = shard;
  const n = spec.rows * spec.cols;
  drawStream(streamSeed(seed, spec.name), n, (i, u) => {
    const r = Math.floor(i / spec.cols), c = i - r * spec.cols;
    if (axis === "rows" && r >= start && r < start + count) out[(r - start) * spec.cols + c] = table[u]!;
    else if (axis === "cols" && c >= start && c < start + count) out[r * count + c - start] = table[u]!;
  });
}

/** A ModelSource for `synthetic:<shape>` with the given weight seed (an unsigned 32-bit integer). */
export function syntheticSource(model: string, seed = DEFAULT_SYNTHETIC_SEED): ModelSource {
  const base = Tokenizer.load(EMBEDDED_MODEL_DIR);
  const config = syntheticConfig(model, base);
  const tokenizer = base.withPaddedVocab(config.vocabSize);
  const shapes = new Map(llamaTensors(config).map((s) => [s.name, s]));
  const dtype: StDtype = "BF16";
  return {
    name: model,
    origin: `${model} (seed ${seed})`,
    config,
    tokenizer,
    check(specs) {
      let max = 0;
      for (const s of specs) {
        const own = shapes.get(s.name);
        if (!own || own.rows !== s.rows || own.cols !== s.cols) throw new WeightsFormatError(`${model}: no tensor ${s.name} of shape [${s.rows}, ${s.cols}]`);
        const own2 = localShape(s); // a tensor-parallel shard is generated alone (shardOfStream)
        max = Math.max(max, own2.rows * own2.cols * 2);
      }
      return max;
    },
    readsShards: true,
    read: (spec, scratch) => ({ bytes: syntheticTensor(spec, seed, scratch), dtype }),
    tokenizerMetadata: (vocabSize) => ggufTokenizerMetadata(EMBEDDED_MODEL_DIR, { vocabSize }),
  };
}
