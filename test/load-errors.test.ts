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
  await rejects(() => LLM.load(undefined, { kernels: "neon" as never }), InvalidOptionError, /kernels/);
});

/** A copy of the model whose model.safetensors holds one more (zero) F32 tensor, appended after the others. */
function withExtraTensor(name: string, shape: number[]): string {
  return modelCopy((d) => {
    const f = join(d, "model.safetensors");
    const b = readFileSync(f);
    const n = Number(b.readBigUInt64LE(0));
    const h = JSON.parse(b.subarray(8, 8 + n).toString("utf8")) as Record<string, unknown>;
    const data = b.subarray(8 + n);
    const bytes = shape.reduce((x, y) => x * y, 1) * 4;
    h[name] = { dtype: "F32", shape, data_offsets: [data.length, data.length + bytes] };
    let json = JSON.stringify(h);
    json += " ".repeat((8 - (json.length % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    writeFileSync(f, Buffer.concat([len, Buffer.from(json), data, Buffer.alloc(bytes)]));
  });
}

test("a tensor the architecture does not read is refused by name (a bias of a mislabelled Qwen2 checkpoint); inv_freq buffers are not", async () => {
  const bias = withExtraTensor("model.layers.0.self_attn.q_proj.bias", [256]);
  await rejects(() => LLM.load(bias), WeightsFormatError, /1 tensor\(s\) lowbit does not know for this architecture: model\.layers\.0\.self_attn\.q_proj\.bias/);
  const inv = withExtraTensor("model.layers.0.self_attn.rotary_emb.inv_freq", [32]);
  const m = await LLM.load(inv, { threads: 1 });
  try {
    assert.equal((await m.generate("def add(a, b):", { maxNewTokens: 4, temperature: 0 })).ids.length, 4);
  } finally {
    await m.dispose();
  }
});
