/** Tests for the hand-written safetensors reader: bad files, shards, real model. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import {
  dtypeSize, openSafetensorsDir, parseSafetensorsHeader, readTensorBytes,
} from "../src/formats/safetensors.js";
import { ModelNotFoundError, WeightsFormatError } from "../src/errors.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const REAL_7M = path.join(ROOT, "models/tinycode-7m");

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-st-"));
}

/** Raw file: u64 LE length (may lie) + header bytes + data. */
function rawFile(dir: string, name: string, header: string | Buffer, data = Buffer.alloc(0), len?: bigint): string {
  const h = typeof header === "string" ? Buffer.from(header, "utf8") : header;
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(len ?? BigInt(h.length));
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat([lenBuf, h, data]));
  return file;
}

type Spec = { dtype: string; shape: number[]; data: Buffer };

/** Well-formed safetensors file built from tensor specs. */
function writeSt(dir: string, name: string, tensors: Record<string, Spec>, metadata = true): string {
  const header: Record<string, unknown> = metadata ? { __metadata__: { format: "pt" } } : {};
  let off = 0;
  for (const [n, t] of Object.entries(tensors)) {
    header[n] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.length] };
    off += t.data.length;
  }
  return rawFile(dir, name, JSON.stringify(header), Buffer.concat(Object.values(tensors).map((t) => t.data)));
}

/** Header with a single entry and `dataLen` zero bytes of data. */
function oneEntry(dir: string, entry: unknown, dataLen: number): string {
  return rawFile(dir, "model.safetensors", JSON.stringify({ w: entry }), Buffer.alloc(dataLen));
}

function rejects(fn: () => unknown, cls: new (...a: never[]) => Error, ...parts: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    for (const p of parts) {
      if (typeof p === "string") assert.ok(e.message.includes(p), `message "${e.message}" lacks "${p}"`);
      else assert.match(e.message, p);
    }
    return true;
  });
}

const rand = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + 11) & 255));

test("dtypeSize", () => {
  assert.equal(dtypeSize("F32"), 4);
  assert.equal(dtypeSize("F16"), 2);
  assert.equal(dtypeSize("BF16"), 2);
});

test("file shorter than 8 bytes", () => {
  const f = path.join(tmpDir(), "short.safetensors");
  fs.writeFileSync(f, Buffer.from([1, 2, 3]));
  rejects(() => parseSafetensorsHeader(f), WeightsFormatError, f, "too short");
});

test("missing file", () => {
  const f = path.join(tmpDir(), "nope.safetensors");
  rejects(() => parseSafetensorsHeader(f), ModelNotFoundError, f, "not found");
});

test("header length past end of file", () => {
  const f = rawFile(tmpDir(), "a.safetensors", "{}", Buffer.alloc(0), 1000n);
  rejects(() => parseSafetensorsHeader(f), WeightsFormatError, f, "past the end");
});

test("huge header length (2^60) is rejected without allocating", () => {
  const f = rawFile(tmpDir(), "a.safetensors", "{}", Buffer.alloc(0), 1n << 60n);
  rejects(() => parseSafetensorsHeader(f), WeightsFormatError, f, "exceeds");
});

test("header length 2^64-1", () => {
  const f = rawFile(tmpDir(), "a.safetensors", "{}", Buffer.alloc(0), (1n << 64n) - 1n);
  rejects(() => parseSafetensorsHeader(f), WeightsFormatError, "header length");
});

test("invalid JSON header", () => {
  const f = rawFile(tmpDir(), "a.safetensors", '{"w": {"dtype": ');
  rejects(() => parseSafetensorsHeader(f), WeightsFormatError, f, "not valid UTF-8 JSON");
});

test("invalid UTF-8 header", () => {
  const f = rawFile(tmpDir(), "a.safetensors", Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
  rejects(() => parseSafetensorsHeader(f), WeightsFormatError, "UTF-8");
});

test("header JSON that is not an object", () => {
  const f = rawFile(tmpDir(), "a.safetensors", "[1,2]");
  rejects(() => parseSafetensorsHeader(f), WeightsFormatError, "not an object");
});

test("offsets out of range", () => {
  const f = oneEntry(tmpDir(), { dtype: "F32", shape: [4], data_offsets: [0, 16] }, 8);
  rejects(() => parseSafetensorsHeader(f), WeightsFormatError, f, '"w"', "out of range");
});

test("negative begin offset", () => {
  const f = oneEntry(tmpDir(), { dtype: "F32", shape: [0], data_offsets: [-4, -4] }, 8);
  rejects(() => parseSafetensorsHeader(f), WeightsFormatError, "out of range");
});

test("end < begin", () => {
  const f = oneEntry(tmpDir(), { dtype: "F32", shape: [1], data_offsets: [8, 4] }, 8);
  rejects(() => parseSafetensorsHeader(f), WeightsFormatError, "out of range", "[8, 4]");
});

test("malformed data_offsets / shape / dtype fields", () => {
  const d = tmpDir();
  for (const [entry, msg] of [
    [{ dtype: "F32", shape: [1], data_offsets: [0] }, "data_offsets"],
    [{ dtype: "F32", shape: [1], data_offsets: [0, 2 ** 60] }, "data_offsets"],
    [{ dtype: "F32", shape: [1, -1], data_offsets: [0, 4] }, "shape"],
    [{ dtype: "F32", shape: [1.5], data_offsets: [0, 4] }, "shape"],
    [{ dtype: "F32", shape: "1", data_offsets: [0, 4] }, "shape"],
    [{ shape: [1], data_offsets: [0, 4] }, "dtype"],
    ["nope", "not an object"],
  ] as [unknown, string][]) {
    const f = oneEntry(d, entry, 8);
    rejects(() => parseSafetensorsHeader(f), WeightsFormatError, msg);
  }
});

test("dtype/shape mismatch", () => {
  const f = oneEntry(tmpDir(), { dtype: "BF16", shape: [2, 3], data_offsets: [0, 8] }, 8);
  rejects(() => parseSafetensorsHeader(f), WeightsFormatError, f, "dtype/shape mismatch");
});

test("enormous shape cannot overflow into a match", () => {
  const f = oneEntry(tmpDir(), { dtype: "F32", shape: [2 ** 52, 2 ** 52, 4], data_offsets: [0, 8] }, 8);
  rejects(() => parseSafetensorsHeader(f), WeightsFormatError, "dtype/shape mismatch");
});

test("unsupported and unknown dtypes", () => {
  const d = tmpDir();
  for (const dt of ["I8", "U8", "F64", "I64", "BOOL"]) {
    const f = oneEntry(d, { dtype: dt, shape: [1], data_offsets: [0, 8] }, 8);
    rejects(() => parseSafetensorsHeader(f), WeightsFormatError, "unsupported dtype", `"${dt}"`);
  }
  const f = oneEntry(d, { dtype: "Q4_K", shape: [1], data_offsets: [0, 8] }, 8);
  rejects(() => parseSafetensorsHeader(f), WeightsFormatError, "unknown dtype");
});

test("valid single file: metadata skipped, offsets absolute, bytes round-trip", () => {
  const d = tmpDir();
  const a = rand(24), b = rand(8).reverse();
  writeSt(d, "model.safetensors", {
    a: { dtype: "F32", shape: [2, 3], data: a },
    b: { dtype: "F16", shape: [4], data: b },
    empty: { dtype: "BF16", shape: [0, 5], data: Buffer.alloc(0) },
  });
  const idx = openSafetensorsDir(d);
  assert.equal(idx.tensors.size, 3);
  assert.deepEqual(idx.files, [path.join(d, "model.safetensors")]);
  const ta = idx.tensors.get("a")!;
  assert.deepEqual(ta.shape, [2, 3]);
  assert.equal(ta.nbytes, 24);
  assert.deepEqual(readTensorBytes(ta), a);
  assert.deepEqual(readTensorBytes(idx.tensors.get("b")!), b);
  assert.equal(readTensorBytes(idx.tensors.get("empty")!).length, 0);
  // Reuses a large enough `into` buffer; ignores a too-small one.
  const big = Buffer.alloc(100);
  const got = readTensorBytes(ta, big);
  assert.equal(got.buffer, big.buffer);
  assert.deepEqual(got, a);
  assert.deepEqual(readTensorBytes(ta, Buffer.alloc(4)), a);
});

test("valid 2-shard model round-trips", () => {
  const d = tmpDir();
  const t = { x: rand(16), y: rand(6), z: rand(40) };
  writeSt(d, "model-00001-of-00002.safetensors", {
    x: { dtype: "F32", shape: [4], data: t.x },
    y: { dtype: "BF16", shape: [3], data: t.y },
  });
  writeSt(d, "model-00002-of-00002.safetensors", { z: { dtype: "F16", shape: [4, 5], data: t.z } }, false);
  fs.writeFileSync(path.join(d, "model.safetensors.index.json"), JSON.stringify({
    metadata: { total_size: 62 },
    weight_map: { x: "model-00001-of-00002.safetensors", y: "model-00001-of-00002.safetensors", z: "model-00002-of-00002.safetensors" },
  }));
  const idx = openSafetensorsDir(d);
  assert.equal(idx.files.length, 2);
  assert.deepEqual([...idx.tensors.keys()].sort(), ["x", "y", "z"]);
  assert.equal(idx.tensors.get("z")!.file, path.join(d, "model-00002-of-00002.safetensors"));
  for (const [n, bytes] of Object.entries(t)) assert.deepEqual(readTensorBytes(idx.tensors.get(n)!), bytes);
});

/** Dir with one valid shard "s1.safetensors" holding tensor "x", plus the given index. */
function shardDir(index: unknown): string {
  const d = tmpDir();
  writeSt(d, "s1.safetensors", { x: { dtype: "F32", shape: [1], data: rand(4) } });
  fs.writeFileSync(path.join(d, "model.safetensors.index.json"),
    typeof index === "string" ? index : JSON.stringify(index));
  return d;
}

test("sharded index: missing shard", () => {
  const d = shardDir({ weight_map: { x: "s1.safetensors", y: "s2.safetensors" } });
  rejects(() => openSafetensorsDir(d), ModelNotFoundError, "s2.safetensors", "does not exist");
});

test("sharded index: path traversal and absolute paths", () => {
  for (const bad of ["../s1.safetensors", "sub/s1.safetensors", "/etc/passwd", "..", "a\\b"]) {
    const d = shardDir({ weight_map: { x: bad } });
    rejects(() => openSafetensorsDir(d), WeightsFormatError, "not a plain file name", JSON.stringify(bad));
  }
});

test("sharded index: tensor absent from its shard", () => {
  const d = shardDir({ weight_map: { x: "s1.safetensors", ghost: "s1.safetensors" } });
  rejects(() => openSafetensorsDir(d), WeightsFormatError, '"ghost"', "absent");
});

test("sharded index: bad JSON, missing weight_map, non-string values", () => {
  rejects(() => openSafetensorsDir(shardDir("{not json")), WeightsFormatError, "index JSON");
  rejects(() => openSafetensorsDir(shardDir({ metadata: {} })), WeightsFormatError, "weight_map");
  rejects(() => openSafetensorsDir(shardDir({ weight_map: { x: 3 } })), WeightsFormatError, '"x"', "not a string");
});

test("directory missing or without weights", () => {
  const d = tmpDir();
  rejects(() => openSafetensorsDir(path.join(d, "missing")), ModelNotFoundError, "does not exist");
  rejects(() => openSafetensorsDir(d), ModelNotFoundError, "no model.safetensors");
});

test("real tinycode-7m model.safetensors", () => {
  const list = parseSafetensorsHeader(path.join(REAL_7M, "model.safetensors"));
  assert.equal(list.length, 38);
  const idx = openSafetensorsDir(REAL_7M);
  assert.equal(idx.tensors.size, 38);
  const emb = idx.tensors.get("model.embed_tokens.weight")!;
  assert.deepEqual(emb.shape, [16384, 256]);
  assert.equal(emb.dtype, "BF16");
  assert.equal(emb.nbytes, 16384 * 256 * 2);
  assert.equal(readTensorBytes(emb).length, emb.nbytes);
  for (const t of list) assert.equal(t.dtype, "BF16");
  assert.ok(idx.tensors.has("model.norm.weight"));
  assert.ok(idx.tensors.has("model.layers.3.mlp.down_proj.weight"));
});
