/**
 * Loads a model source (a Hugging Face directory or a synthetic model) into a
 * native model: config and tokenizer from the source, then each tensor
 * produced once into a reused buffer and repacked natively, so peak memory
 * stays near the model's size in its compute format.
 */
import { foldSmoothing } from "./quant/fold-smoothing.js";
import type { LlamaConfig } from "./config.js";
import { InvalidOptionError, TensorParallelError } from "./errors.js";
import { llamaTensors, type TensorSpec } from "./models/llama.js";
import { ggufSource, isGgufPath } from "./models/gguf-source.js";
import { hfSource, type ModelSource } from "./models/source.js";
import { isSyntheticSpec, syntheticSource } from "./models/synthetic.js";
import { nativeFormatName, wrapNative, type NativeModel } from "./native.js";
import { Tokenizer } from "./tokenizer.js";
import { nativeFormatLabel, type QuantFormat } from "./quant/formats.js";
import { createNativeModel, finishNativeModel, type RuntimeOptions } from "./runtime/native-model.js";
import { planWeights, type ComputeDtype } from "./weights/plan.js";
import { toF32 } from "./quant/tensors.js";
import type { PrequantizedWeight } from "./quant/gptq.js";
import { agreeOnModel, wholeRowAmax, type TpContext } from "./parallel/mpi.js";
import { modelDescription } from "./parallel/agree.js";
import { checkGroupSplit, formatGroup, localShape, shardSpecs, takeShard, type ShardedSpec } from "./parallel/shard.js";

export type { ComputeDtype } from "./weights/plan.js";

export interface NativeLoadOptions extends RuntimeOptions {
  dtype: ComputeDtype;
  /** quantization of the blocks' linear layers (undefined: the compute dtype) */
  quant?: QuantFormat;
  /** SmoothQuant factors by GGUF name: norms are divided by them, matrices' columns multiplied */
  smoothing?: Map<string, Float32Array>;
  /** row divisors by GGUF name (ffn_up's rows when down_proj's input is smoothed: smoothquant.ts downSmoothing) */
  rowSmoothing?: Map<string, Float32Array>;
  /** static int8 activation scales by GGUF name (w8a8-sq-static) */
  actScales?: Map<string, number>;
  /** matrices quantized before the load (GPTQ: quant/gptq.ts), added as they are instead of read from the source */
  prequantized?: Map<string, PrequantizedWeight>;
  /** also quantize the LM head (a separate quantized copy when embeddings are tied) */
  quantHead?: boolean;
  /** load this rank's shard of a tensor-parallel model (parallel/shard.ts) */
  tp?: TpContext;
  /** map the source's file and hand tensors that need no conversion over as ranges of it (ModelSource.range) */
  mmap?: boolean;
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
  const whole = llamaTensors(config);
  const specs: ShardedSpec[] = opts.tp ? tpSpecs(source, whole, opts) : whole;
  // Check presence and shapes before allocating anything natively.
  const maxBytes = source.check(specs);
  const bySpec = new Map(specs.map((s) => [s.name, s]));
  const plan = planWeights(specs.map((s) => ({ ...s, ...localShape(s) })), {
    dtype: opts.dtype, quantHead: !!opts.quantHead, tieWordEmbeddings: config.tieWordEmbeddings,
    ...(opts.quant ? { quant: opts.quant } : {}),
    ...(source.preferredFormat ? { preferred: (t) => source.preferredFormat!(bySpec.get(t.name)!) } : {}),
  });
  for (const w of plan.weights) {
    const s = bySpec.get(w.from ?? w.name)!;
    checkGroupSplit(w.name, s.shard, s.cols, formatGroup(w.native, s.cols), nativeFormatLabel(w.native));
  }
  const { native, contextLength } = createNativeModel(config, opts);
  try {
    const scratch = Buffer.allocUnsafe(maxBytes);
    const files = new Map<string, number>();
    for (const w of plan.weights) {
      const s = bySpec.get(w.from ?? w.name)!;
      const pq = opts.prequantized?.get(w.name);
      if (pq) {
        if (s.shard) throw new InvalidOptionError(`${w.name}: GPTQ weights are whole matrices; tensor parallelism with quantMethod gptq is not supported`);
        wrapNative(`loading ${s.hfName}`, () => native.addWeight(w.name, pq.dtype, pq.bytes(), w.rows, w.cols, w.native, undefined, pq.grid));
        continue;
      }
      const sm = w.from ? undefined : opts.smoothing?.get(w.name);
      const rs = w.from ? undefined : opts.rowSmoothing?.get(w.name);
      const actScale = w.staticScale ? opts.actScales?.get(w.name) : undefined;
      const what = w.from ? "the quantized LM head" : s.hfName;
      // the file's bytes as they are: mapped, not read (a format that keeps them views them in place)
      const r = opts.mmap && !s.shard && !sm && !rs ? source.range?.(s, { format: nativeFormatName(w.native) }) : undefined;
      if (r) {
        let file = files.get(r.path);
        if (file === undefined) files.set(r.path, (file = wrapNative(`mapping ${r.path}`, () => native.mapFile(r.path))));
        const range = { file, offset: r.offset, length: r.length };
        wrapNative(`loading ${what}`, () => native.addWeight(w.name, r.dtype, range, w.rows, w.cols, w.native, actScale));
        continue;
      }
      let { bytes, dtype } = source.read(s, scratch, { format: sm || rs ? "f32" : nativeFormatName(w.native) });
      if (s.shard && !source.readsShards) bytes = takeShard(bytes, dtype, s);
      if (sm || rs) {
        // a shard's columns (row-parallel) or rows (column-parallel) take their part of the factors
        const col0 = s.shard?.axis === "cols" ? s.shard.start : 0, row0 = s.shard?.axis === "rows" && w.native !== "vector" ? s.shard.start : 0;
        const x = toF32(bytes, dtype);
        foldSmoothing(x, w.rows, w.cols, w.native === "vector", sm, rs, { col0, row0 });
        bytes = new Uint8Array(x.buffer);
        dtype = "F32";
      }
      // q8's per-row scale of a row-parallel shard: the whole row's (collective, in the same order on every rank)
      const rowAmax = w.native === "q8" && s.shard?.axis === "cols" ? wrapNative(`loading ${what}`, () => wholeRowAmax(dtype, bytes, w.rows, w.cols)) : undefined;
      wrapNative(`loading ${what}`, () => native.addWeight(w.name, dtype, bytes, w.rows, w.cols, w.native, actScale, undefined, rowAmax));
    }
    const decodeWeightBytes = finishNativeModel(native, plan, config, opts.tp);
    return { config, tokenizer, native, decodeWeightBytes, contextLength };
  } catch (e) {
    native.dispose();
    throw e;
  }
}

/** This rank's shards, after the ranks agree on the model (TensorParallelError on every rank otherwise). */
function tpSpecs(source: ModelSource, whole: TensorSpec[], opts: NativeLoadOptions): ShardedSpec[] {
  const { dtype, quant, quantHead, kvType, contextLength } = opts;
  agreeOnModel(source.name, modelDescription(source, { dtype, quant, quantHead, kvType, contextLength, ranks: opts.tp!.size }));
  return shardSpecs(whole, source.config, opts.tp!);
}
