/**
 * Where a model's config, tokenizer and tensors come from. The loader feeds
 * tensors to the native model through this interface only, so a Hugging Face
 * safetensors directory and a synthetic (seeded random) model load through
 * the same loop (loader.ts).
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig, type LlamaConfig } from "../config.js";
import { ModelNotFoundError, WeightsFormatError } from "../errors.js";
import { openSafetensorsDir, readTensorBytes, readTensorRanges } from "../formats/safetensors.js";
import { localShape, shardRanges, takeShard } from "./shard-spec.js";
import type { SourceDtype } from "./source-dtype.js";
import type { NativeWeightFormat } from "../native.js";
import type { GgufValue } from "../formats/gguf-types.js";
import { ggufTokenizerMetadata } from "../tokenizer/gguf-write.js";
import { Tokenizer } from "../tokenizer.js";
import { checkNoExtraLayers, refuseUnknownTensors } from "./layers.js";
import type { TensorSpec } from "./graph.js";
import { hfShape, hfTransform } from "./slice.js";

/** The model shipped inside the package (tinycode-7m); also the synthetic models' tokenizer. */
export const EMBEDDED_MODEL_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "models", "tinycode-7m");

export interface ModelSource {
  /** short name for reports: a directory's base name, or "synthetic:<shape>" */
  readonly name: string;
  /** where it comes from, for messages: a directory, or the synthetic shape and seed */
  readonly origin: string;
  readonly config: LlamaConfig;
  readonly tokenizer: Tokenizer;
  /**
   * Checks that every tensor exists with the shape the config implies (before
   * anything native is allocated); returns the largest tensor's size in bytes.
   */
  check(specs: readonly TensorSpec[]): number;
  /**
   * One tensor's raw little-endian bytes, in `scratch` when it is large enough.
   * A ggml block type (GGUF Q4_0 / Q8_0) comes as it is only when `format`
   * (the native format it goes into) holds it unchanged, else as f32.
   */
  read(spec: TensorSpec, scratch?: Buffer, opts?: { format?: string }): { bytes: Uint8Array; dtype: SourceDtype };
  /**
   * Where read() would take a tensor's bytes unchanged from a file: the file,
   * the byte range and its dtype, so the loader can map the file instead of
   * reading it (GGUF; `format` as for read). undefined: the bytes need a
   * conversion (dequantization, row slicing or permutation), or the source has
   * no such file.
   */
  range?(spec: TensorSpec, opts?: { format?: string }): { path: string; offset: number; length: number; dtype: SourceDtype } | undefined;
  /**
   * The native format a tensor keeps when no quantization is requested
   * (a GGUF Q4_0 matrix stays q4_0); undefined: the compute dtype.
   */
  preferredFormat?(spec: TensorSpec): NativeWeightFormat | undefined;
  /** the tokenizer as GGUF `tokenizer.*` metadata for a vocabulary of vocabSize ids (GGUF export) */
  tokenizerMetadata(vocabSize: number): [string, GgufValue][];
  /**
   * read() returns only `spec.shard`'s part of a tensor (tensor parallelism), and check() sizes the
   * scratch for the parts; otherwise the loader cuts the part out of the whole tensor.
   */
  readonly readsShards?: boolean;
  /** compute dtype when none is asked for (default bf16; f32 for GGUF F32/F16 files, which bf16 would round) */
  readonly defaultDtype?: "f32" | "bf16";
}

export type { SourceDtype } from "./source-dtype.js";

/** A Hugging Face directory of a supported family (models/family.ts): config.json, tokenizer.json, safetensors (single or sharded). */
export function hfSource(dir: string): ModelSource {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ModelNotFoundError(`model directory not found: ${dir}`);
  }
  const config = loadConfig(dir);
  const tokenizer = Tokenizer.load(dir, { vocabSize: config.vocabSize });
  const index = openSafetensorsDir(dir);
  checkNoExtraLayers(index.tensors.keys(), config, "hf", dir, "config.json num_hidden_layers");
  const info = (s: TensorSpec) => {
    const t = index.tensors.get(s.hfName);
    if (!t) throw new WeightsFormatError(`${dir}: tensor '${s.hfName}' is missing`);
    return t;
  };
  /** a tensor-parallel shard read straight from the file: an unfused tensor kept as it is */
  const direct = (s: TensorSpec) => !!s.shard && !s.hfSlice && !s.hfPlusOne && !!shardRanges(info(s).dtype, s);
  return {
    name: basename(resolve(dir)),
    origin: dir,
    config,
    tokenizer,
    check(specs) {
      let max = 0;
      for (const s of specs) {
        const t = info(s);
        const want = hfShape(s);
        if (t.shape.length !== want.length || t.shape.some((v, i) => v !== want[i])) {
          throw new WeightsFormatError(`${t.file}: tensor '${s.hfName}' has shape [${t.shape}], expected [${want}] from config.json`);
        }
        // a tensor-parallel shard read by ranges needs only its own bytes
        max = Math.max(max, direct(s) ? (t.nbytes / (s.rows * s.cols)) * localShape(s).rows * localShape(s).cols : t.nbytes);
      }
      // after the missing / shape checks (their messages are the more telling): every other tensor must be known.
      // rotary_emb.inv_freq: a buffer older checkpoints saved (recomputed from the config); lm_head.weight of a tied model: unused, as in transformers
      const ignorable = (n: string) => n.endsWith(".rotary_emb.inv_freq") || (config.tieWordEmbeddings && n === "lm_head.weight");
      refuseUnknownTensors(index.tensors.keys(), new Set(specs.map((s) => s.hfName)), dir, ignorable);
      return max;
    },
    tokenizerMetadata: (vocabSize) => ggufTokenizerMetadata(dir, { vocabSize }),
    readsShards: true,
    read(spec, scratch) {
      const t = info(spec);
      const ranges = direct(spec) ? shardRanges(t.dtype, spec) : null;
      if (ranges) return { bytes: readTensorRanges(t, ranges, scratch), dtype: t.dtype };
      const whole = hfTransform(spec, readTensorBytes(t, scratch), t.dtype);
      return spec.shard ? { bytes: takeShard(whole.bytes, whole.dtype, spec), dtype: whole.dtype } : whole;
    },
  };
}
