/**
 * Family configs (src/config.ts, src/models/family.ts): each fixture's
 * config.json parses into its family with the values the family's
 * mechanisms need, and the switches lowbit does not run are refused by name
 * (UnsupportedArchitectureError), never ignored; a checkpoint whose tensors
 * belong to another family is refused naming them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { familyParams, parseConfig } from "../src/config.js";
import { UnsupportedArchitectureError } from "../src/errors.js";
import { LLM } from "../src/index.js";
import { REPO } from "./helpers/paths.js";

const FIXTURES = join(REPO, "test", "fixtures", "families");
const have = existsSync(join(FIXTURES, "qwen2", "config.json"));
const cfg = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(FIXTURES, name, "config.json"), "utf8")) as Record<string, unknown>;

test("each fixture's config: its family and the values of its mechanisms", { skip: have ? false : "no fixtures" }, () => {
  const p = (name: string) => { const c = parseConfig(cfg(name), name); return { c, f: familyParams(c) }; };
  assert.equal(p("qwen2").c.ropeTheta, 1e6);
  assert.equal(p("qwen2").c.tieWordEmbeddings, true);
  assert.deepEqual(p("mistral").f.windows, [8, 8]);
  assert.deepEqual(p("qwen2").f.windows, [0, 0]);
  assert.deepEqual(p("starcoder2").f.windows, [8, 8]);
  assert.equal(p("starcoder2").f.act, "gelu_tanh");
  const big = p("gpt_bigcode");
  assert.deepEqual([big.c.nKvHeads, big.c.intermediateSize, big.f.nPositions, big.f.rotaryDims], [1, 128, 128, 0]);
  const g2 = p("gemma2").f;
  assert.deepEqual([g2.windows, g2.attnSoftcap, g2.finalSoftcap, g2.attnScale], [[8, 0], 2, 3, 0.25]);
  const g3 = p("gemma3").f;
  assert.deepEqual([g3.windows, g3.layerRopeTheta, g3.finalSoftcap], [[8, 0], [10000, 1e6], 0]);
  assert.deepEqual([p("gpt_neox").f.rotaryDims, p("gpt_neox").f.act], [4, "gelu_erf"]);
  assert.deepEqual([p("gptj").f.rotaryDims, p("gptj").f.act], [8, "gelu_tanh"]);
  assert.deepEqual([p("falcon").c.nKvHeads, p("falcon").f.act], [1, "gelu_erf"]);
  assert.deepEqual([p("mpt").f.alibiMaxBias, p("mpt").c.intermediateSize, p("mpt").f.rotaryDims], [8, 256, 0]);
  assert.equal(p("bloom").f.alibiMaxBias, 8);
  assert.deepEqual([p("opt").f.nPositions, p("opt").f.posOffset, p("opt").f.act], [130, 2, "relu"]);
});

test("switches lowbit does not run are refused by name", { skip: have ? false : "no fixtures" }, () => {
  const refused: [string, Record<string, unknown>, RegExp][] = [
    ["falcon", { new_decoder_architecture: true, num_kv_heads: 3 }, /falcon_gqa with num_kv_heads 3 that does not divide/],
    ["falcon", { new_decoder_architecture: true, num_kv_heads: 2, num_ln_in_parallel_attn: 1 }, /num_ln_in_parallel_attn=1/],
    ["falcon", { alibi: true }, /alibi=true/],
    ["falcon", { parallel_attn: false }, /parallel_attn=false/],
    ["gpt_neox", { use_parallel_residual: false }, /use_parallel_residual=false/],
    ["mpt", { attn_config: { alibi: true, clip_qkv: 6 } }, /clip_qkv/],
    ["mpt", { attn_config: { alibi: false } }, /attn_config\.alibi/],
    ["bloom", { apply_residual_connection_post_layernorm: true }, /apply_residual_connection_post_layernorm/],
    ["opt", { do_layer_norm_before: false }, /do_layer_norm_before=false/],
    ["opt", { word_embed_proj_dim: 32 }, /word_embed_proj_dim/],
    ["qwen2", { use_sliding_window: true }, /use_sliding_window=true/],
    ["phi3", { rope_scaling: { type: "yarn", factor: 4 } }, /rope scaling type "yarn"/],
    ["starcoder2", { use_bias: false }, /use_bias=false/],
    ["gemma3", { attn_logit_softcapping: 50 }, /attn_logit_softcapping/],
    ["gemma2", { hidden_activation: "swish_beta" }, /hidden_activation "swish_beta"/],
  ];
  for (const [name, edit, re] of refused) {
    assert.throws(() => parseConfig({ ...cfg(name), ...edit }, name), (e: Error) => e instanceof UnsupportedArchitectureError && re.test(e.message), `${name} ${JSON.stringify(edit)}`);
  }
});

test("a checkpoint read as another family: its extra tensors are refused by name", { skip: have ? false : "no fixtures" }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "lowbit-family-"));
  try {
    // StarCoder2's tensors (biases, c_fc) under a Mistral config
    cpSync(join(FIXTURES, "starcoder2"), dir, { recursive: true });
    const c = cfg("starcoder2");
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...c, model_type: "mistral", hidden_act: "silu" }));
    await assert.rejects(LLM.load(dir, { threads: 1 }), /tensor 'model\.layers\.0\.mlp\.gate_proj\.weight' is missing/);
    // Qwen3's tensors under a Qwen2 config: q/k norms it would not read, q/k/v biases it lacks
    cpSync(join(FIXTURES, "qwen3"), dir, { recursive: true });
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...cfg("qwen3"), model_type: "qwen2" }));
    await assert.rejects(LLM.load(dir, { threads: 1 }), /self_attn\.q_proj\.bias' is missing/);
    // Qwen2's tensors under a Llama config: its biases are not silently dropped
    cpSync(join(FIXTURES, "qwen2"), dir, { recursive: true });
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...cfg("qwen2"), model_type: "llama" }));
    await assert.rejects(LLM.load(dir, { threads: 1 }), /tensor\(s\) lowbit does not know for this architecture: model\.layers\.0\.self_attn\.k_proj\.bias, model\.layers\.0\.self_attn\.q_proj\.bias/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
