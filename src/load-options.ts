/**
 * LLM.load's options and their checks (before anything is read).
 */
import { InvalidOptionError } from "./errors.js";
import { KERNEL_VARIANTS, KV_TYPES, type KernelVariant, type KvType } from "./native.js";
import type { ComputeDtype } from "./loader.js";
import { checkQuant, LOAD_IN_4BIT, LOAD_IN_8BIT, type QuantFormat } from "./quant/formats.js";
import { checkQuantMethod, type QuantMethod } from "./quant/method.js";
import { checkDynamicInputs, checkStaticScales, type InputKind, type StaticScaleMethod } from "./quant/static-scales.js";
import type { SavedHeader } from "./saved/format.js";

export const COMPUTE_DTYPES = ["f32", "bf16"] as const;
export { KV_TYPES, type KvType } from "./native.js";
export { KERNEL_VARIANTS, type KernelVariant } from "./native.js";

/**
 * The kernel variant a load without `kernels` uses: $LOWBIT_KERNELS when set
 * (e.g. LOWBIT_KERNELS=avx2 npm test runs the whole suite on the AVX2 kernels
 * of an AVX-512 machine), else "auto".
 */
export function defaultKernels(): KernelVariant {
  const v = process.env.LOWBIT_KERNELS;
  return v === undefined || v === "" ? "auto" : checkChoice("LOWBIT_KERNELS", v, KERNEL_VARIANTS);
}

/** `v` if it is one of `choices`, else an InvalidOptionError naming the option as `name`. */
export function checkChoice<T extends string>(name: string, v: unknown, choices: readonly T[]): T {
  if (typeof v === "string" && (choices as readonly string[]).includes(v)) return v as T;
  const list = choices.length === 2 ? `${choices[0]} or ${choices[1]}` : `${choices.slice(0, -1).join(", ")} or ${choices[choices.length - 1]}`;
  throw new InvalidOptionError(`${name} must be ${list}, got ${JSON.stringify(v)}`);
}

export interface LoadOptions {
  /** "f32": weights widened to f32 (the reference numerics); "bf16": bf16 weights, f32 accumulate. Default "bf16". */
  dtype?: ComputeDtype;
  /** Compute threads (default: physical cores). */
  threads?: number;
  /** KV-cache capacity in tokens (default: max_position_embeddings). */
  contextLength?: number;
  /** Kernel variant: "auto" (CPUID), "ref" (scalar), "avx2", "avx512", "amx" (avx512 with AMX-INT8/BF16 prefill matmuls). */
  kernels?: KernelVariant;
  /**
   * Concurrent generations (llama-server's --parallel, Ollama's OLLAMA_NUM_PARALLEL): this many
   * KV slots, each of contextLength tokens, and generate / stream calls made at the same time run
   * together, one native step for all of them (continuous batching: runtime/batch.ts). Default 1:
   * calls run one at a time. Not with tp, and a call with a draft model runs alone.
   */
  parallel?: number;
  /**
   * With parallel > 1: the most tokens one batched native step carries (llama.cpp's --ubatch-size;
   * default 512). Decode steps go first; prompts fill the rest in chunks, so running streams keep
   * their pace while a long prompt is read.
   */
  batchTokens?: number;
  /**
   * KV-cache element type: "f32" (default: llama.cpp's numerics with -ctk f32) or "f16" (half the
   * cache memory and the bytes a decode step reads from it; queries and softmax stay f32).
   */
  kvType?: KvType;
  /** Quantize the transformer blocks' linear layers at load: see src/quant/formats.ts. */
  quant?: QuantFormat;
  /** Quantize the LM head too (default false: it keeps the compute dtype). */
  quantHead?: boolean;
  /** Shorthand for quant: "w8a8". */
  loadIn8bit?: boolean;
  /** Shorthand for quant: "w4a8-g128-ismax" (int4 weights, int8 activations, exact integer scales: docs/QUANTIZATION.md). */
  loadIn4bit?: boolean;
  /** SmoothQuant calibration data (jsonl of texts) for the w8a8-sq formats. */
  calib?: string;
  /** Calibration texts (default 32) and tokens per text (default 512). */
  calibSamples?: number;
  calibTokens?: number;
  /** SmoothQuant migration strength alpha in [0, 1] (default 0.5). */
  smoothAlpha?: number;
  /** w8a8-sq-static: how the static activation scales are calibrated, "mse" (default), "max" or "percentile" (src/quant/static-scales.ts). */
  staticScales?: StaticScaleMethod;
  /** the percentile of |x| for staticScales "percentile" (default 99.99) */
  staticPercentile?: number;
  /** w8a8-sq-static: matmul inputs that keep per-token scales, of "qkv", "o", "gate_up", "down" (default ["down"]: docs/ACCURACY.md) */
  dynamicInputs?: InputKind[];
  /** w8a8-sq-static: smooth down_proj's input through ffn_up's rows (gated MLPs), so that it can take a static scale too (with dynamicInputs: []) */
  smoothDown?: boolean;
  /** How int4 formats choose their values: "rtn" (default), "gptq" or "awq" (calibrated: src/quant/method.ts). */
  quantMethod?: QuantMethod;
  /** quantMethod "gptq": quantize columns by decreasing Hessian diagonal (default false). */
  actOrder?: boolean;
  /** quantMethod "gptq": damping, a fraction of the Hessian's mean diagonal added to it (default 0.01). */
  gptqDamp?: number;
  /** quantMethod "gptq": every Hessian from the float model in one pass (default false: layer by layer, layers before already quantized). */
  gptqOneShot?: boolean;
  /** Progress bar on stderr during calibration. */
  progress?: boolean;
  /** Weight seed of a "synthetic:<shape>" model (an unsigned 32-bit integer; default 42). Other models reject it. */
  seed?: number;
  /**
   * Tensor parallelism (docs/PARALLEL.md): this process is one rank of an mpirun job and loads its
   * shard (the MPI build of the addon: npm run build:mpi). Rank 0's model generates; the others call follow().
   */
  tp?: boolean;
  /**
   * GGUF files: map the file and use the tensors that need no conversion (K-quants) in place, without
   * reading or copying them: a faster start and pages shared with other processes mapping the file.
   * Default false, unlike llama.cpp: on the machine measured (docs/GGUF.md, "Mapping the file")
   * decoding from the page cache's 4 KiB pages ran ~14% slower than from lowbit's own huge-page
   * buffers, and the copying load already starts faster than llama.cpp's.
   */
  mmap?: boolean;
}

export function checkLoadOptions(o: LoadOptions, saved = false): void {
  if (o.dtype !== undefined) checkChoice("dtype", o.dtype, COMPUTE_DTYPES);
  if (o.threads !== undefined && (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > 256)) {
    throw new InvalidOptionError(`threads must be an integer in [1, 256], got ${String(o.threads)}`);
  }
  if (o.contextLength !== undefined && (!Number.isInteger(o.contextLength) || o.contextLength < 2)) {
    throw new InvalidOptionError(`contextLength must be an integer >= 2, got ${String(o.contextLength)}`);
  }
  if (o.kernels !== undefined) checkChoice("kernels", o.kernels, KERNEL_VARIANTS);
  if (o.parallel !== undefined && (!Number.isInteger(o.parallel) || o.parallel < 1 || o.parallel > 256)) {
    throw new InvalidOptionError(`parallel must be an integer in [1, 256], got ${String(o.parallel)}`);
  }
  if (o.batchTokens !== undefined && (!Number.isInteger(o.batchTokens) || o.batchTokens < 1 || o.batchTokens > 65536)) {
    throw new InvalidOptionError(`batchTokens must be an integer in [1, 65536], got ${String(o.batchTokens)}`);
  }
  if (o.parallel !== undefined && o.parallel > 1 && o.tp) throw new InvalidOptionError("parallel > 1 does not combine with tp (a tensor-parallel model runs one sequence)");
  if (o.kvType !== undefined) checkChoice("kvType", o.kvType, KV_TYPES);
  if (o.tp !== undefined && typeof o.tp !== "boolean") throw new InvalidOptionError(`tp must be a boolean, got ${JSON.stringify(o.tp)}`);
  if (o.mmap !== undefined && typeof o.mmap !== "boolean") throw new InvalidOptionError(`mmap must be a boolean, got ${JSON.stringify(o.mmap)}`);
  if (o.seed !== undefined && (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff)) {
    throw new InvalidOptionError(`seed must be an integer in [0, 2^32), got ${String(o.seed)}`);
  }
  if (o.quant !== undefined) checkQuant(o.quant);
  if (o.staticScales !== undefined || o.staticPercentile !== undefined || o.dynamicInputs !== undefined || o.smoothDown !== undefined) {
    if (o.smoothDown !== undefined && typeof o.smoothDown !== "boolean") throw new InvalidOptionError(`smoothDown must be a boolean, got ${String(o.smoothDown)}`);
    checkStaticScales(o.staticScales, o.staticPercentile);
    checkDynamicInputs(o.dynamicInputs);
    if (!saved && quantOf(o) !== "w8a8-sq-static") throw new InvalidOptionError("staticScales, staticPercentile, dynamicInputs and smoothDown apply to quant w8a8-sq-static only");
  }
  const set = [o.quant !== undefined, !!o.loadIn8bit, !!o.loadIn4bit].filter(Boolean).length;
  if (set > 1) throw new InvalidOptionError("use only one of quant, loadIn8bit and loadIn4bit");
  if (o.quantHead && set === 0 && !saved) throw new InvalidOptionError("quantHead needs a quant format");
  if (!saved) checkQuantMethod(o.quantMethod, quantOf(o), o.actOrder, o.gptqDamp, o.gptqOneShot);
}

/** A saved model is loaded as saved: options may repeat its settings, not change them. */
export function checkSavedOptions(dir: string, h: SavedHeader, o: LoadOptions): void {
  const what = `${dir} is a saved ${h.quant}${h.quantHead ? " (quantized head)" : ""} ${h.dtype} model`;
  const redo = `re-quantize its source checkpoint (${h.sourceModel}) instead`;
  const q = quantOf(o);
  if (q !== undefined && q !== h.quant) throw new InvalidOptionError(`${what}; it cannot be loaded as ${q}: ${redo}`);
  if (o.quantHead && !h.quantHead) throw new InvalidOptionError(`${what}, its LM head is not quantized: ${redo}`);
  if (o.dtype !== undefined && o.dtype !== h.dtype) throw new InvalidOptionError(`${what}; dtype ${o.dtype} needs a new quantization: ${redo}`);
  const calib = (["calib", "calibSamples", "calibTokens", "smoothAlpha", "staticScales", "staticPercentile", "dynamicInputs", "smoothDown", "quantMethod", "actOrder", "gptqDamp", "gptqOneShot"] as const).filter((k) => o[k] !== undefined);
  if (calib.length) throw new InvalidOptionError(`${what}, already quantized: calibration options (${calib.join(", ")}) do not apply`);
}

export function quantOf(o: LoadOptions): QuantFormat | undefined {
  return o.quant ?? (o.loadIn8bit ? LOAD_IN_8BIT : o.loadIn4bit ? LOAD_IN_4BIT : undefined);
}
