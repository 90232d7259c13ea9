/** Tests for config.json parsing: real tinycode configs and each rejection rule. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig, parseConfig } from "../src/config.js";
import { ConfigError, ModelNotFoundError, UnsupportedArchitectureError } from "../src/errors.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const REAL_7M = path.join(ROOT, "models/tinycode-7m");
const REAL_100M = "/work/shared/models/tinycode-100m";

/** Minimal valid llama config; override or delete (undefined) keys per test. */
function base(over: Record<string, unknown> = {}): Record<string, unknown> {
  const c: Record<string, unknown> = {
    model_type: "llama", hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
    num_attention_heads: 4, vocab_size: 100, ...over,
  };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c;
}

function rejects(fn: () => unknown, cls: new (...a: never[]) => Error, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    for (const p of parts) assert.ok(e.message.includes(p), `message "${e.message}" lacks "${p}"`);
    return true;
  });
}

test("real tinycode-7m config", () => {
  const c = loadConfig(REAL_7M);
  assert.deepEqual(c, {
    architecture: "llama", hiddenSize: 256, intermediateSize: 704, nLayers: 4, nHeads: 4, nKvHeads: 2,
    headDim: 64, vocabSize: 16384, ropeTheta: 10000, ropeScaling: null, rmsNormEps: 1e-5, maxPositionEmbeddings: 2048,
    tieWordEmbeddings: true, bosTokenId: 0, eosTokenIds: [0],
  });
});

test("real tinycode-100m config", (t) => {
  if (!fs.existsSync(REAL_100M)) {
    t.skip("tinycode-100m not found");
    return;
  }
  const c = loadConfig(REAL_100M);
  assert.equal(c.hiddenSize, 768);
  assert.equal(c.intermediateSize, 2048);
  assert.equal(c.nLayers, 12);
  assert.equal(c.nHeads, 12);
  assert.equal(c.nKvHeads, 4);
  assert.equal(c.headDim, 64);
  assert.equal(c.tieWordEmbeddings, false);
  assert.equal(c.ropeTheta, 10000);
  assert.equal(c.rmsNormEps, 1e-5);
  assert.deepEqual(c.eosTokenIds, [0]);
});

test("defaults", () => {
  const c = parseConfig(base(), "mem");
  assert.equal(c.nKvHeads, 4);
  assert.equal(c.headDim, 16);
  assert.equal(c.ropeTheta, 10000);
  assert.equal(c.rmsNormEps, 1e-6);
  assert.equal(c.maxPositionEmbeddings, 2048);
  assert.equal(c.tieWordEmbeddings, false);
  assert.equal(c.bosTokenId, null);
  assert.deepEqual(c.eosTokenIds, []);
});

test("rope_theta from top level or rope_parameters", () => {
  assert.equal(parseConfig(base({ rope_theta: 500000 }), "mem").ropeTheta, 500000);
  assert.equal(parseConfig(base({ rope_parameters: { rope_type: "default", rope_theta: 1e6 } }), "mem").ropeTheta, 1e6);
  rejects(() => parseConfig(base({ rope_theta: -1 }), "mem"), ConfigError, "rope_theta");
});

test("eos/bos normalization", () => {
  const c = parseConfig(base({ eos_token_id: [1, 2], bos_token_id: 3 }), "mem");
  assert.deepEqual(c.eosTokenIds, [1, 2]);
  assert.equal(c.bosTokenId, 3);
  assert.deepEqual(parseConfig(base({ eos_token_id: 7, bos_token_id: null }), "mem").eosTokenIds, [7]);
  rejects(() => parseConfig(base({ eos_token_id: "2" }), "mem"), ConfigError, "eos_token_id");
  rejects(() => parseConfig(base({ eos_token_id: [1, -1] }), "mem"), ConfigError, "eos_token_id");
  rejects(() => parseConfig(base({ bos_token_id: 1000 }), "mem"), ConfigError, "bos_token_id");
});

test("missing dir or config.json -> ModelNotFoundError", () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-cfg-"));
  rejects(() => loadConfig(path.join(d, "nope")), ModelNotFoundError, "does not exist");
  rejects(() => loadConfig(d), ModelNotFoundError, "config.json");
});

test("unparsable JSON -> ConfigError naming the file", () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-cfg-"));
  const f = path.join(d, "config.json");
  fs.writeFileSync(f, "{ hidden_size: 1");
  rejects(() => loadConfig(d), ConfigError, f, "invalid JSON");
  fs.writeFileSync(f, "[1]");
  rejects(() => loadConfig(d), ConfigError, f, "not a JSON object");
});

test("model_type of no supported family", () => {
  rejects(() => parseConfig(base({ model_type: "gpt2" }), "cfg"), UnsupportedArchitectureError, "cfg", "gpt2");
  rejects(() => parseConfig(base({ model_type: "mixtral" }), "cfg"), UnsupportedArchitectureError, "mixtral");
  // a family of models/family.ts (test/families.test.ts runs them)
  assert.equal(parseConfig(base({ model_type: "mistral" }), "cfg").architecture, "mistral");
  rejects(() => parseConfig(base({ model_type: undefined }), "cfg"), UnsupportedArchitectureError, "missing");
});

test("required positive integers", () => {
  for (const key of ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"]) {
    rejects(() => parseConfig(base({ [key]: undefined }), "cfg"), ConfigError, "cfg", key, "missing");
    for (const bad of ["64", 0, -4, 1.5]) {
      rejects(() => parseConfig(base({ [key]: bad }), "cfg"), ConfigError, key, "positive integer");
    }
  }
});

test("num_key_value_heads must divide num_attention_heads", () => {
  assert.equal(parseConfig(base({ num_key_value_heads: 2 }), "m").nKvHeads, 2);
  rejects(() => parseConfig(base({ num_key_value_heads: 3 }), "m"), ConfigError, "num_key_value_heads", "divide");
  rejects(() => parseConfig(base({ num_key_value_heads: 0 }), "m"), ConfigError, "num_key_value_heads");
});

test("head_dim rules", () => {
  assert.equal(parseConfig(base({ head_dim: 32 }), "m").headDim, 32);
  rejects(() => parseConfig(base({ head_dim: 15 }), "m"), ConfigError, "head_dim", "even");
  rejects(() => parseConfig(base({ head_dim: 0 }), "m"), ConfigError, "head_dim");
  rejects(() => parseConfig(base({ hidden_size: 66 }), "m"), ConfigError, "not divisible");
  rejects(() => parseConfig(base({ hidden_size: 20 }), "m"), ConfigError, "head_dim", "even"); // 20/4 = 5
});

test("rope scaling: llama3 and linear parsed, others UnsupportedArchitectureError naming the type", () => {
  const l3 = { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
  assert.deepEqual(parseConfig(base({ rope_scaling: l3 }), "m").ropeScaling,
    { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  assert.deepEqual(parseConfig(base({ rope_parameters: { ...l3, rope_theta: 500000 } }), "m").ropeScaling?.type, "llama3");
  assert.deepEqual(parseConfig(base({ rope_scaling: { type: "linear", factor: 2 } }), "m").ropeScaling, { type: "linear", factor: 2 });
  rejects(() => parseConfig(base({ rope_scaling: { rope_type: "llama3", factor: 8 } }), "m"), ConfigError, "low_freq_factor");
  rejects(() => parseConfig(base({ rope_scaling: { ...l3, high_freq_factor: 1 } }), "m"), ConfigError, "high_freq_factor > low_freq_factor");
  rejects(() => parseConfig(base({ rope_scaling: { type: "linear", factor: 0 } }), "m"), ConfigError, "factor");
  rejects(() => parseConfig(base({ rope_parameters: { rope_type: "yarn", rope_theta: 1e4 } }), "m"),
    UnsupportedArchitectureError, 'rope scaling type "yarn" is not supported');
  rejects(() => parseConfig(base({ rope_scaling: { type: "dynamic", factor: 2 } }), "m"), UnsupportedArchitectureError, '"dynamic"');
  rejects(() => parseConfig(base({ rope_scaling: { type: "linear", factor: 2 }, rope_parameters: l3 }), "m"), ConfigError, "disagree");
  rejects(() => parseConfig(base({ rope_scaling: "linear" }), "m"), ConfigError, "rope_scaling");
  assert.equal(parseConfig(base({ rope_scaling: null }), "m").ropeTheta, 10000);
  assert.equal(parseConfig(base({ rope_scaling: null }), "m").ropeScaling, null);
  assert.equal(parseConfig(base({ rope_scaling: { rope_type: "default" } }), "m").ropeScaling, null);
});

test("hidden_act must be silu", () => {
  assert.ok(parseConfig(base({ hidden_act: "silu" }), "m"));
  rejects(() => parseConfig(base({ hidden_act: "gelu" }), "m"), UnsupportedArchitectureError, "gelu");
  rejects(() => parseConfig(base({ hidden_act: 1 }), "m"), ConfigError, "hidden_act");
});

test("attention_bias / mlp_bias true -> UnsupportedArchitectureError", () => {
  assert.ok(parseConfig(base({ attention_bias: false, mlp_bias: false }), "m"));
  rejects(() => parseConfig(base({ attention_bias: true }), "m"), UnsupportedArchitectureError, "attention_bias");
  rejects(() => parseConfig(base({ mlp_bias: true }), "m"), UnsupportedArchitectureError, "mlp_bias");
});

test("optional fields of the wrong type", () => {
  rejects(() => parseConfig(base({ rms_norm_eps: "1e-5" }), "m"), ConfigError, "rms_norm_eps");
  rejects(() => parseConfig(base({ max_position_embeddings: -1 }), "m"), ConfigError, "max_position_embeddings");
  rejects(() => parseConfig(base({ tie_word_embeddings: "yes" }), "m"), ConfigError, "tie_word_embeddings");
  rejects(() => parseConfig(base({ rope_parameters: 5 }), "m"), ConfigError, "rope_parameters");
  rejects(() => parseConfig(null, "m"), ConfigError, "not a JSON object");
});
