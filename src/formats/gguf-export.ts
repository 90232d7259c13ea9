/**
 * Writes a model source (a Hugging Face directory, a synthetic model) as a
 * llama.cpp GGUF file: `general.*` / `llama.*` keys, the tokenizer, and every
 * tensor in the output type, with attn_q / attn_k rows permuted into
 * llama.cpp's rotary layout (gguf-rope.ts). Tensors are produced one at a
 * time while the file is written, so memory stays near one tensor.
 *
 *   f32 | f16 | bf16   every matrix in that type (bf16 sources copy exactly)
 *   q8_0 | q4_0        every matrix, token_embd and output included, in
 *                      ggml's blocks of 32 (ggml's reference quantizers), as
 *                      `llama-quantize --pure` would write it
 *   q4_k | q5_k | q6_k K-quant super-blocks of 256 (lowbit's restatement of
 *                      ggml's quantize_row_*_ref: llama-quantize's bytes), every
 *                      matrix (as --pure)
 *   q4_k_m | q5_k_m    llama.cpp's mixes: each tensor's type as llama-quantize
 *                      picks it (gguf-kquant-mix.ts)
 * Norm weights are always F32, as llama.cpp's converter writes them.
 */
import type { LlamaConfig } from "../config.js";
import { InvalidOptionError } from "../errors.js";
import { FAMILIES } from "../models/family.js";
import { llamaTensors, type TensorSpec } from "../models/llama.js";
import { nativeRopeOptions } from "../models/rope-scaling.js";
import { isBlockDtype } from "../models/source-dtype.js";
import type { ModelSource } from "../models/source.js";
import { addon } from "../native.js";
import { toF32 } from "../quant/tensors.js";
import { f32ToHalfBytes } from "./f16.js";
import { ggufConfigMetadata, GGUF_FILE_TYPES } from "./gguf-config.js";
import { KQUANT_FILE_TYPE, KQUANT_OUT_TYPES, kquantTensorTypes, type KQuantOutType } from "./gguf-kquant-mix.js";
import { permuteRopeRows, ropeHeads } from "./gguf-rope.js";
import type { GgufValue } from "./gguf-types.js";
import { writeGguf, type GgufWriteResult, type GgufWriteTensor } from "./gguf-write.js";

export const GGUF_OUT_TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0", ...KQUANT_OUT_TYPES] as const;
export type GgufOutType = (typeof GGUF_OUT_TYPES)[number];

export function checkGgufOutType(t: unknown): GgufOutType {
  if (typeof t !== "string" || !(GGUF_OUT_TYPES as readonly string[]).includes(t)) {
    throw new InvalidOptionError(`--type must be one of ${GGUF_OUT_TYPES.join(", ")}; got ${JSON.stringify(t)}`);
  }
  return t as GgufOutType;
}

export interface GgufExportOptions {
  /** general.name (default: the source's name) */
  name?: string;
  /** called after each tensor is written */
  onTensor?: (index: number, count: number, name: string) => void;
}

/** Writes `source` to `out` as a GGUF file of `type`. */
export function exportGguf(source: ModelSource, out: string, type: GgufOutType, opts: GgufExportOptions = {}): GgufWriteResult {
  const config = source.config;
  const specs = llamaTensors(config);
  const scratch = Buffer.allocUnsafe(source.check(specs));
  const isK = (KQUANT_OUT_TYPES as readonly string[]).includes(type);
  const fileType = isK ? KQUANT_FILE_TYPE[type as KQuantOutType] : (type.toUpperCase() as keyof typeof GGUF_FILE_TYPES);
  const metadata: [string, GgufValue][] = [
    ...ggufConfigMetadata(config, opts.name ?? source.name, fileType),
    ...source.tokenizerMetadata(config.vocabSize),
  ];
  // one GGUF tensor per name: the parts of a fused one (llama.cpp's attn_qkv, phi3's ffn_up) written one after another
  const groups = new Map<string, TensorSpec[]>();
  for (const s of specs) {
    const name = s.ggufName ?? s.name;
    groups.set(name, [...(groups.get(name) ?? []), s]);
  }
  const entries = [...groups.entries()];
  const kTypes = isK ? kquantTypesOf(config, type as KQuantOutType) : undefined;
  const tensors: GgufWriteTensor[] = [...ropeFreqsTensor(config), ...entries.map(([name, parts], i): GgufWriteTensor => {
    const s = parts[0]!;
    parts.sort((x, y) => (x.ggufSlice?.ranges[0]![0] ?? 0) - (y.ggufSlice?.ranges[0]![0] ?? 0));
    const total = s.ggufSlice?.total ?? (s.kind === "norm" ? s.cols : s.rows);
    if (parts.reduce((n, p) => n + (p.kind === "norm" ? p.cols : p.rows), 0) !== total) throw new Error(`internal: the parts of ${name} do not fill it`);
    const tType = s.kind === "norm" ? "F32" : kTypes ? kTypes.get(name)! : fileType;
    return {
      name,
      dims: s.kind === "norm" ? [total] : [s.cols, total],
      type: tType,
      write: (emit) => {
        for (const p of parts) emit(tensorBytes(source, config, p, tType, scratch));
        opts.onTensor?.(i, entries.length, name);
      },
    };
  })];
  return writeGguf(out, { metadata, tensors });
}

/** The ggml type of each GGUF matrix (by GGUF name) of a K-quant export of this config (gguf-kquant-mix.ts). */
export function kquantTypesOf(config: LlamaConfig, type: KQuantOutType): Map<string, string> {
  const cols = new Map<string, number>();
  for (const s of llamaTensors(config)) if (s.kind !== "norm") cols.set(s.ggufName ?? s.name, s.cols);
  const matrices = [...cols].map(([name, c]) => ({ name, cols: c }));
  return kquantTensorTypes(type, { arch: FAMILIES[config.architecture].ggufArch ?? config.architecture, nLayers: config.nLayers, nHeads: config.nHeads, nKvHeads: config.nKvHeads }, matrices);
}

/** rope_freqs.weight, as llama.cpp's converter writes it for llama3 rope scaling (F32, head_dim/2 divisors). */
function ropeFreqsTensor(c: LlamaConfig): GgufWriteTensor[] {
  const factors = nativeRopeOptions(c).ropeFreqFactors;
  if (!factors) return [];
  return [{ name: "rope_freqs.weight", dims: [factors.length], type: "F32", data: new Uint8Array(factors.buffer) }];
}

/** One tensor's bytes in the output type, q/k rows in llama.cpp's order. */
function tensorBytes(source: ModelSource, c: LlamaConfig, s: TensorSpec, type: string, scratch: Buffer): Uint8Array {
  const { bytes, dtype } = source.read(s, scratch);
  let out: Uint8Array;
  if (dtype === type) out = bytes; // bf16 -> BF16, and q4_0 / q8_0 blocks of a quantized lowbit model, exactly
  else if (isBlockDtype(dtype)) {
    throw new InvalidOptionError(`${s.name} holds ${dtype} blocks: write this model with --type ${dtype.toLowerCase()}`);
  } else {
    const x = toF32(bytes, dtype);
    if (type === "F32") out = new Uint8Array(x.buffer);
    else if (type === "F16" || type === "BF16") out = f32ToHalfBytes(x, type);
    else out = addon().ggmlQuantize(type.toLowerCase() as "q4_0" | "q8_0" | "q5_0" | "q5_1" | "q4_k" | "q5_k" | "q6_k", x, s.rows, s.cols);
  }
  const heads = FAMILIES[c.architecture].ggufRopePermuted ? ropeHeads(c, s.name) : 0;
  return heads ? permuteRopeRows(out, s.rows, out.length / s.rows, heads, "toGguf") : out;
}
