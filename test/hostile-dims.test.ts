/**
 * Issue 16 item 2: model dimensions are bounded (CONFIG_LIMITS) and checked
 * against the tensors present before anything proportional to them is
 * allocated; a KV cache that cannot be allocated is a typed error naming its size.
 * (On b276a23 a block count of 2^31 - 1 grew the heap for minutes until V8 aborted.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { CONFIG_LIMITS, parseConfig } from "../src/config.js";
import { ConfigError, WeightsFormatError } from "../src/errors.js";
import { embeddedGguf, embeddedJson } from "../src/fuzz/model-files.js";
import { ggufField, setGgufField } from "../src/fuzz/gguf-fields.js";
import { hostileModel, loadRejects, runCapped, scratch } from "./helpers/hostile.js";
import { REPO } from "./helpers/paths.js";

const dir = scratch("dims");
const base = embeddedGguf(path.join(dir, "base.gguf"), "q8_0");

/** The base GGUF with llama.block_count set to n. */
function ggufWithBlocks(n: number): string {
  const buf = fs.readFileSync(base);
  setGgufField(buf, ggufField(buf, "value", "llama.block_count"), BigInt(n));
  const out = path.join(dir, `blocks-${n}.gguf`);
  fs.writeFileSync(out, buf);
  return out;
}

const withConfig = (over: Record<string, unknown>) =>
  hostileModel({ "config.json": JSON.stringify({ ...embeddedJson("config.json"), ...over }) });

test("a GGUF block_count of 2^31 - 1 or 2^24 - 1 is a ConfigError", { timeout: 30_000 }, async () => {
  for (const n of [2147483647, 16777215]) {
    await loadRejects(ggufWithBlocks(n), ConfigError, new RegExp(`"num_hidden_layers" is ${n}, above the limit of 1024`));
  }
});

test("a GGUF block_count that differs from the blk.N layers present is a WeightsFormatError", { timeout: 30_000 }, async () => {
  // 3 of 4 layers loaded silently on b276a23; 5 names the first missing tensor
  await loadRejects(ggufWithBlocks(3), WeightsFormatError, /llama\.block_count is 3 but the file holds layer 3 \('blk\.3\.[a-z_]+\.weight'\): 9 tensor\(s\) of layers past the count would be left out/);
  await loadRejects(ggufWithBlocks(5), WeightsFormatError, /tensor 'blk\.4\.attn_norm\.weight' is missing/);
});

test("an HF num_hidden_layers of 2^31 - 1 is a ConfigError; one that differs from the safetensors is a WeightsFormatError", { timeout: 30_000 }, async () => {
  await loadRejects(withConfig({ num_hidden_layers: 2147483647 }), ConfigError, /"num_hidden_layers" is 2147483647, above the limit/);
  await loadRejects(withConfig({ num_hidden_layers: 3 }), WeightsFormatError, /num_hidden_layers is 3 but the file holds layer 3 \('model\.layers\.3\.[a-z_.]+weight'\): 9 tensor\(s\)/);
});

test("every dimension is bounded: its limit passes, one above is a ConfigError", () => {
  const ok = { model_type: "llama", hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 100, head_dim: 16 };
  for (const [key, limit] of Object.entries(CONFIG_LIMITS)) {
    const at = { ...ok, [key]: limit };
    if (key === "num_key_value_heads") at.num_attention_heads = limit;
    assert.doesNotThrow(() => parseConfig(at, "t"), key);
    assert.throws(() => parseConfig({ ...at, [key]: limit + 1 }, "t"), (e: unknown) =>
      e instanceof ConfigError && e.message.includes(`"${key}" is ${limit + 1}, above the limit of ${limit}`), key);
  }
  // a head_dim derived from hidden_size / heads is bounded too
  assert.throws(() => parseConfig({ ...ok, head_dim: undefined, hidden_size: 4096, num_attention_heads: 2 }, "t"), ConfigError);
});

test("a KV cache that cannot be allocated is a NativeError naming the bytes it needs", { timeout: 60_000 }, () => {
  // 2^24 cells x 4 layers x 2 KV heads x 64 dims x 4 bytes x (K, V) = 64 GiB, under a 4 GiB address-space cap
  const src = `
    const { LLM, LowbitError } = await import(${JSON.stringify(path.join(REPO, "dist", "src", "index.js"))});
    try { await LLM.load(undefined, { contextLength: 1 << 24 }); console.log("LOADED"); }
    catch (e) { console.log(JSON.stringify({ name: e.constructor.name, typed: e instanceof LowbitError, message: e.message })); }`;
  const r = runCapped(src, 4 * 1024 * 1024);
  const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { name: string; typed: boolean; message: string };
  assert.equal(out.name, "NativeError", r.stderr);
  assert.equal(out.typed, true);
  assert.match(out.message, /KV cache for a context of 16777216 tokens \(4 layers x 2 KV heads x 64 dims, K and V in f32\) needs 68719476736 bytes \(64\.0 GiB\)/);
});

test("rms_norm_eps or rope_theta that f32 turns into 0 or infinity is a ConfigError", () => {
  // found by the mutation fuzzer (config #199, seed 2): rms_norm_eps 1e-300 loaded and failed in the native graph build
  const ok = { model_type: "llama", hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 100 };
  for (const [key, v] of [["rms_norm_eps", 1e-300], ["rms_norm_eps", 1e39], ["rope_theta", 1e300]] as const) {
    assert.throws(() => parseConfig({ ...ok, [key]: v }, "t"), (e: unknown) =>
      e instanceof ConfigError && e.message.includes(`"${key}" must be a positive number within f32 range, got ${v}`), `${key} ${v}`);
  }
  assert.equal(parseConfig({ ...ok, rms_norm_eps: 1e-38 }, "t").rmsNormEps, 1e-38);
});
