/** GGUF reader and writer: value and tensor round trips, v2, getters, legal-but-unusual layouts, writer checks. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  GGML_TYPES, ggmlTypeById, ggmlTypeByName, openGguf, readTensorBytes, tensorSize,
  type GgufArray, type GgufValue,
} from "../src/formats/gguf.js";
import { gv, writeGguf, type GgufWriteTensor } from "../src/formats/gguf-write.js";
import { GgufError, ModelNotFoundError, WeightsFormatError } from "../src/errors.js";
import { buildRaw, pseudoBytes } from "./helpers/gguf-build.js";

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-gguf-"));
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

/** One value of every type, extremes included, and arrays of every type (nested, empty, strings). */
const ALL_VALUES: [string, GgufValue][] = [
  ["general.architecture", gv.str("llama")],
  ["t.u8", gv.u8(255)], ["t.i8", gv.i8(-128)], ["t.u16", gv.u16(65535)], ["t.i16", gv.i16(-32768)],
  ["t.u32", gv.u32(0xffffffff)], ["t.i32", gv.i32(-0x80000000)],
  ["t.u64", gv.u64((1n << 64n) - 1n)], ["t.i64", gv.i64(-(1n << 63n))],
  ["t.f32", gv.f32(Math.fround(0.1))], ["t.f64", gv.f64(-1e300)],
  ["t.bool_t", gv.bool(true)], ["t.bool_f", gv.bool(false)],
  ["t.str", gv.str("héllo ✓ 你好 🦙")], ["t.empty_str", gv.str("")], ["t.bom", gv.str("\uFEFFbom\0nul")],
  ["a.u8", gv.arr("u8", Uint8Array.of(0, 1, 255))], ["a.i8", gv.arr("i8", Int8Array.of(-128, 127))],
  ["a.u16", gv.arr("u16", Uint16Array.of(1, 65535))], ["a.i16", gv.arr("i16", Int16Array.of(-2, 3))],
  ["a.u32", gv.arr("u32", Uint32Array.of(7, 0xffffffff))], ["a.i32", gv.arr("i32", Int32Array.of(-5, 6, 7))],
  ["a.u64", gv.arr("u64", BigUint64Array.of(0n, (1n << 64n) - 1n))], ["a.i64", gv.arr("i64", BigInt64Array.of(-1n))],
  ["a.f32", gv.arr("f32", Float32Array.of(1.5, -0.25, Infinity))], ["a.f64", gv.arr("f64", Float64Array.of(Math.PI))],
  ["a.bool", gv.arr("bool", [true, false, true])],
  ["a.str", gv.arr("string", ["<s>", "", "▁the", "ü"])],
  ["a.empty", gv.arr("f32", new Float32Array(0))],
  ["a.nested", gv.arr("array", [
    { itemType: "u32", items: Uint32Array.of(1, 2) },
    { itemType: "string", items: ["x", "yz"] },
    { itemType: "array", items: [{ itemType: "bool", items: [false] }] },
    { itemType: "i64", items: new BigInt64Array(0) },
  ])],
];

test("ggml type table: ids, block sizes and bytes per block", () => {
  const expect: [string, number, number, number][] = [
    ["F32", 0, 1, 4], ["F16", 1, 1, 2], ["Q4_0", 2, 32, 18], ["Q4_1", 3, 32, 20], ["Q5_0", 6, 32, 22],
    ["Q5_1", 7, 32, 24], ["Q8_0", 8, 32, 34], ["Q8_1", 9, 32, 40], ["Q2_K", 10, 256, 84], ["Q3_K", 11, 256, 110],
    ["Q4_K", 12, 256, 144], ["Q5_K", 13, 256, 176], ["Q6_K", 14, 256, 210], ["Q8_K", 15, 256, 292],
    ["I8", 24, 1, 1], ["I16", 25, 1, 2], ["I32", 26, 1, 4], ["I64", 27, 1, 8], ["F64", 28, 1, 8], ["BF16", 30, 1, 2],
  ];
  for (const [name, id, block, size] of expect) {
    assert.deepEqual(ggmlTypeByName(name), { id, name, blockSize: block, typeSize: size }, name);
    assert.equal(ggmlTypeById(id)?.name, name);
  }
  assert.equal(ggmlTypeById(4), undefined, "Q4_2 was removed");
  assert.equal(new Set(GGML_TYPES.map((t) => t.id)).size, GGML_TYPES.length);
  assert.deepEqual(tensorSize(ggmlTypeByName("Q4_K")!, [512n, 3n]), { nbytes: 2n * 3n * 144n, nelements: 1536n });
  assert.match(tensorSize(ggmlTypeByName("Q8_0")!, [33n]) as string, /not a multiple/);
});

test("round trip: every value type, in order", () => {
  const f = path.join(tmpDir(), "values.gguf");
  writeGguf(f, { metadata: ALL_VALUES });
  const g = openGguf(f);
  assert.equal(g.version, 3);
  assert.equal(g.alignment, 32);
  assert.equal(g.tensors.size, 0);
  assert.deepEqual([...g.metadata.keys()], ALL_VALUES.map(([k]) => k));
  for (const [k, v] of ALL_VALUES) assert.deepEqual(g.get(k), v, k);
  assert.equal(g.dataOffset % 32, 0);
  assert.equal(g.dataOffset, g.fileSize);
});

test("writer output is byte-identical to the independent test builder", () => {
  const tensors = [
    { name: "a", dims: [3, 2], type: 0, data: pseudoBytes(24, 1) },
    { name: "blk.0.attn_q.weight", dims: [64, 2], type: 8, data: pseudoBytes(2 * 2 * 34, 2) },
  ];
  const raw = buildRaw({ version: 3, kv: ALL_VALUES, tensors, trailingPad: true });
  const f = path.join(tmpDir(), "same.gguf");
  const res = writeGguf(f, { metadata: ALL_VALUES, tensors });
  assert.deepEqual(fs.readFileSync(f), raw.bytes);
  assert.equal(res.size, raw.bytes.length);
  assert.equal(res.dataOffset, raw.dataOffset);
});

/** Tensors of many types, some given as bytes, some streamed in chunks. */
function typedTensors(): { spec: GgufWriteTensor[]; bytes: Map<string, Uint8Array> } {
  const shapes: [string, number[]][] = [
    ["F32", [3, 2]], ["F16", [8]], ["BF16", [4, 3]], ["Q8_0", [64, 2]], ["Q4_0", [32]], ["Q4_1", [32, 3]],
    ["Q5_0", [64]], ["Q5_1", [32, 1, 2]], ["Q4_K", [256, 2]], ["Q5_K", [512]], ["Q6_K", [256, 1, 1, 2]],
    ["I32", [5]],
  ];
  const spec: GgufWriteTensor[] = [];
  const bytes = new Map<string, Uint8Array>();
  shapes.forEach(([type, dims], i) => {
    const n = Number((tensorSize(ggmlTypeByName(type)!, dims.map(BigInt)) as { nbytes: bigint }).nbytes);
    const data = pseudoBytes(n, i + 7);
    const name = `t.${type.toLowerCase()}`;
    bytes.set(name, data);
    if (i % 2 === 0) spec.push({ name, dims, type, data });
    else {
      spec.push({
        name, dims, type: ggmlTypeByName(type)!.id,
        write: (emit) => { for (let o = 0; o < n; o += 13) emit(data.subarray(o, Math.min(n, o + 13))); },
      });
    }
  });
  return { spec, bytes };
}

test("round trip: tensors of many ggml types, aligned, bytes intact", () => {
  const f = path.join(tmpDir(), "tensors.gguf");
  const { spec, bytes } = typedTensors();
  const res = writeGguf(f, { metadata: [["general.architecture", gv.str("llama")]], tensors: spec });
  const g = openGguf(f);
  assert.deepEqual([...g.tensors.keys()], spec.map((t) => t.name));
  for (const t of spec) {
    const info = g.tensor(t.name);
    assert.deepEqual(info.dims, t.dims);
    assert.equal(info.typeName, typeof t.type === "string" ? t.type : ggmlTypeById(t.type)!.name);
    assert.equal(info.nbytes, bytes.get(t.name)!.length);
    assert.equal(info.offset % 32, 0);
    assert.equal(info.offset, g.dataOffset + info.relOffset);
    assert.equal(info.offset, res.tensors.get(t.name)!.offset);
    assert.deepEqual(new Uint8Array(readTensorBytes(g, info)), bytes.get(t.name));
  }
  const q6 = g.tensor("t.q6_k");
  assert.equal(q6.nelements, 512);
  // scratch reuse: a large enough buffer is used, a small one is not
  const scratch = Buffer.alloc(4096);
  const got = readTensorBytes(g, "t.q4_k", scratch);
  assert.equal(got.buffer, scratch.buffer);
  assert.deepEqual(new Uint8Array(got), bytes.get("t.q4_k"));
  assert.deepEqual(new Uint8Array(readTensorBytes(g, "t.f32", Buffer.alloc(2))), bytes.get("t.f32"));
  rejects(() => readTensorBytes(g, "nope"), GgufError, '"nope"');
});

test("version 2 files read the same as version 3", () => {
  const d = tmpDir();
  const { spec, bytes } = typedTensors();
  writeGguf(path.join(d, "v2.gguf"), { version: 2, metadata: ALL_VALUES, tensors: spec });
  const g = openGguf(path.join(d, "v2.gguf"));
  assert.equal(g.version, 2);
  for (const [k, v] of ALL_VALUES) assert.deepEqual(g.get(k), v, k);
  assert.deepEqual(new Uint8Array(readTensorBytes(g, "t.q8_0")), bytes.get("t.q8_0"));
  // raw v2 from the independent builder too
  const raw = buildRaw({ version: 2, kv: [["a", gv.u32(1)]], tensors: [{ name: "w", dims: [4], type: 0, data: pseudoBytes(16) }] });
  fs.writeFileSync(path.join(d, "raw2.gguf"), raw.bytes);
  assert.equal(openGguf(path.join(d, "raw2.gguf")).version, 2);
});

test("typed getters: values, fallbacks, and errors naming the key", () => {
  const f = path.join(tmpDir(), "get.gguf");
  writeGguf(f, { metadata: [...ALL_VALUES, ["llama.context_length", gv.u64(4096n)], ["llama.block_count", gv.u32(22)]] });
  const g = openGguf(f);
  assert.equal(g.getString("general.architecture"), "llama");
  assert.equal(g.getU32("llama.block_count"), 22);
  assert.equal(g.getInt("llama.block_count"), 22);
  assert.equal(g.getInt("llama.context_length"), 4096);
  assert.equal(g.getU64("llama.context_length"), 4096n);
  assert.equal(g.getU8("t.u8"), 255);
  assert.equal(g.getI64("t.i64"), -(1n << 63n));
  assert.equal(g.getF32("t.f32"), Math.fround(0.1));
  assert.equal(g.getFloat("t.f64"), -1e300);
  assert.equal(g.getBool("t.bool_t"), true);
  assert.deepEqual(g.getStringArray("a.str"), ["<s>", "", "▁the", "ü"]);
  assert.deepEqual(g.getArray("a.f32", "f32"), Float32Array.of(1.5, -0.25, Infinity));
  assert.equal(g.getArray("a.nested").itemType, "array");
  assert.equal(g.getU32("llama.missing", 7), 7);
  assert.equal(g.getInt("llama.missing", 9), 9);
  assert.equal(g.has("llama.missing"), false);
  rejects(() => g.getU32("llama.missing"), GgufError, '"llama.missing"', "missing", f);
  rejects(() => g.getU32("llama.context_length"), GgufError, '"llama.context_length"', "u64", "expected u32");
  rejects(() => g.getU32("llama.context_length", 1), GgufError, "expected u32");
  rejects(() => g.getString("a.str"), GgufError, "array of string");
  rejects(() => g.getArray("a.str", "u32"), GgufError, "array of string", "expected an array of u32");
  rejects(() => g.getInt("t.u64"), GgufError, "too large");
  rejects(() => g.getInt("t.f32"), GgufError, "f32");
  const e = (() => { try { g.getBool("t.str"); } catch (err) { return err; } })();
  assert.ok(e instanceof WeightsFormatError && (e as GgufError).code === "BAD_GGUF");
});

test("legal but unusual: alignment 64, zero tensors, long strings and a big vocab", () => {
  const d = tmpDir();
  const long = "ab€".repeat(100_000); // 500 KB, longer than the reader's 64 KiB window
  const vocab = Array.from({ length: 50_000 }, (_, i) => `tok${i}`);
  const f = path.join(d, "a64.gguf");
  writeGguf(f, { metadata: [["general.alignment", gv.u32(64)], ["long", gv.str(long)], ["tokens", gv.arr("string", vocab)]] });
  let g = openGguf(f);
  assert.equal(g.alignment, 64);
  assert.equal(g.dataOffset % 64, 0);
  assert.equal(g.getString("long"), long);
  assert.deepEqual(g.getStringArray("tokens"), vocab);
  assert.equal(g.tensors.size, 0);
  // alignment given as an option is written as general.alignment; tensors land on 64-byte offsets
  writeGguf(f, { alignment: 64, metadata: [], tensors: typedTensors().spec });
  g = openGguf(f);
  assert.equal(g.getU32("general.alignment"), 64);
  for (const t of g.tensors.values()) assert.equal(t.offset % 64, 0);
  // out-of-order offsets are legal while the tensors stay packed (each at the next aligned offset)
  const outOfOrder = (secondAt: bigint) => buildRaw({
    kv: [["general.alignment", gv.u32(8)]], alignment: 8,
    tensors: [
      { name: "second", dims: [2], type: 0, data: pseudoBytes(8, 3), offset: secondAt },
      { name: "first", dims: [1], type: 0, data: pseudoBytes(4, 4), offset: 0n },
    ],
  });
  const raw = outOfOrder(8n);
  const bytes = Buffer.concat([raw.bytes, Buffer.alloc(16 + 4)]);
  fs.writeFileSync(f, bytes.subarray(0, raw.dataOffset + 16));
  g = openGguf(f);
  assert.equal(g.tensor("second").relOffset, 8);
  assert.deepEqual(readTensorBytes(g, "first"), bytes.subarray(g.dataOffset, g.dataOffset + 4));
  // a gap between tensors, or bytes after the last one's padding, belong to no tensor (a type or
  // shape that no longer matches its data): refused, as llama.cpp refuses a tensor at an unexpected offset
  fs.writeFileSync(f, Buffer.concat([outOfOrder(64n).bytes, Buffer.alloc(100)]));
  assert.throws(() => openGguf(f), (e: unknown) => e instanceof GgufError && /starts at data offset 64, but tensor "first" \(F32 \[1\]\) ends at 4/.test(e.message));
  fs.writeFileSync(f, bytes);
  assert.throws(() => openGguf(f), (e: unknown) => e instanceof GgufError && /holds 32 bytes but the tensors end at 16/.test(e.message));
  // alignment 1 and a 64-byte tensor name are legal too
  writeGguf(f, { alignment: 1, metadata: [], tensors: [{ name: "n".repeat(64), dims: [1], type: "F32", data: pseudoBytes(4) }] });
  assert.equal(openGguf(f).tensor("n".repeat(64)).nbytes, 4);
});

test("missing file, directory, and a file that is not GGUF", () => {
  const d = tmpDir();
  rejects(() => openGguf(path.join(d, "none.gguf")), ModelNotFoundError, "not found");
  rejects(() => openGguf(d), GgufError, "not a regular file");
  fs.writeFileSync(path.join(d, "x.safetensors"), Buffer.from("\x08\0\0\0\0\0\0\0{}      "));
  rejects(() => openGguf(path.join(d, "x.safetensors")), GgufError, "not a GGUF file", "at byte 0");
});

test("writer rejects bad input before creating the file", () => {
  const d = tmpDir();
  const f = path.join(d, "w.gguf");
  const t = (over: Partial<GgufWriteTensor>): GgufWriteTensor => ({ name: "w", dims: [4], type: "F32", data: new Uint8Array(16), ...over });
  const cases: [Parameters<typeof writeGguf>[1], string][] = [
    [{ metadata: [["a", gv.u8(256)]] }, "not a u8"],
    [{ metadata: [["a", gv.i32(1.5)]] }, "not a i32"],
    [{ metadata: [["a", gv.u64(-1n)]] }, "not a u64"],
    [{ metadata: [["a", { type: "u64", value: 3 } as unknown as GgufValue]] }, "not a u64"],
    [{ metadata: [["a", gv.u8(1)], ["a", gv.u8(2)]] }, "duplicate metadata key"],
    [{ metadata: [["", gv.u8(1)]] }, "must be 1 to"],
    [{ metadata: [["a", gv.str("x\uD800y")]] }, "unpaired UTF-16 surrogate"],
    [{ metadata: [["a", gv.arr("string", ["ok", "\uDC00"])]] }, "unpaired UTF-16 surrogate"],
    [{ metadata: [["a", gv.arr("u32", [1, 2] as unknown as Uint32Array)]] }, "Uint32Array"],
    [{ metadata: [["a", gv.arr("string", ["x", 3] as unknown as string[])]] }, "is not a string"],
    [{ metadata: [["general.alignment", gv.u32(48)]] }, "power of two"],
    [{ metadata: [["general.alignment", gv.u32(64)]], alignment: 32 }, "disagrees"],
    [{ metadata: [], version: 1 }, "version 1"],
    [{ metadata: [], tensors: [t({}), t({})] }, "duplicate tensor name"],
    [{ metadata: [], tensors: [t({ name: "x".repeat(65) })] }, "at most 64 bytes"],
    [{ metadata: [], tensors: [t({ type: "Q4_2" })] }, "unknown ggml type"],
    [{ metadata: [], tensors: [t({ dims: [0] })] }, "positive integers"],
    [{ metadata: [], tensors: [t({ dims: [1, 1, 1, 1, 1] })] }, "positive integers"],
    [{ metadata: [], tensors: [t({ dims: [33], type: "Q8_0" })] }, "not a multiple"],
    [{ metadata: [], tensors: [t({ data: new Uint8Array(15) })] }, "needs 16"],
    [{ metadata: [], tensors: [t({ write: () => {} })] }, "exactly one of data and write"],
  ];
  for (const [spec, msg] of cases) {
    rejects(() => writeGguf(f, spec), GgufError, msg, f);
    assert.equal(fs.existsSync(f), false);
  }
  // a producer that emits too much or too little fails and leaves no file behind
  for (const n of [15, 17]) {
    const spec = { metadata: [], tensors: [t({ data: undefined, write: (emit: (c: Uint8Array) => void) => emit(new Uint8Array(n)) })] };
    rejects(() => writeGguf(f, spec), GgufError, "write emitted");
    assert.deepEqual(fs.readdirSync(d), []);
  }
});

test("opening reads only the header, not the tensor data", () => {
  const f = path.join(tmpDir(), "big.gguf");
  const n = 32 << 20;
  writeGguf(f, { metadata: [], tensors: [{ name: "w", dims: [n / 4], type: "F32", write: (emit) => {
    const chunk = new Uint8Array(1 << 20);
    for (let i = 0; i < 32; i++) emit(chunk);
  } }] });
  const before = process.memoryUsage().arrayBuffers;
  const g = openGguf(f);
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.equal(g.tensor("w").nbytes, n);
  assert.ok(grown < 1 << 20, `opening allocated ${grown} bytes of array buffers`);
});

test("array nesting: 8 levels are written and read, 9 are refused by both", () => {
  const d = tmpDir();
  const nest = (levels: number) => {
    let a: GgufArray = { itemType: "u8", items: Uint8Array.of(7) };
    for (let i = 1; i < levels; i++) a = { itemType: "array", items: [a] };
    return { type: "array", value: a } as GgufValue;
  };
  const f = path.join(d, "n8.gguf");
  writeGguf(f, { metadata: [["deep", nest(8)]] });
  assert.deepEqual(openGguf(f).get("deep"), nest(8));
  rejects(() => writeGguf(path.join(d, "n9.gguf"), { metadata: [["deep", nest(9)]] }), GgufError, "nested more than 8");
  fs.writeFileSync(path.join(d, "n9.gguf"), buildRaw({ kv: [["deep", nest(9)]] }).bytes);
  rejects(() => openGguf(path.join(d, "n9.gguf")), GgufError, "nested more than 8", "at byte");
});

test("strings longer than the read window: ASCII kept, invalid UTF-8 refused", () => {
  const d = tmpDir();
  const ascii = "x".repeat(70_000);
  const raw = buildRaw({ kv: [["a", gv.str(ascii)], ["b", gv.str("é".repeat(40_000))]] });
  fs.writeFileSync(path.join(d, "ok.gguf"), raw.bytes);
  const g = openGguf(path.join(d, "ok.gguf"));
  assert.equal(g.getString("a"), ascii);
  assert.equal(g.getString("b"), "é".repeat(40_000));
  const bad = Buffer.from(raw.bytes);
  const at = raw.fields.filter((f) => f.kind === "strLen")[1]!.at;
  bad[at + 8 + 79_999] = 0xff; // last byte of "b"
  fs.writeFileSync(path.join(d, "bad.gguf"), bad);
  rejects(() => openGguf(path.join(d, "bad.gguf")), GgufError, 'metadata "b"', "not valid UTF-8", `at byte ${at}`);
});
