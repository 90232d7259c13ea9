/**
 * Llama-family architecture: tensor names and the forward graph.
 *
 * Quant-agnostic: the graph only says "matmul with weight X"; the native side
 * dispatches on the weight's storage format. Tensor names follow GGUF
 * (`blk.N.attn_q.weight`); Hugging Face names are mapped at load.
 */
import type { LlamaConfig } from "../config.js";
import type { OpSpec } from "../native.js";

/** A tensor the graph needs, with its expected shape [rows, cols] (PyTorch [out, in]). */
export interface TensorSpec {
  name: string; // GGUF name
  hfName: string;
  rows: number;
  cols: number;
  /** 1-D norm weights stay f32; matrices take the compute format */
  kind: "norm" | "matrix";
}

/** Every tensor of a Llama checkpoint (lm_head absent when embeddings are tied). */
export function llamaTensors(c: LlamaConfig): TensorSpec[] {
  const d = c.hiddenSize, q = c.nHeads * c.headDim, kv = c.nKvHeads * c.headDim, f = c.intermediateSize;
  const t: TensorSpec[] = [{ name: "token_embd.weight", hfName: "model.embed_tokens.weight", rows: c.vocabSize, cols: d, kind: "matrix" }];
  for (let l = 0; l < c.nLayers; l++) {
    const hf = `model.layers.${l}.`, g = `blk.${l}.`;
    t.push(
      { name: g + "attn_norm.weight", hfName: hf + "input_layernorm.weight", rows: 1, cols: d, kind: "norm" },
      { name: g + "attn_q.weight", hfName: hf + "self_attn.q_proj.weight", rows: q, cols: d, kind: "matrix" },
      { name: g + "attn_k.weight", hfName: hf + "self_attn.k_proj.weight", rows: kv, cols: d, kind: "matrix" },
      { name: g + "attn_v.weight", hfName: hf + "self_attn.v_proj.weight", rows: kv, cols: d, kind: "matrix" },
      { name: g + "attn_output.weight", hfName: hf + "self_attn.o_proj.weight", rows: d, cols: q, kind: "matrix" },
      { name: g + "ffn_norm.weight", hfName: hf + "post_attention_layernorm.weight", rows: 1, cols: d, kind: "norm" },
      { name: g + "ffn_gate.weight", hfName: hf + "mlp.gate_proj.weight", rows: f, cols: d, kind: "matrix" },
      { name: g + "ffn_up.weight", hfName: hf + "mlp.up_proj.weight", rows: f, cols: d, kind: "matrix" },
      { name: g + "ffn_down.weight", hfName: hf + "mlp.down_proj.weight", rows: d, cols: f, kind: "matrix" },
    );
  }
  t.push({ name: "output_norm.weight", hfName: "model.norm.weight", rows: 1, cols: d, kind: "norm" });
  if (!c.tieWordEmbeddings) {
    t.push({ name: "output.weight", hfName: "lm_head.weight", rows: c.vocabSize, cols: d, kind: "matrix" });
  }
  return t;
}

/**
 * The forward graph for n tokens. Buffer shapes (rows = tokens, or output rows
 * after `output_rows`):
 *   x [n, d] residual stream; h [n, d] normed; q/att [n, H*hd]; k/v [n, KV*hd];
 *   g/u [n, ffn]; o [n, d]; logits [n_out, vocab]; the last layer's FFN on
 *   output rows only: xo/ho/oo [n_out, d], go/uo [n_out, ffn].
 */
export function llamaGraph(c: LlamaConfig): { ops: OpSpec[]; output: string } {
  const ops: OpSpec[] = [{ op: "embed", weight: "token_embd.weight", out: "x" }];
  const eps = c.rmsNormEps;
  for (let l = 0; l < c.nLayers; l++) {
    const w = (n: string) => `blk.${l}.${n}.weight`;
    // The last layer keeps only the output rows after its attention (as
    // llama.cpp's graph does with inp_out_ids): its FFN runs on those rows
    // alone. Row-wise ops give the same values; a matmul whose summation order
    // depends on the number of rows (llama.cpp's repacked Q4_K: 4-token GEMM
    // tiles vs GEMV) then sees the rows llama.cpp's sees.
    const last = l === c.nLayers - 1;
    const [x, h, g, u, o] = last ? ["xo", "ho", "go", "uo", "oo"] : ["x", "h", "g", "u", "o"];
    ops.push(
      { op: "rms_norm", a: "x", weight: w("attn_norm"), eps, out: "h" },
      { op: "matmul", a: "h", weight: w("attn_q"), out: "q" },
      { op: "matmul", a: "h", weight: w("attn_k"), out: "k" },
      { op: "matmul", a: "h", weight: w("attn_v"), out: "v" },
      { op: "rope", a: "q", heads: c.nHeads },
      { op: "rope", a: "k", heads: c.nKvHeads },
      { op: "kv_store", layer: l, a: "k", b: "v" },
      { op: "attention", layer: l, a: "q", heads: c.nHeads, out: "att" },
      { op: "matmul", a: "att", weight: w("attn_output"), out: "o" },
    );
    if (last) ops.push({ op: "output_rows", a: "o", out: o }, { op: "output_rows", a: "x", out: x });
    ops.push(
      { op: "add", a: x, b: o, out: x },
      { op: "rms_norm", a: x, weight: w("ffn_norm"), eps, out: h },
      { op: "matmul", a: h, weight: w("ffn_gate"), out: g },
      { op: "matmul", a: h, weight: w("ffn_up"), out: u },
      { op: "silu_mul", a: g, b: u, out: g },
      { op: "matmul", a: g, weight: w("ffn_down"), out: o },
      { op: "add", a: x, b: o, out: x },
    );
  }
  ops.push(
    { op: "rms_norm", a: "xo", weight: "output_norm.weight", eps, out: "xo" },
    { op: "matmul", a: "xo", weight: "output.weight", out: "logits" },
  );
  return { ops, output: "logits" };
}
