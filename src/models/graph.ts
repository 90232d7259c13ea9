/**
 * The one graph builder: a config and its family's description (family.ts)
 * become the list of tensors the model reads (with their names in a Hugging
 * Face checkpoint and in a GGUF file, fused projections as row slices) and
 * the forward graph, a flat list of ops over named activation buffers.
 *
 * Format-agnostic: the graph only says "matmul with weight X"; the native
 * side dispatches on the weight's storage format. Native weight names follow
 * GGUF (`blk.N.attn_q.weight`). For Llama the tensors and ops are exactly
 * those lowbit always built (test/reference.test.ts holds its outputs).
 *
 * Buffers: x [n, d] residual stream; h [n, d] normed; q/att [n, H*hd];
 * k/v [n, KV*hd]; g/u [n, ffn]; o/m [n, d]; logits [n_out, vocab].
 */
import { familyParams, type LlamaConfig } from "../config.js";
import { UnsupportedArchitectureError } from "../errors.js";
import type { OpSpec } from "../native.js";
import type { Shard } from "./shard-spec.js";
import { FAMILIES, type Fused, type GlobalRole, type LayerRole, type SourceName } from "./family.js";

/** A tensor the graph needs, with its shape [rows, cols] (PyTorch [out, in]). */
export interface TensorSpec {
  /** the native weight's name (GGUF naming) */
  name: string;
  /** the HF tensor it is read from (for a slice: the fused tensor) */
  hfName: string;
  rows: number;
  cols: number;
  /** "norm": a 1-D f32 vector (norm weights and biases; cols entries); "matrix": takes the compute format */
  kind: "norm" | "matrix";
  /** the rows of a fused HF tensor it is (elements for vectors) */
  hfSlice?: RowSlice;
  /** the GGUF tensor it is read from when not `name` (llama.cpp's fused attn_qkv, ffn_up), and the slice */
  ggufName?: string;
  ggufSlice?: RowSlice;
  /** the checkpoint stores w of a norm computing x * (1 + w): 1 is added at load (HF only) */
  hfPlusOne?: boolean;
  /** tensor parallelism: the part of this tensor one rank loads (parallel/shard.ts); rows / cols stay the whole tensor's */
  shard?: Shard;
}

/** Row ranges [start, count] of a tensor of `total` rows, taken in order. */
export interface RowSlice { total: number; ranges: [number, number][] }

/** Where part `index` of a fused projection lies. */
function slice(c: LlamaConfig, f: Fused): RowSlice {
  const hd = c.headDim, q = c.nHeads * hd, kv = c.nKvHeads * hd;
  if (f.parts === "qkv_groups") {
    // [kv heads][heads / kv heads queries, k, v][hd]: each group's queries, or its key, or its value
    const per = c.nHeads / c.nKvHeads, group = (per + 2) * hd;
    return {
      total: c.nKvHeads * group,
      ranges: Array.from({ length: c.nKvHeads }, (_, g): [number, number] =>
        f.index === 0 ? [g * group, per * hd] : [g * group + (per + f.index - 1) * hd, hd]),
    };
  }
  if (f.parts === "qkv_heads") {
    // [heads][q, k, v][hd] (NeoX, BLOOM): every head's block of the part
    return { total: 3 * q, ranges: Array.from({ length: c.nHeads }, (_, h): [number, number] => [h * 3 * hd + f.index * hd, hd]) };
  }
  const rows = f.parts === "qkv" ? [q, kv, kv] : [c.intermediateSize, c.intermediateSize];
  return { total: rows.reduce((a, b) => a + b, 0), ranges: [[rows.slice(0, f.index).reduce((a, b) => a + b, 0), rows[f.index]!]] };
}

/** Every tensor the model reads, in load order (lm_head absent when embeddings are tied). */
export function modelTensors(c: LlamaConfig): TensorSpec[] {
  const fam = FAMILIES[c.architecture], t = fam.traits, p = familyParams(c);
  const d = c.hiddenSize, q = c.nHeads * c.headDim, kv = c.nKvHeads * c.headDim, f = c.intermediateSize;
  const out: TensorSpec[] = [];
  /** a weight (and its bias) of a role, named in both conventions */
  const add = (
    gguf: string, hf: SourceName, ggufFused: Fused | undefined, hfPrefix: string,
    kind: TensorSpec["kind"], rows: number, cols: number, opts: { bias?: boolean; plusOne?: boolean } = {}, ggufRename?: string,
  ) => {
    for (const part of opts.bias ? (["weight", "bias"] as const) : (["weight"] as const)) {
      const isBias = part === "bias";
      const s: TensorSpec = {
        name: `${gguf}.${part}`,
        hfName: `${hfPrefix}${typeof hf === "string" ? hf : hf.name}.${part}`,
        rows: isBias ? 1 : rows,
        cols: isBias ? rows : cols,
        kind: isBias ? "norm" : kind,
      };
      if (kind === "norm" && isBias) s.cols = cols; // a norm's bias is as wide as its weight
      if (typeof hf !== "string") s.hfSlice = slice(c, hf);
      const dot = gguf.lastIndexOf(".");
      if (ggufFused) {
        s.ggufName = `${gguf.slice(0, dot + 1)}${ggufFused.name}.${part}`;
        s.ggufSlice = slice(c, ggufFused);
      } else if (ggufRename) s.ggufName = `${gguf.slice(0, dot + 1)}${ggufRename}.${part}`;
      if (opts.plusOne && !isBias) s.hfPlusOne = true;
      out.push(s);
    }
  };
  const global = (role: GlobalRole, kind: TensorSpec["kind"], rows: number, cols: number, opts: { bias?: boolean; plusOne?: boolean } = {}) =>
    add(role, fam.hfGlobal[role]!, undefined, "", kind, rows, cols, opts);
  const norm = { bias: t.normBias, plusOne: t.normPlusOne };

  global("token_embd", "matrix", c.vocabSize, d);
  if (t.positions === "learned") global("position_embd", "matrix", p.nPositions, d);
  if (t.embedNorm) global("token_embd_norm", "norm", 1, d, norm);
  for (let l = 0; l < c.nLayers; l++) {
    const layer = (role: LayerRole, kind: TensorSpec["kind"], rows: number, cols: number, opts: { bias?: boolean; plusOne?: boolean } = {}) =>
      add(`blk.${l}.${role}`, fam.hfLayer[role]!, fam.ggufFused?.[role], `${fam.hfLayerPrefix}${l}.`, kind, rows, cols, opts, fam.ggufRoleNames?.[role]);
    layer("attn_norm", "norm", 1, d, norm);
    layer("attn_q", "matrix", q, d, { bias: t.qkvBias });
    layer("attn_k", "matrix", kv, d, { bias: t.qkvBias });
    layer("attn_v", "matrix", kv, d, { bias: t.qkvBias });
    if (t.qkNorm) {
      layer("attn_q_norm", "norm", 1, c.headDim, { plusOne: t.normPlusOne });
      layer("attn_k_norm", "norm", 1, c.headDim, { plusOne: t.normPlusOne });
    }
    layer("attn_output", "matrix", d, q, { bias: t.oBias });
    if (t.postNorms) layer("post_attention_norm", "norm", 1, d, norm);
    if (t.residual !== "parallel_shared_norm") layer("ffn_norm", "norm", 1, d, norm);
    if (t.gated) layer("ffn_gate", "matrix", f, d, { bias: t.mlpBias });
    layer("ffn_up", "matrix", f, d, { bias: t.mlpBias });
    layer("ffn_down", "matrix", d, f, { bias: t.mlpBias });
    if (t.postNorms) layer("post_ffw_norm", "norm", 1, d, norm);
  }
  global("output_norm", "norm", 1, d, norm);
  if (!c.tieWordEmbeddings) global("output", "matrix", c.vocabSize, d, { bias: t.outputBias });
  return out;
}

/**
 * The forward graph for n tokens. `output` "logits": [n_out, vocab]; "hidden": the final hidden
 * states after the final norm, without the LM head, [n_out, hiddenSize] (embeddings).
 */
export function modelGraph(c: LlamaConfig, output: "logits" | "hidden" = "logits"): { ops: OpSpec[]; output: string } {
  const fam = FAMILIES[c.architecture], t = fam.traits, p = familyParams(c);
  const eps = c.rmsNormEps;
  const norm = (a: string, weight: string, out: string): OpSpec =>
    t.norm === "rms"
      ? { op: "rms_norm", a, weight: `${weight}.weight`, eps, out }
      : { op: "layer_norm", a, weight: `${weight}.weight`, ...(t.normBias ? { bias: `${weight}.bias` } : {}), eps, out };
  const matmul = (a: string, weight: string, out: string, bias: boolean): OpSpec =>
    ({ op: "matmul", a, weight: `${weight}.weight`, ...(bias ? { bias: `${weight}.bias` } : {}), out });
  const rope = (a: string, heads: number, layer: number): OpSpec => ({
    op: "rope", a, heads, ...(p.rotaryDims !== c.headDim ? { dims: p.rotaryDims } : {}), ...(t.ropeMode !== "neox" ? { mode: t.ropeMode } : {}),
    ...(p.layerRopeTheta ? { layer } : {}),
  });
  const act = (a: string, out: string): OpSpec =>
    p.act === "gelu_tanh" ? { op: "gelu", a, out } : p.act === "gelu_ggml" ? { op: "gelu", a, mode: "ggml", out }
      : p.act === "gelu_erf" ? { op: "gelu_erf", a, out } : { op: "relu", a, out };

  const ops: OpSpec[] = [{ op: "embed", weight: "token_embd.weight", out: "x" }];
  if (t.positions === "learned") ops.push({ op: "pos_embed", a: "x", weight: "position_embd.weight", offset: p.posOffset, out: "x" });
  if (t.embedScale) ops.push({ op: "scale", a: "x", scale: Math.sqrt(c.hiddenSize), out: "x" });
  if (t.embedNorm) ops.push(norm("x", "token_embd_norm", "x"));
  for (let l = 0; l < c.nLayers; l++) {
    const w = (n: string) => `blk.${l}.${n}`;
    ops.push(
      norm("x", w("attn_norm"), "h"),
      matmul("h", w("attn_q"), "q", t.qkvBias),
      matmul("h", w("attn_k"), "k", t.qkvBias),
      matmul("h", w("attn_v"), "v", t.qkvBias),
    );
    if (t.qkNorm) {
      ops.push(
        { op: "rms_norm", a: "q", weight: w("attn_q_norm.weight"), heads: c.nHeads, eps, out: "q" },
        { op: "rms_norm", a: "k", weight: w("attn_k_norm.weight"), heads: c.nKvHeads, eps, out: "k" },
      );
    }
    if (t.positions === "rope") ops.push(rope("q", c.nHeads, l), rope("k", c.nKvHeads, l));
    ops.push(
      { op: "kv_store", layer: l, a: "k", b: "v" },
      {
        op: "attention", layer: l, a: "q", heads: c.nHeads, out: "att",
        ...(p.windows[l] ? { window: p.windows[l] } : {}),
        ...(p.attnScale ? { scale: p.attnScale } : {}),
        ...(p.attnSoftcap ? { softcap: p.attnSoftcap } : {}),
        ...(p.alibiMaxBias ? { alibi: p.alibiMaxBias } : {}),
      },
      matmul("att", w("attn_output"), "o", t.oBias),
    );
    if (t.postNorms) ops.push(norm("o", w("post_attention_norm"), "o"));
    // The last layer keeps only the output rows after its attention (as
    // llama.cpp's graph does with inp_out_ids): its MLP runs on those rows
    // alone. Row-wise ops give the same values; a matmul whose summation order
    // depends on the number of rows (llama.cpp's repacked Q4_K: 4-token GEMM
    // tiles vs GEMV) then sees the rows llama.cpp's sees.
    const last = l === c.nLayers - 1;
    const r = (b: string) => (last ? `${b}o` : b); // x -> xo, h -> ho, ...: [n_out, ...] buffers
    if (last) {
      ops.push({ op: "output_rows", a: "o", out: r("o") }, { op: "output_rows", a: "x", out: r("x") });
      if (t.residual === "parallel_shared_norm") ops.push({ op: "output_rows", a: "h", out: r("h") });
    }
    const x = r("x"), o = r("o"), g = r("g"), u = r("u");
    // the MLP's input: the residual after attention (sequential), or the block's input (parallel)
    const mlpIn = r(t.residual === "parallel" ? "h2" : "h");
    if (t.residual === "sequential") ops.push({ op: "add", a: x, b: o, out: x });
    if (t.residual !== "parallel_shared_norm") ops.push(norm(x, w("ffn_norm"), mlpIn));
    const mlpOut = t.residual === "sequential" ? o : r("m");
    if (t.gated) {
      ops.push(
        matmul(mlpIn, w("ffn_gate"), g, t.mlpBias),
        matmul(mlpIn, w("ffn_up"), u, t.mlpBias),
        p.act === "silu" ? { op: "silu_mul", a: g, b: u, out: g } : p.act === "gelu_tanh" ? { op: "gelu_mul", a: g, b: u, out: g }
          : p.act === "gelu_ggml" ? { op: "gelu_mul", a: g, b: u, mode: "ggml", out: g } : unsupportedGatedAct(p.act),
      );
    } else {
      ops.push(matmul(mlpIn, w("ffn_up"), g, t.mlpBias), p.act === "silu" ? unsupportedGatedAct(p.act) : act(g, g));
    }
    ops.push(matmul(g, w("ffn_down"), mlpOut, t.mlpBias));
    if (t.postNorms) ops.push(norm(mlpOut, w("post_ffw_norm"), mlpOut));
    // parallel: x + (attn + mlp)
    if (t.residual !== "sequential") ops.push({ op: "add", a: o, b: mlpOut, out: o });
    ops.push({ op: "add", a: x, b: o, out: x });
  }
  // (the last layer left the output rows in xo)
  ops.push(norm("xo", "output_norm", "xo"));
  if (output === "hidden") return { ops, output: "xo" };
  ops.push(
    { op: "matmul", a: "xo", weight: "output.weight", ...(t.outputBias ? { bias: "output.bias" } : {}), out: "logits" },
  );
  if (p.finalSoftcap) ops.push({ op: "softcap", a: "logits", softcap: p.finalSoftcap, out: "logits" });
  return { ops, output: "logits" };
}

function unsupportedGatedAct(act: string): never {
  throw new UnsupportedArchitectureError(`activation ${act} in this MLP form (gated: silu or gelu_tanh; plain: gelu_tanh, gelu_erf, relu) is not supported`);
}
