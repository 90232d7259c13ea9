/**
 * Typed access to the native addon. node-gyp-build finds it: build/Release/lowbit.node
 * (a from-source build: `npm run build`, or `npm install` where no prebuilt fits),
 * else the package's prebuilt prebuilds/<platform>-<arch>/lowbit.glibc.node
 * (`npm run build:prebuilt`; docs/INSTALL.md). $LOWBIT_ADDON names another build.
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { NativeError } from "./errors.js";
import type { SourceDtype } from "./models/source-dtype.js";
import type { Shard } from "./models/shard-spec.js";
import type { GgufBlockFormat, NativeInt4Spec, NativeQ4A8Spec, NativeQ4Spec, QuantNativeFormat } from "./quant/formats.js";

/**
 * A weight's native storage format, as addWeight and formatLayout take it: a
 * typed spec, one row of the native format table (native/src/formats/format.h)
 * plus its parameters as separate fields, validated once by the addon
 * (addon_io.cc spec_from_js). A format without parameters is named by itself:
 * "vector" (an f32 vector: norms, biases), the compute dtypes, "q8", "q4_0",
 * "q8_0", or a GGUF file's own K-quant blocks; int4 formats take an object
 * (quant/formats.ts QUANT_TABLE names each quant format's).
 */
export type NativeWeightFormat = "vector" | "f32" | "bf16" | QuantNativeFormat | GgufBlockFormat | NativeInt4Spec;

export type { NativeInt4Spec, NativeQ4A8Spec, NativeQ4Spec };

/** The native format table's row name of a spec ("q4a8", "f32", "vector", ...). */
export function nativeFormatName(f: NativeWeightFormat): string {
  return typeof f === "string" ? f : f.format;
}

export interface ForwardResult {
  /** [rows, vocab] logits, or [rows] negative log-likelihoods when targets were given */
  data: Float32Array;
  rows: number;
  /** wall time of the native forward step */
  nativeMs: number;
}

/** One op of the forward graph (native/src/graph.h documents each op and field). */
export interface OpSpec {
  op:
    | "embed" | "rms_norm" | "matmul" | "rope" | "kv_store" | "attention" | "add" | "silu_mul" | "output_rows"
    | "layer_norm" | "gelu" | "gelu_erf" | "relu" | "gelu_mul" | "scale" | "softcap" | "pos_embed"
    | "all_reduce" | "all_gather";
  a?: string;
  b?: string;
  out?: string;
  weight?: string;
  /** matmul / layer_norm: an f32 vector weight added to the result */
  bias?: string;
  layer?: number;
  /** rope, attention: the buffer's heads; rms_norm / layer_norm: > 0 normalizes each head (weight [headDim]) */
  heads?: number;
  eps?: number;
  /** rope: rotary dims of each head (0: headDim; must equal the model's ropeDims) */
  dims?: number;
  /** gelu / gelu_mul: "ggml" is llama.cpp's f16-table GELU. rope: "neox" (pairs i, i + dims/2, the HF rotate_half; default) or "gptj" (pairs 2i, 2i + 1); its `layer` picks a ropeThetaLayers theta */
  mode?: "neox" | "gptj" | "ggml" | "row_parallel";
  /** attention: > 0 a sliding window (a query at p sees keys at p - window < pos <= p) */
  window?: number;
  /** attention: the q.k scale (0: 1/sqrt(headDim)); scale: the factor */
  scale?: number;
  /** attention / softcap: cap * tanh(x / cap) */
  softcap?: number;
  /** attention: ALiBi with this max bias (8 for BLOOM / MPT) */
  alibi?: number;
  /** attention under tensor parallelism: its heads are heads `offset`.. of a model of alibiHeads heads (ALiBi's slopes) */
  alibiHeads?: number;
  /** pos_embed: row pos + offset of the position table (OPT: 2); embed: the first vocabulary row of a shard of the table */
  offset?: number;
  /** embed: the whole vocabulary when the table is one rank's shard (tensor parallelism) */
  vocab?: number;
}

/** The scalar description of a stored weight (native/src/weights_io.h). */
export interface StoredWeightMeta {
  /** "vector" (f32 norm weights) or the storage format: "f32", "bf16", "q8", "q4", "q4a8", "q4_0", "q8_0" */
  format: string;
  rows: number;
  cols: number;
  /** padded columns of the packed layout */
  kp: number;
  /** q4 group size along k (= kp per channel); 0 otherwise */
  group: number;
  asym: boolean;
  /** q8 static activation scale (0 = per token) */
  actScale: number;
  /** q4a8 Integer Scale amplifier (a power of two); 0 = float scales (absent in JS input: 0) */
  amplifier?: number;
}

/** One buffer of a stored weight, with its exact size. */
export interface StoredBuffer {
  name: string;
  dtype: "F32" | "BF16" | "F16" | "I8" | "U8" | "I32";
  bytes: number;
}

/** Kernel variants: "auto" (CPUID: amx, avx512, avx2 or ref), "ref" (scalar), "avx2", "avx512", "amx" (avx512 with AMX prefill matmuls; auto's pick where the CPU has AMX). */
export const KERNEL_VARIANTS = ["auto", "ref", "avx2", "avx512", "amx"] as const;
export type KernelVariant = (typeof KERNEL_VARIANTS)[number];

/** Element types of the KV cache (llama.cpp's -ctk / -ctv): f32, f16 at half the bytes, or q8_0 at 17/64 (a head size divisible by 32). */
export const KV_TYPES = ["f32", "f16", "q8_0"] as const;
export type KvType = (typeof KV_TYPES)[number];

/** What collectStats records beyond the per-column maxima. */
export interface ActivationStatsOptions {
  /** histograms of |x| and of each row's max |x| (bins of 2^-7 relative width: src/quant/histogram.ts) */
  histograms?: boolean;
  /** keep every sampleStride-th input row (0: none), at most sampleCap rows */
  sampleStride?: number;
  sampleCap?: number;
  /** accumulate H = X^T X and sum |x| per column (GPTQ, AWQ: native/src/act_hessian.h) */
  hessian?: boolean;
  /** record only the inputs of weights whose name starts with it (sequential GPTQ: "blk.3.") */
  prefix?: string;
}

/** One matmul input's Hessian statistics (collectStats with hessian on). */
export interface ActivationHessian {
  cols: number;
  /** rows (tokens) seen */
  rowsSeen: number;
  /** [cols, cols] X^T X over every row seen */
  hessian: Float64Array;
  /** [cols] sum of |x| per column */
  absSum: Float64Array;
}

/** Bytes [offset, offset + length) of a file NativeModel.mapFile mapped (its id). */
export interface MappedRange {
  file: number;
  offset: number;
  length: number;
}

/** A chosen int4 grid of a q4 / q4a8 matrix (GPTQ): per (row, group) scale and offset, [rows * groups]. */
export interface Q4Grid {
  scales: Float32Array;
  offsets: Float32Array;
}

/** gptqQuantize's result: the dequantized weights, their grid, and (q4_0) the GGUF blocks. */
export interface GptqResult extends Q4Grid {
  /** [rows * cols] dequantized values (s * q + o) */
  weights: Float32Array;
  /** q4_0: GGUF Q4_0 blocks, rows of cols / 32 */
  blocks?: Uint8Array;
}

/** One matmul input's calibration statistics (native/src/act_stats.h). */
export interface ActivationDetail {
  cols: number;
  /** rows (tokens) seen */
  rowsSeen: number;
  /** count per bin of |x| (32768 bins; empty without histograms) */
  hist: Float64Array;
  /** count per bin of each row's max |x| */
  tokmax: Float64Array;
  /** sampled rows, [rows, cols] */
  sample: Float32Array;
}

export interface NativeModelOptions {
  threads: number;
  kernels: KernelVariant;
  nLayers: number;
  nKvHeads: number;
  headDim: number;
  nCtx: number;
  ropeTheta: number;
  /** 1 / linear rope scaling factor (default 1) */
  ropeFreqScale?: number;
  /** headDim / 2 per-pair divisors of the rotary frequencies (llama3 rope scaling, GGUF rope_freqs) */
  ropeFreqFactors?: Float32Array;
  /** longrope: the long divisors, used by a step whose last position + 1 exceeds ropeLongFrom (ropeFreqFactors: the short ones) */
  ropeFreqFactorsLong?: Float32Array;
  ropeLongFrom?: number;
  /** cos / sin multiplied by this (longrope's attention factor; default 1) */
  ropeAttnFactor?: number;
  /** rotary dims of each head (default headDim; 0: no RoPE, so a cache shift moves keys without turning them) */
  ropeDims?: number;
  /** per layer rope theta (Gemma 3: local and global layers); a rope op with `layer` uses its layer's */
  ropeThetaLayers?: Float32Array;
  /** per layer 1 / linear rope scaling factor (Gemma 3's global layers; default ropeFreqScale everywhere) */
  ropeFreqScaleLayers?: Float32Array;
  /** KV-cache element type (default "f32") */
  kvType?: KvType;
  /** one rank's shard of a tensor-parallel model (MPI build, after mpiInit): rank 0 leads, the others follow() */
  tp?: boolean;
}

export interface NativeModel {
  /**
   * format: "vector" (f32 norm weights), "f32", "bf16", "q8", { format: "q4", group, asym }, { format: "q4a8", group, amplifier }, "q4_0", "q8_0";
   * dtype "Q4_0" / "Q8_0": raw GGUF blocks (rows of cols / 32 blocks; into q4_0 / q8_0 of the same type they are
   * repacked bit for bit, into any other format dequantized first); actScale: static int8 activation scale (q8);
   * grid: a q4 / q4a8 matrix's codes are rounded on this grid instead of round-to-nearest's (GPTQ);
   * rowAmax: a q8 matrix's max |w| of each whole row (a row-parallel shard's scales: mpiRowAmax)
   */
  /** Maps a model file read-only for the model's lifetime; returns its id for addWeight's ranges. */
  mapFile(path: string): number;
  /** bytes: the data, or a range of a file mapFile mapped (formats that keep the bytes as they are view them in place) */
  addWeight(name: string, dtype: SourceDtype, bytes: Uint8Array | MappedRange, rows: number, cols: number, format: NativeWeightFormat, actScale?: number, grid?: Q4Grid, rowAmax?: Float32Array): void;
  /** addWeight over a loaded weight of the same shape (sequential GPTQ); the graph must be set again before the next forward. */
  replaceWeight(name: string, dtype: SourceDtype, bytes: Uint8Array, rows: number, cols: number, format: NativeWeightFormat): void;
  aliasWeight(name: string, target: string): void;
  setGraph(ops: OpSpec[], output: string): void;
  /** With `out` (exactly the result's length) the result is written into it and returned as `data`. */
  forward(tokens: Int32Array, positions: Int32Array, all: boolean, targets?: Int32Array, out?: Float32Array): Promise<ForwardResult>;
  /**
   * Continuous batching (runtime/batch.ts): sequence i is counts[i] consecutive tokens of `tokens`
   * appended to KV slot slots[i] (each slot at most once); its result rows are its last row's
   * logits, or every row's where all[i] is 1. Weights are read once for all rows.
   */
  forwardBatch(slots: Int32Array, counts: Int32Array, all: Uint8Array, tokens: Int32Array, positions: Int32Array, out?: Float32Array): Promise<ForwardResult>;
  /** KV slots 0..n-1, each of the model's context capacity (slot 0 is forward()'s; new ones empty). */
  setSlots(n: number): void;
  /** The cache methods act on KV slot `slot` (default 0). */
  cacheSize(slot?: number): number;
  cachePositions(slot?: number): Int32Array;
  rollback(n: number, slot?: number): void;
  drop(start: number, count: number, shift: number, slot?: number): void;
  clearCache(slot?: number): void;
  /** Calibration: record statistics of every matmul's input while on (per-column max |x| always; native/src/act_stats.h). */
  collectStats(on: boolean, opts?: ActivationStatsOptions): void;
  /** weight name -> per-input-column max |x| seen since collectStats(true) */
  activationStats(): Record<string, Float32Array>;
  /** weight name -> histograms and sampled rows of its input (as collectStats' options asked) */
  activationDetail(): Record<string, ActivationDetail>;
  /** weight name -> X^T X and sum |x| of its input (collectStats with hessian on) */
  activationHessians(): Record<string, ActivationHessian>;
  /** Per matrix: format, shape, bytes; w4a8 adds group, Integer Scale amplifier (0 = float scales), worst-case int32 bound and squared weight error sums. */
  weightStats(): Record<string, WeightStat>;
  /** mappedBytes: the part of weightBytes viewed in place in a mapped model file (GGUF, mmap) */
  info(): { kernels: string; threads: number; weightBytes: number; mappedBytes: number; cacheBytes: number; nCtx: number; kvType: KvType; slots: number };
  /** Saved models: the stored weights' names and aliases (name -> target). */
  listWeights(): { names: string[]; aliases: Record<string, string> };
  exportWeight(name: string): StoredWeightMeta & { buffers: StoredBuffer[] };
  /** Copies one buffer's bytes into `into` (exactly the buffer's size). */
  exportWeightBuffer(name: string, buffer: string, into: Uint8Array): void;
  /**
   * Adds a stored weight; every buffer's size is checked against the meta (throws on any mismatch).
   * With `shard` (tensor parallelism: src/saved/tp.ts), only that part of it: the same codes and scales.
   */
  importWeight(name: string, meta: StoredWeightMeta, buffers: Record<string, Uint8Array>, shard?: Shard): void;
  /** A q4_0 / q8_0 weight (or an alias of one) as GGUF blocks, row-major [rows][cols / 32] (for writing GGUF files). */
  ggmlBytes(name: string): Uint8Array;
  /** Tensor parallelism, ranks > 0: runs rank 0's steps until rank 0 disposes its model; resolves to the step count. */
  follow(): Promise<number>;
  dispose(): void;
}

export interface WeightStat {
  format: string;
  rows: number;
  cols: number;
  bytes: number;
  group?: number;
  amplifier?: number;
  isBound?: number;
  sseFloat?: number;
  sseInt?: number;
}

export interface CpuInfo {
  features: string;
  physicalCores: number;
  logicalCores: number;
  kernels: string;
}

/** multiply-add kinds of the compute-peak probe: fp32 FMA, bf16 dot (vdpbf16ps), int8 dot (vpdpbusd / vpmaddubsw) */
export type PeakKind = "fp32" | "bf16" | "int8";

export interface Addon {
  NativeModel: new (opts: NativeModelOptions) => NativeModel;
  cpuInfo(): CpuInfo;
  measureBandwidth(threads: number, mbytes: number, reps: number): number;
  /** register-only multiply-add peak of one instruction kind (gops 0 and isa "none" where the CPU has none) */
  measureComputePeak(kind: PeakKind, threads: number, ms: number, reps: number): { gops: number; isa: string };
  /** index of the largest element (lowest on ties, NaN never wins unless all are NaN) */
  argmax(x: Float32Array): number;
  /** the largest softmax probability of logits x (NaN when none is finite) */
  topProb(x: Float32Array): number;
  /** The buffers a stored weight with this meta must have (throws when the meta is inconsistent). */
  weightLayout(meta: StoredWeightMeta, name?: string): StoredBuffer[];
  /** Whether a stored weight of this format ("vector", "bf16", "q8", ...) can be split over ranks (importWeight's shard). */
  canShard(format: string): boolean;
  /** How a [rows, cols] weight loaded in `format` ("vector", "bf16", { format: "q4", group: 128 }, ...) is stored (actScale 0). */
  formatLayout(format: NativeWeightFormat, rows: number, cols: number): StoredWeightMeta;
  /** Decodes out.length values of ggml type `typeId` from `bytes` (exactly their size) into `out` (src/formats/gguf-dequant.ts). */
  ggmlDequantize(typeId: number, bytes: Uint8Array, out: Float32Array): Float32Array;
  /**
   * GGUF Q4_0 / Q8_0 blocks of a row-major [rows, cols] f32 matrix (cols % 32 == 0), from ggml's reference
   * quantizers (quantize_row_q4_0_ref / _q8_0_ref: byte-exact with llama-quantize without an imatrix).
   */
  ggmlQuantize(type: "q4_0" | "q8_0" | "q5_0" | "q5_1" | "q4_k" | "q5_k" | "q6_k", data: Float32Array, rows: number, cols: number): Uint8Array;
  /** GPTQ of W [rows, cols] with input Hessian H [cols, cols] onto an int4 format's grid (native/src/gptq.h). */
  gptqQuantize(w: Float32Array, rows: number, cols: number, h: Float64Array, format: NativeWeightFormat, opts: { actOrder?: boolean; damp?: number; threads: number }): GptqResult;
  /** sum over rows of e H e^T, e = W's round-to-nearest error on the format's grid with columns scaled by s first (AWQ). */
  q4OutputError(w: Float32Array, rows: number, cols: number, h: Float64Array, format: NativeWeightFormat, s: Float32Array | undefined, opts: { threads: number; kernels: KernelVariant }): number;
  /** Tensor parallelism (native/src/addon_tp.h): whether this build has MPI (npm run build:mpi). */
  mpiAvailable(): boolean;
  /** MPI_Init once; this process's rank and the job's size. */
  mpiInit(): { rank: number; size: number };
  /** Collective: whether every rank passed the same two 32-bit words. */
  mpiAgree(lo: number, hi: number): boolean;
  mpiFinalize(): void;
  /** Collective: every rank's x, by rank. */
  mpiGather(x: number): number[];
  /** MPI_Abort: ends every rank of the job with this exit code (nothing when MPI is not initialized). */
  mpiAbort(code: number): void;
  /** Collective: each row's max |x| over every rank's columns of a row-major [rows, cols] tensor. */
  mpiRowAmax(dtype: SourceDtype, bytes: Uint8Array, rows: number, cols: number): Float32Array;
}

let cached: Addon | undefined;

/** This package's root directory (this file is dist/src/native.js). */
export function packageRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..");
}

/** The prebuilt binaries' directory for this system, as node-gyp-build names it: prebuilds/linux-x64. */
export function prebuiltDir(): string {
  return join(packageRoot(), "prebuilds", `${process.platform}-${process.arch}`);
}

/**
 * A file built with the addon: build/Release/<name> (from source), else the package's
 * prebuilt copy in prebuiltDir() (the sandbox helper ships there); the build path when neither exists.
 */
export function builtFile(name: string): string {
  const built = join(packageRoot(), "build", "Release", name);
  if (existsSync(built)) return built;
  const prebuilt = join(prebuiltDir(), name);
  return existsSync(prebuilt) ? prebuilt : built;
}

/** The MPI build of the addon (`npm run build:mpi`), which tensor parallelism loads. */
export function mpiAddonPath(): string {
  return join(packageRoot(), "build-mpi", "build", "Release", "lowbit.node");
}

let chosen: string | undefined;

/**
 * Makes addon() load `path` (the MPI build, for --tp); throws when another build is loaded already.
 * Returns false when that build is already the one loaded.
 */
export function chooseAddon(path: string): boolean {
  if (cached && chosen !== path) throw new NativeError(`the addon ${addonPath()} is loaded already; ${path} must be chosen before the first model`);
  if (cached) return false;
  chosen = path;
  return true;
}

/** The addon file addon() loads: the chosen one (chooseAddon), $LOWBIT_ADDON, else what node-gyp-build resolves (a build, else a fitting prebuilt). */
export function addonPath(): string {
  if (chosen) return chosen;
  const env = process.env.LOWBIT_ADDON; // another build of the addon (test/asan.test.ts: the ASan one)
  if (env) {
    if (!existsSync(env)) throw new NativeError(`native addon not built ($LOWBIT_ADDON=${env} missing)`);
    return env;
  }
  // the checkout's own build by name: build/Release also holds the test-only addon (lowbit_test.node)
  const built = join(packageRoot(), "build", "Release", "lowbit.node");
  if (existsSync(built)) return built;
  const require = createRequire(import.meta.url);
  try {
    const gypBuild = require("node-gyp-build") as { path(dir: string): string };
    return gypBuild.path(packageRoot());
  } catch (e) {
    const tuple = `${process.platform}-${process.arch}`;
    throw new NativeError(
      `native addon not built (no ${join(packageRoot(), "build", "Release", "lowbit.node")} and no prebuilt in prebuilds/${tuple} fits this system): ` +
        "run `npm install` or `npm run build`",
      { cause: e },
    );
  }
}

/** Loads the addon once; a missing build is a typed error with the fix. */
export function addon(): Addon {
  if (cached) return cached;
  const path = addonPath();
  const require = createRequire(import.meta.url);
  try {
    cached = require(path) as Addon;
  } catch (e) {
    throw new NativeError(`native addon ${path} failed to load (${(e as Error).message.split("\n")[0]}): rebuild it from source with \`npm run build\``, { cause: e });
  }
  return cached;
}

/** Runs a native call, turning its plain Error into a NativeError. */
export function wrapNative<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw nativeError(what, e);
  }
}

/** The NativeError of a failure of `what` (a rejected native promise: await it in try, then throw this). */
export function nativeError(what: string, e: unknown): NativeError {
  return new NativeError(`${what}: ${(e as Error).message}`, { cause: e });
}
