/**
 * A loaded model's own weights as a ModelSource, for writing a quantized
 * lowbit model (a saved model directory) to GGUF without the original
 * checkpoint: q4_0 / q8_0 matrices come back as the GGUF blocks they hold
 * (exactly; NativeModel.ggmlBytes), norm vectors as f32. Other storage
 * formats have no GGUF type and are refused.
 */
import type { LlamaConfig } from "../config.js";
import { InvalidOptionError } from "../errors.js";
import { ggufTokenizerMetadata } from "../tokenizer/gguf-write.js";
import type { TensorSpec } from "../models/llama.js";
import type { ModelSource } from "../models/source.js";
import type { NativeModel } from "../native.js";
import type { Tokenizer } from "../tokenizer.js";

const BLOCK = { q4_0: "Q4_0", q8_0: "Q8_0" } as const;

export function loadedModelSource(native: NativeModel, config: LlamaConfig, tokenizer: Tokenizer, name: string, tokenizerDir: string): ModelSource {
  const meta = (s: TensorSpec) => {
    const m = native.exportWeight(s.name);
    if (s.kind === "matrix" && !(m.format in BLOCK)) {
      throw new InvalidOptionError(`${name}: weight ${s.name} is stored as ${m.format}, which has no GGUF type (only q4_0 / q8_0 models can be written from their quantized weights)`);
    }
    return m;
  };
  return {
    name,
    origin: tokenizerDir,
    config,
    tokenizer,
    check(specs) {
      let max = 0;
      for (const s of specs) max = Math.max(max, ...meta(s).buffers.map((b) => b.bytes));
      return max;
    },
    read(spec) {
      const m = meta(spec);
      if (spec.kind === "norm") {
        const out = new Uint8Array(spec.cols * 4);
        native.exportWeightBuffer(spec.name, m.buffers[0]!.name, out);
        return { bytes: out, dtype: "F32" };
      }
      return { bytes: native.ggmlBytes(spec.name), dtype: BLOCK[m.format as keyof typeof BLOCK] };
    },
    tokenizerMetadata: (vocabSize) => ggufTokenizerMetadata(tokenizerDir, { vocabSize }),
  };
}
