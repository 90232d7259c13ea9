/** LLM.load on bad model directories and options: typed errors naming the problem, never a crash. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync, truncateSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ConfigError,
  InvalidOptionError,
  LLM,
  ModelNotFoundError,
  TokenizerError,
  UnsupportedArchitectureError,
  WeightsFormatError,
} from "../src/index.js";
import { EMBEDDED_MODEL } from "./helpers/paths.js";

/** A copy of the embedded model in a temp dir, with `edit` applied. */
function modelCopy(edit?: (dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), "lowbit-bad-"));
  for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"]) {
    copyFileSync(join(EMBEDDED_MODEL, f), join(dir, f));
  }
  edit?.(dir);
  return dir;
}

function editConfig(dir: string, fn: (c: Record<string, unknown>) => void): void {
  const c = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  fn(c);
  writeFileSync(join(dir, "config.json"), JSON.stringify(c));
}

/** Rewrites the safetensors header (keeping the data) after `fn` edits it. */
function editHeader(dir: string, fn: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void): void {
  const file = join(dir, "model.safetensors");
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  fn(h);
  let json = Buffer.from(JSON.stringify(h));
  if (json.length <= n) json = Buffer.concat([json, Buffer.alloc(n - json.length, 0x20)]);
  else throw new Error("header grew; test helper only supports same-size edits");
  const out = Buffer.concat([buf.subarray(0, 8), json, buf.subarray(8 + n)]);
  writeFileSync(file, out);
}

async function rejects(p: () => Promise<unknown>, cls: new (...a: never[]) => Error, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

test("missing directory and missing files", async () => {
  await rejects(() => LLM.load("/nonexistent/model/dir"), ModelNotFoundError, /not found/);
  await rejects(() => LLM.load(modelCopy((d) => truncateSync(join(d, "config.json"), 0) as unknown as void) + "/nope"), ModelNotFoundError, /not found/);
  const noTok = modelCopy((d) => writeFileSync(join(d, "tokenizer.json"), "{ not json"));
  await rejects(() => LLM.load(noTok), TokenizerError, /tokenizer/);
});

test("missing or malformed config.json", async () => {
  const d1 = modelCopy((d) => writeFileSync(join(d, "config.json"), "{ broken"));
  await rejects(() => LLM.load(d1), ConfigError, /config\.json/);
  const d2 = modelCopy((d) => editConfig(d, (c) => delete c.hidden_size));
  await rejects(() => LLM.load(d2), ConfigError, /hidden_size/);
  const d3 = modelCopy((d) => editConfig(d, (c) => (c.num_key_value_heads = 3)));
  await rejects(() => LLM.load(d3), ConfigError, /num_key_value_heads/);
});

test("unsupported model_type", async () => {
  const d = modelCopy((dir) => editConfig(dir, (c) => (c.model_type = "gpt2")));
  await rejects(() => LLM.load(d), UnsupportedArchitectureError, /gpt2/);
});

test("config that disagrees with the weights names the tensor", async () => {
  const d = modelCopy((dir) => editConfig(dir, (c) => (c.intermediate_size = 512)));
  await rejects(() => LLM.load(d), WeightsFormatError, /mlp\.gate_proj\.weight.*shape/);
});

test("truncated or corrupt safetensors", async () => {
  const t1 = modelCopy((d) => truncateSync(join(d, "model.safetensors"), statSync(join(d, "model.safetensors")).size - 1000));
  await rejects(() => LLM.load(t1), WeightsFormatError, /model\.safetensors/);
  const t2 = modelCopy((d) => {
    const f = join(d, "model.safetensors");
    const b = readFileSync(f);
    b.writeBigUInt64LE(BigInt(b.length) * 4n, 0); // header length past the end of the file
    writeFileSync(f, b);
  });
  await rejects(() => LLM.load(t2), WeightsFormatError, /header/);
  const t3 = modelCopy((d) => editHeader(d, (h) => (h["model.norm.weight"]!.data_offsets[1]! += 1 << 30)));
  await rejects(() => LLM.load(t3), WeightsFormatError, /model\.norm\.weight/);
  const t4 = modelCopy((d) => editHeader(d, (h) => (h["model.norm.weight"]!.dtype = "F32")));
  await rejects(() => LLM.load(t4), WeightsFormatError, /model\.norm\.weight/);
  const t5 = modelCopy((d) => editHeader(d, (h) => {
    h["model.layers.9.bogus"] = h["model.norm.weight"]!;
    delete h["model.norm.weight"];
  }));
  await rejects(() => LLM.load(t5), WeightsFormatError, /model\.norm\.weight.*missing/);
});

test("invalid load options", async () => {
  await rejects(() => LLM.load(undefined, { dtype: "f16" as never }), InvalidOptionError, /dtype/);
  await rejects(() => LLM.load(undefined, { threads: 0 }), InvalidOptionError, /threads/);
  await rejects(() => LLM.load(undefined, { threads: 2.5 }), InvalidOptionError, /threads/);
  await rejects(() => LLM.load(undefined, { contextLength: 1 }), InvalidOptionError, /contextLength/);
  await rejects(() => LLM.load(undefined, { kernels: "neon" }), InvalidOptionError, /kernels/);
});
