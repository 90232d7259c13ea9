/**
 * Issue 16 item 4: JSON nested thousands deep (config.json, tokenizer.json,
 * a safetensors header) is refused by a depth scan before anything recursive
 * runs on it. (On b276a23 a config.json nested 10,000 deep overflowed the
 * stack in JSON.stringify inside reqPosInt: a RangeError.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError, TokenizerError, WeightsFormatError } from "../src/errors.js";
import { embeddedBytes, embeddedText } from "../src/fuzz/model-files.js";
import { jsonDepthExceeded, MAX_JSON_DEPTH } from "../src/json-text.js";
import { hostileModel, loadRejects } from "./helpers/hostile.js";

const deep = (n: number) => "[".repeat(n) + "]".repeat(n);

test("config.json nested 10,000 deep is a ConfigError", { timeout: 30_000 }, async () => {
  const config = embeddedText("config.json").replace('"hidden_size": 256', `"hidden_size": ${deep(10_000)}`);
  assert.notEqual(config, embeddedText("config.json"));
  await loadRejects(hostileModel({ "config.json": config }), ConfigError, /config\.json: JSON nested more than 64 deep/);
});

test("a config value nested within the limit is still a ConfigError naming the key", { timeout: 30_000 }, async () => {
  const config = embeddedText("config.json").replace('"hidden_size": 256', `"hidden_size": ${deep(40)}`);
  await loadRejects(hostileModel({ "config.json": config }), ConfigError, /"hidden_size" must be a positive integer, got an array of 1/);
});

test("tokenizer.json nested 10,000 deep is a TokenizerError", { timeout: 30_000 }, async () => {
  const tok = embeddedText("tokenizer.json").replace('"normalizer": null', `"normalizer": ${deep(10_000)}`);
  assert.notEqual(tok, embeddedText("tokenizer.json"));
  await loadRejects(hostileModel({ "tokenizer.json": tok }), TokenizerError, /tokenizer\.json.*nested more than 64 deep/);
});

test("a safetensors header nested 10,000 deep is a WeightsFormatError", { timeout: 30_000 }, async () => {
  const buf = embeddedBytes("model.safetensors");
  const n = Number(buf.readBigUInt64LE(0));
  const header = buf.subarray(8, 8 + n).toString("utf8").trimEnd().replace(/}$/, `,"__metadata__":{"x":${JSON.stringify(deep(1))}},"z":${deep(10_000)}}`);
  const hb = Buffer.from(header);
  const out = Buffer.concat([Buffer.alloc(8), hb, buf.subarray(8 + n)]);
  out.writeBigUInt64LE(BigInt(hb.length), 0);
  await loadRejects(hostileModel({ "model.safetensors": out }), WeightsFormatError, /header.*nested more than 64 deep/);
});

test("the depth scan skips strings and escapes", () => {
  assert.equal(jsonDepthExceeded(`{"a": "[[[[\\"[[[", "b": [[1]]}`, 3), -1);
  assert.equal(jsonDepthExceeded(`{"a": "x", "b": [[[1]]]}`, 3), 18);
  assert.equal(jsonDepthExceeded(deep(MAX_JSON_DEPTH), MAX_JSON_DEPTH), -1);
  assert.equal(jsonDepthExceeded(deep(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH), MAX_JSON_DEPTH);
});
