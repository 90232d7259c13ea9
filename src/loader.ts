/**
 * Loads a model source (a Hugging Face directory or a synthetic model) into a
 * native model: config and tokenizer from the source, then each tensor
 * produced once into a reused buffer and repacked natively, so peak memory
 * stays near the model's size in its compute format.
 */
import type { LlamaConfig } from "./config.js";
import { InvalidOptionError } from "./errors.js";
import { llamaGraph, llamaTensors } from "./models/llama.js";
import { nativeRopeOptions } from "./models/rope-scaling.js";
import { ggufSource, isGgufPath } from "./models/gguf-source.js";
import { hfSource, type ModelSource } from "./models/source.js";
import { isSyntheticSpec, syntheticSource } from "./models/synthetic.js";
import { addon, wrapNative, type NativeModel } from "./native.js";
import { Tokenizer } from "./tokenizer.js";
import { isGgmlQuant, matrixBytes, nativeFormat, type QuantFormat } from "./quant/formats.js";
import { toF32 } from "./quant/tensors.js";

export type ComputeDtype = "f32" | "bf16";

export interface NativeLoadOptions {
  dtype: ComputeDtype;
  /** quantization of the blocks' linear layers (undefined: the compute dtype) */
  quant?: QuantFormat;
  /** SmoothQuant factors by GGUF name: norms are divided by them, matrices' columns multiplied */
  smoothing?: Map<string, Float32Array>;
  /** static int8 activation scales by GGUF name (w8a8-sq-static) */
  actScales?: Map<string, number>;
  /** also quantize the LM head (a separate quantized copy when embeddings are tied) */
  quantHead?: boolean;
  threads: number;
  contextLength: number;
  kernels: string;
}

export interface LoadedModel {
  config: LlamaConfig;
  tokenizer: Tokenizer;
  native: NativeModel;
  /** bytes of matrix weights read by one decode step (all matrices but the embedding) */
  decodeWeightBytes: number;
  /** KV-cache capacity in tokens */
  contextLength: number;
}

/**
 * The source for a model argument: "synthetic:<shape>" (weights seeded by
 * `seed`) or a Hugging Face directory (where `seed` is an error).
 */
export function openModelSource(model: string, opts: { seed?: number } = {}): ModelSource {
  if (isSyntheticSpec(model)) return syntheticSource(model, opts.seed);
  if (isGgufPath(model)) {
    if (opts.seed !== undefined) throw new InvalidOptionError(`seed applies to synthetic: models only, not ${model}`);
    return ggufSource(model);
  }
  if (opts.seed !== undefined) throw new InvalidOptionError(`seed applies to synthetic: models only, not ${model}`);
  return hfSource(model);
}

/** Loads a Hugging Face directory (see loadModel). */
export function loadHfDirectory(dir: string, opts: NativeLoadOptions): LoadedModel {
  return loadModel(hfSource(dir), opts);
}

export function loadModel(source: ModelSource, opts: NativeLoadOptions): LoadedModel {
  const { config, tokenizer } = source;
  const specs = llamaTensors(config);
  // Check presence and shapes before allocating anything natively.
  const maxBytes = source.check(specs);

  // 0 = the model's trained context (max_position_embeddings).
  const contextLength = opts.contextLength || config.maxPositionEmbeddings;
  const { NativeModel } = addon();
  const native = wrapNative("creating model", () => new NativeModel({
    threads: opts.threads,
    kernels: opts.kernels,
    nLayers: config.nLayers,
    nKvHeads: config.nKvHeads,
    headDim: config.headDim,
    nCtx: contextLength,
    ropeTheta: config.ropeTheta,
    ...nativeRopeOptions(config),
  }));
  try {
    const scratch = Buffer.allocUnsafe(maxBytes);
    let decodeWeightBytes = 0;
    // q4_0 / q8_0 quantize every matrix, embedding and head included, like a llama.cpp file.
    const everyMatrix = !!opts.quant && isGgmlQuant(opts.quant);
    let embdFormat: QuantFormat | ComputeDtype = opts.dtype;
    for (const s of specs) {
      // Block matrices (and the LM head with quantHead) take the quantized format;
      // the embedding table keeps the compute dtype or the source's own block format.
      const quantized = !!opts.quant && s.kind === "matrix" &&
        (everyMatrix || s.name.startsWith("blk.") || (!!opts.quantHead && s.name === "output.weight"));
      // (the format's name as a quant format, for byte counts; q4_0 / q8_0 are both)
      const named = quantized ? opts.quant! : (source.preferredFormat?.(s) as QuantFormat | undefined) ?? opts.dtype;
      const format = s.kind === "norm" ? "vector" : quantized ? nativeFormat(opts.quant!) : named;
      const sm = opts.smoothing?.get(s.name);
      let { bytes, dtype } = source.read(s, scratch, { format: sm ? "f32" : format });
      if (sm) {
        // x' = x / s after the norm, W' = W * s along inputs: the float model is unchanged.
        const w = toF32(bytes, dtype);
        if (s.kind === "norm") for (let j = 0; j < s.cols; j++) w[j] = w[j]! / sm[j]!;
        else for (let r = 0; r < s.rows; r++) for (let j = 0; j < s.cols; j++) w[r * s.cols + j] = w[r * s.cols + j]! * sm[j]!;
        bytes = new Uint8Array(w.buffer);
        dtype = "F32";
      }
      const actScale = opts.actScales?.get(s.name);
      wrapNative(`loading ${s.hfName}`, () => native.addWeight(s.name, dtype, bytes, s.rows, s.cols, format, actScale));
      if (s.name === "token_embd.weight") embdFormat = named;
      else if (s.kind === "matrix" && s.name !== "position_embd.weight") decodeWeightBytes += matrixBytes(named, s.rows, s.cols);
    }
    if (config.tieWordEmbeddings && opts.quantHead && opts.quant && !everyMatrix) {
      // The lookup table stays float; the LM head gets its own quantized copy.
      const { bytes, dtype } = source.read(specs.find((t) => t.name === "token_embd.weight")!, scratch, { format: nativeFormat(opts.quant) });
      wrapNative("loading the quantized LM head", () =>
        native.addWeight("output.weight", dtype, bytes, config.vocabSize, config.hiddenSize, nativeFormat(opts.quant!)));
      decodeWeightBytes += matrixBytes(opts.quant, config.vocabSize, config.hiddenSize);
    } else if (config.tieWordEmbeddings) {
      native.aliasWeight("output.weight", "token_embd.weight");
      decodeWeightBytes += matrixBytes(embdFormat, config.vocabSize, config.hiddenSize);
    }
    const graph = llamaGraph(config);
    wrapNative("building graph", () => native.setGraph(graph.ops, graph.output));
    return { config, tokenizer, native, decodeWeightBytes, contextLength };
  } catch (e) {
    native.dispose();
    throw e;
  }
}
