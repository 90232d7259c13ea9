/**
 * A GGUF file of the llama architecture as a model source: config from the
 * `llama.*` keys, the tokenizer stored in the file, tensors read one at a time
 * into the loader's reused scratch buffer (never the V8 heap; see loader.ts).
 *
 * Tensor types (docs/GGUF.md "Loading"):
 *   F32, F16, BF16   handed over as they are (the compute dtype, or --quant)
 *   Q4_0, Q8_0       repacked bit-exactly into the native q4_0 / q8_0 formats,
 *                    which compute like llama.cpp's CPU backend
 *   Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS
 *                    kept as they are (native q2_k, ..., iq4_xs: native/src/formats/),
 *                    computed like llama.cpp's CPU backend
 *   other types      dequantized to f32 and requantized to q8_0 (or --quant)
 * attn_q / attn_k rows are put back into the Hugging Face rotary layout
 * (gguf-rope.ts), so a GGUF file and its HF original run identically.
 */
import { basename } from "node:path";
import { configFromGguf } from "../formats/gguf-config.js";
import { dequantizeGgml } from "../formats/gguf-dequant.js";
import { openGguf, readTensorBytes, type GgufFile, type GgufTensorInfo } from "../formats/gguf.js";
import { tokenizerFromGguf } from "../tokenizer/gguf.js";
import { permuteRopeRows, ropeHeads } from "../formats/gguf-rope.js";
import { TokenizerError, WeightsFormatError } from "../errors.js";
import { checkNoExtraLayers, refuseUnknownTensors } from "./layers.js";
import type { LlamaConfig } from "../config.js";
import type { TensorSpec } from "./graph.js";
import { FAMILIES } from "./family.js";
import { BLOCK_DTYPES } from "./source-dtype.js";
import { sliceRows } from "./slice.js";
import type { ModelSource, SourceDtype } from "./source.js";
import type { NativeWeightFormat } from "../native.js";

/** ggml types handed to the native side as they are. */
const PASS: Record<string, SourceDtype> = {
  F32: "F32", F16: "F16", BF16: "BF16", ...Object.fromEntries(BLOCK_DTYPES.map((t) => [t, t])),
};
/** native formats that hold a ggml block type without conversion (its lower-case name) */
const NATIVE_BLOCK_FORMAT: Record<string, NativeWeightFormat> = Object.fromEntries(
  BLOCK_DTYPES.map((t) => [t, t.toLowerCase() as NativeWeightFormat]),
);

export function isGgufPath(model: string): boolean {
  return /\.gguf$/i.test(model);
}

export function ggufSource(path: string): ModelSource {
  const file = openGguf(path);
  const config = configFromGguf(file);
  checkNoExtraLayers(file.tensors.keys(), config, "gguf", path, `${file.getString("general.architecture")}.block_count`);
  const tokenizer = tokenizerFromGguf(file);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new TokenizerError(`${path}: the tokenizer has ${tokenizer.vocabSize} tokens, more than the model's vocabulary of ${config.vocabSize}`);
  }
  const info = (s: TensorSpec) => tensorInfo(file, s);
  // read() and range() share these: the dtype a tensor's bytes keep going into `format` (undefined:
  // dequantized to f32), and whether its rows come back from llama.cpp's RoPE order
  const keptDtype = (t: GgufTensorInfo, format?: string): SourceDtype | undefined => {
    const block = NATIVE_BLOCK_FORMAT[t.typeName];
    return block && block !== format ? undefined : PASS[t.typeName];
  };
  const ropePermuted = (spec: TensorSpec) => !!FAMILIES[config.architecture].ggufRopePermuted && !!ropeHeads(config, spec.name);
  const embdType = file.tensors.get("token_embd.weight")?.typeName;
  return {
    name: basename(path).replace(/\.gguf$/i, ""),
    defaultDtype: embdType === "F32" || embdType === "F16" ? "f32" : "bf16",
    origin: path,
    config,
    tokenizer: tokenizer.vocabSize < config.vocabSize ? tokenizer.withPaddedVocab(config.vocabSize) : tokenizer,
    check(specs) {
      let max = 0;
      for (const s of specs) {
        const t = info(s);
        const total = s.ggufSlice?.total;
        const want = s.kind === "norm" ? [total ?? s.cols] : [s.cols, total ?? s.rows];
        if (t.dims.length !== want.length || t.dims.some((v, i) => v !== want[i])) {
          throw new WeightsFormatError(`${path}: tensor '${s.ggufName ?? s.name}' has ggml dims [${t.dims}], expected [${want}] from its ${file.getString("general.architecture")}.* metadata`);
        }
        if (s.kind === "norm" && t.typeName !== "F32" && !PASS[t.typeName]) {
          throw new WeightsFormatError(`${path}: norm tensor '${s.name}' has type ${t.typeName}; expected F32, F16 or BF16`);
        }
        // a dequantized tensor needs its f32 size
        max = Math.max(max, t.nbytes, PASS[t.typeName] ? 0 : t.nelements * 4);
      }
      // after the missing / dims checks: every other tensor must be one lowbit reads (rope_freqs: the config's scaling)
      refuseUnknownTensors(file.tensors.keys(), new Set([...specs.map((s) => s.ggufName ?? s.name), "rope_freqs.weight", "rope_factors_long.weight", "rope_factors_short.weight"]), path);
      return max;
    },
    // the file's own tokenizer keys, as they are
    tokenizerMetadata: () => [...file.metadata].filter(([k]) => k.startsWith("tokenizer.")),
    preferredFormat(spec) {
      const t = info(spec);
      if (spec.kind === "norm" || PASS[t.typeName] && !NATIVE_BLOCK_FORMAT[t.typeName]) return undefined;
      return NATIVE_BLOCK_FORMAT[t.typeName] ?? "q8_0";
    },
    range(spec, opts) {
      const t = info(spec);
      const dtype = keptDtype(t, opts?.format);
      if (!dtype || spec.ggufSlice || ropePermuted(spec)) return undefined;
      return { path, offset: t.offset, length: t.nbytes, dtype };
    },
    read(spec, scratch, opts) {
      const t = info(spec);
      let bytes: Uint8Array = readTensorBytes(file, t, scratch);
      let dtype = keptDtype(t, opts?.format);
      if (!dtype) {
        bytes = new Uint8Array(dequantizeGgml(t.type, bytes, t.nelements).buffer);
        dtype = "F32";
      }
      if (spec.ggufSlice) bytes = sliceRows(bytes, spec.ggufSlice, spec.ggufName ?? spec.name);
      return { bytes: ropePermuted(spec) ? unpermute(config, spec, bytes) : bytes, dtype };
    },
  };
}

function tensorInfo(file: GgufFile, s: TensorSpec): GgufTensorInfo {
  const name = s.ggufName ?? s.name;
  const t = file.tensors.get(name);
  if (!t) throw new WeightsFormatError(`${file.path}: tensor '${name}' is missing`);
  return t;
}

/** attn_q / attn_k back into the HF rotary row order. */
function unpermute(c: LlamaConfig, spec: TensorSpec, bytes: Uint8Array): Uint8Array {
  const heads = ropeHeads(c, spec.name)!;
  return permuteRopeRows(bytes, spec.rows, bytes.length / spec.rows, heads, "toHf");
}
