/**
 * GGUF robustness corpus: a seeded generator derives a few hundred corrupt
 * files from four valid base files (truncations, huge counts and lengths,
 * unknown types, bad offsets, overlaps, duplicates, bad dims, bad magic and
 * versions, ...). Every one must be rejected with a GgufError with a clear
 * message, quickly, and without allocating more than the file's size.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { openGguf, type GgufArray, type GgufValue } from "../src/formats/gguf.js";
import { gv } from "../src/formats/gguf-write.js";
import { GgufError } from "../src/errors.js";
import { buildRaw, prng, pseudoBytes, rawNbytes, type Built, type Field, type RawSpec, type RawTensor } from "./helpers/gguf-build.js";

const U64_MAX = (1n << 64n) - 1n;

function tensor(name: string, type: number, dims: number[], seed: number): RawTensor {
  return { name, type, dims, data: pseudoBytes(rawNbytes(type, dims), seed) };
}

/** Four valid base files: different versions, alignments, value types and tensor types. */
const BASES: Record<string, RawSpec> = {
  llama: {
    version: 3,
    kv: [
      ["general.architecture", gv.str("llama")],
      ["general.name", gv.str("tiny llama ✓")],
      ["llama.context_length", gv.u32(2048)],
      ["llama.rope.freq_base", gv.f32(10000)],
      ["llama.use_parallel_residual", gv.bool(false)],
      ["tokenizer.ggml.tokens", gv.arr("string", ["<unk>", "<s>", "</s>", "▁a", "b"])],
      ["tokenizer.ggml.scores", gv.arr("f32", Float32Array.of(0, 0, 0, -1, -2))],
      ["tokenizer.ggml.token_type", gv.arr("i32", Int32Array.of(2, 3, 3, 1, 1))],
    ],
    tensors: [
      tensor("token_embd.weight", 0, [8, 5], 1),
      tensor("blk.0.attn_q.weight", 8, [64, 2], 2),
      tensor("blk.0.ffn_down.weight", 12, [256, 2], 3),
    ],
  },
  v2a64: {
    version: 2, alignment: 64,
    kv: [
      ["general.alignment", gv.u32(64)],
      ["general.architecture", gv.str("llama")],
      ["llama.block_count", gv.u64(1n)],
      ["misc.nested", gv.arr("array", [
        { itemType: "u16", items: Uint16Array.of(1, 2, 3) },
        { itemType: "string", items: ["x", "yy"] },
      ] as GgufArray[])],
      ["misc.flags", gv.arr("bool", [true, false, true])],
      ["misc.i64", gv.i64(-5n)],
    ],
    tensors: [tensor("output_norm.weight", 1, [16], 4), tensor("output.weight", 14, [256], 5)],
  },
  vocabOnly: {
    version: 3,
    kv: [
      ["general.architecture", gv.str("llama")],
      ["tokenizer.ggml.model", gv.str("gpt2")],
      ["tokenizer.ggml.merges", gv.arr("string", ["a b", "ab c", "Ġ t"])],
      ["tokenizer.chat_template", gv.str("{% for m in messages %}{{ m.content }}{% endfor %}")],
      ["tokenizer.ggml.bos_token_id", gv.u32(1)],
      ["misc.f64", gv.f64(0.5)],
    ],
  },
  small8: {
    version: 3, alignment: 8,
    kv: [["general.alignment", gv.u32(8)], ["x.u8", gv.u8(3)], ["x.i16", gv.arr("i16", Int16Array.of(-1, 2))]],
    tensors: [0, 1, 2, 3, 4, 5].map((i) => tensor(`blk.${i}.attn_norm.weight`, i % 2 === 0 ? 0 : 30, [4, 1 + i], 10 + i)),
  },
};

interface Mutant {
  label: string;
  bytes: Buffer;
  expect: RegExp;
}

function patch(bytes: Buffer, f: Field, v: number | bigint): Buffer {
  const b = Buffer.from(bytes);
  if (f.size === 1) b.writeUInt8(Number(v), f.at);
  else if (f.size === 4) b.writeUInt32LE(Number(BigInt.asUintN(32, BigInt(v))), f.at);
  else b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), f.at);
  return b;
}

/** Up to `max` fields of `kind`, picked with the PRNG. */
function pick(fields: Field[], kind: Field["kind"], rnd: () => number, max: number): Field[] {
  const all = fields.filter((f) => f.kind === kind);
  const out: Field[] = [];
  while (out.length < Math.min(max, all.length)) {
    const f = all[Math.floor(rnd() * all.length)]!;
    if (!out.includes(f)) out.push(f);
  }
  return out;
}

const TRUNC = /truncated|cannot fit|runs past the end|too short/;
const FIT = /cannot fit in the \d+ bytes left/;

/** Patch-in-place mutations of one built base. */
function patchMutants(name: string, spec: RawSpec, built: Built, rnd: () => number): Mutant[] {
  const { bytes, fields } = built;
  const out: Mutant[] = [];
  const add = (label: string, b: Buffer, expect: RegExp) => out.push({ label: `${name}: ${label}`, bytes: b, expect });
  const size = bytes.length;
  const align = spec.alignment ?? 32;
  const dataLen = size - built.dataOffset;

  const cuts = new Set([0, 1, 3, 4, 7, 8, 23, 24, built.dataOffset - 1, size - 1]);
  while (cuts.size < 22) cuts.add(Math.floor(rnd() * size));
  for (const c of cuts) if (c >= 0 && c < size) add(`truncated to ${c} bytes`, bytes.subarray(0, c), TRUNC);

  for (const m of ["GGML", "ggjt", "gguf", "FUGG", "\0\0\0\0"]) {
    const b = Buffer.from(bytes);
    b.write(m, 0, "latin1");
    add(`magic ${JSON.stringify(m)}`, b, /not a GGUF file/);
  }
  const version = fields.find((f) => f.kind === "version")!;
  for (const v of [0, 1, 4, 5, 0xffffffff, 0x03000000, 0x02000000]) add(`version ${v}`, patch(bytes, version, v), /version/);

  for (const kind of ["tensorCount", "kvCount"] as const) {
    const f = fields.find((x) => x.kind === kind)!;
    for (const v of [1n << 32n, 1n << 40n, 1n << 63n, U64_MAX, BigInt(size)]) add(`${kind} = ${v}`, patch(bytes, f, v), FIT);
  }

  for (const kind of ["keyLen", "strLen", "nameLen"] as const) {
    for (const f of pick(fields, kind, rnd, 4)) {
      const left = BigInt(size - f.at - 8);
      for (const v of [left + 1n, 1n << 63n, U64_MAX]) add(`${kind}@${f.at} = ${v}`, patch(bytes, f, v), FIT);
      if (kind === "nameLen" && left >= 65n) add(`tensor name length 65 @${f.at}`, patch(bytes, f, 65), /at most 64/);
      if (f.len! > 0) {
        const b = Buffer.from(bytes);
        b[f.at + 8] = 0xff;
        add(`invalid UTF-8 in ${kind}@${f.at}`, b, /not valid UTF-8/);
      }
    }
  }

  for (const f of pick(fields, "arrCount", rnd, 5)) {
    const left = BigInt(size - f.at - 8);
    const min = BigInt([1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8][f.itemType!]!);
    for (const v of [left / min + 1n, 1n << 40n, 1n << 63n, U64_MAX]) add(`array count@${f.at} = ${v}`, patch(bytes, f, v), FIT);
  }

  for (const kind of ["valueType", "arrItemType"] as const) {
    for (const f of pick(fields, kind, rnd, 4)) {
      for (const v of [13, 99, 0xffff, 0xffffffff]) add(`${kind}@${f.at} = ${v}`, patch(bytes, f, v), /unknown (value|array item) type/);
    }
  }
  for (const f of pick(fields, "boolValue", rnd, 3)) {
    for (const v of [2, 255]) add(`bool@${f.at} = ${v}`, patch(bytes, f, v), /bool byte/);
  }

  for (const f of pick(fields, "ggmlType", rnd, 3)) {
    for (const v of [4, 5, 31, 36, 99, 0xffffffff]) add(`ggml type@${f.at} = ${v}`, patch(bytes, f, v), /ggml type/);
  }
  for (const f of pick(fields, "nDims", rnd, 2)) {
    for (const v of [0, 5, 0xffffffff]) add(`n_dims@${f.at} = ${v}`, patch(bytes, f, v), /dimensions \(1 to 4/);
  }
  for (const f of pick(fields, "dim", rnd, 4)) {
    add(`dim@${f.at} = 0`, patch(bytes, f, 0), /dimension \d is 0/);
    for (const v of [1n << 63n, U64_MAX]) add(`dim@${f.at} = ${v}`, patch(bytes, f, v), /overflows int64/);
    add(`dim@${f.at} = 2^40`, patch(bytes, f, 1n << 40n), /runs past the end|not a multiple/);
  }
  const offsets = fields.filter((f) => f.kind === "tensorOffset");
  for (const f of offsets) {
    const i = f.tensor!;
    const dims = fields.filter((x) => x.kind === "dim" && x.tensor === i);
    if (dims.length >= 2) {
      const b = patch(patch(bytes, dims[0]!, 1n << 32n), dims[1]!, 1n << 32n);
      add(`dims of tensor ${i} = 2^32 x 2^32`, b, /overflows int64/);
    }
    const past = BigInt(Math.ceil(dataLen / align) * align);
    for (const v of [past, past + BigInt(align) * 1000n, 1n << 63n, U64_MAX + 1n - BigInt(align)]) {
      add(`offset of tensor ${i} = ${v}`, patch(bytes, f, v), /runs past the end/);
    }
    const k = 1 + Math.floor(rnd() * (align - 1));
    add(`offset of tensor ${i} + ${k}`, patch(bytes, f, built.placed[i]! + k), /not a multiple of the alignment/);
    for (const g of offsets) {
      if (g !== f && rnd() < 0.5) {
        add(`offset of tensor ${i} = that of tensor ${g.tensor}`, patch(bytes, f, built.placed[g.tensor!]!), /overlap|runs past the end/);
      }
    }
  }
  const ggml = fields.filter((f) => f.kind === "ggmlType");
  for (const f of ggml) {
    const dim0 = fields.find((x) => x.kind === "dim" && x.tensor === f.tensor)!;
    if (bytes.readUInt32LE(f.at) === 8 || bytes.readUInt32LE(f.at) === 12) {
      add(`row of tensor ${f.tensor} not whole blocks`, patch(bytes, dim0, 33), /not a multiple of the Q\d_\w+ block size/);
    }
  }
  return out;
}

/** Mutations rebuilt from a changed spec: duplicates, bad alignment, empty key, deep nesting. */
function specMutants(name: string, spec: RawSpec): Mutant[] {
  const out: Mutant[] = [];
  const add = (label: string, s: RawSpec, expect: RegExp) => out.push({ label: `${name}: ${label}`, bytes: buildRaw(s).bytes, expect });
  const kv = spec.kv;
  for (const [i, j] of [[0, 1], [0, kv.length - 1], [1, 2]] as const) {
    add(`duplicate key #${i}/#${j}`, { ...spec, kv: kv.map(([k, v], n): [string, GgufValue] => [n === j ? kv[i]![0] : k, v]) }, /duplicate metadata key/);
  }
  const ts = spec.tensors ?? [];
  for (let j = 1; j < ts.length; j++) {
    add(`duplicate tensor name #0/#${j}`, { ...spec, tensors: ts.map((t, n) => (n === j ? { ...t, name: ts[0]!.name } : t)) }, /duplicate tensor name/);
  }
  const al = (v: GgufValue): RawSpec => ({ ...spec, kv: [...kv.filter(([k]) => k !== "general.alignment"), ["general.alignment", v]] });
  for (const v of [gv.u32(0), gv.u32(3), gv.u32(48), gv.u32(2 ** 31), gv.u64(32n), gv.str("32"), gv.i32(32)]) {
    add(`general.alignment = ${v.type} ${String(v.value)}`, al(v), /general\.alignment/);
  }
  add("empty key", { ...spec, kv: [...kv, ["", gv.u8(1)]] }, /empty key/);
  let deep: GgufArray = { itemType: "u8", items: Uint8Array.of(1) };
  for (let d = 0; d < 9; d++) deep = { itemType: "array", items: [deep] };
  add("arrays nested 10 deep", { ...spec, kv: [...kv, ["deep", { type: "array", value: deep }]] }, /nested more than/);
  return out;
}

function corpus(seed: number): { bases: [string, Built][]; mutants: Mutant[] } {
  const rnd = prng(seed);
  const bases: [string, Built][] = [];
  const mutants: Mutant[] = [];
  for (const [name, spec] of Object.entries(BASES)) {
    const built = buildRaw(spec);
    bases.push([name, built]);
    mutants.push(...patchMutants(name, spec, built, rnd), ...specMutants(name, spec));
  }
  return { bases, mutants };
}

test("GGUF robustness corpus: every mutant is a GgufError, fast", { timeout: 120_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-gguf-fuzz-"));
  const { bases, mutants } = corpus(0x6775_6766);
  for (const [name, b] of bases) {
    const f = path.join(dir, `${name}.gguf`);
    fs.writeFileSync(f, b.bytes);
    const g = openGguf(f); // the bases themselves are valid
    assert.equal(g.dataOffset, b.dataOffset, name);
  }
  assert.ok(mutants.length >= 200, `only ${mutants.length} mutants`);
  const labels = new Set<string>();
  let parseMs = 0, worstMs = 0, worst = "";
  mutants.forEach((m, i) => {
    const f = path.join(dir, `m${i}.gguf`);
    fs.writeFileSync(f, m.bytes);
    const t0 = performance.now();
    let err: unknown;
    try {
      openGguf(f);
    } catch (e) {
      err = e;
    }
    const ms = performance.now() - t0;
    parseMs += ms;
    if (ms > worstMs) [worstMs, worst] = [ms, m.label];
    assert.ok(err !== undefined, `${m.label}: was accepted`);
    assert.ok(err instanceof GgufError, `${m.label}: threw ${String(err)} instead of a GgufError`);
    assert.equal(err.code, "BAD_GGUF");
    assert.ok(err.message.length > 0);
    assert.ok(err.message.startsWith(f), `${m.label}: message does not name the file: ${err.message}`);
    assert.doesNotMatch(err.message, /internal error/, `${m.label}: ${err.message}`);
    assert.match(err.message, m.expect, `${m.label}: ${err.message}`);
    labels.add(m.label);
    fs.rmSync(f);
  });
  console.log(`${mutants.length} mutants (${labels.size} distinct), parse total ${parseMs.toFixed(1)} ms, worst ${worstMs.toFixed(2)} ms (${worst})`);
  assert.ok(parseMs < 5000, `corpus took ${parseMs} ms`);
  assert.ok(worstMs < 500, `slowest mutant took ${worstMs} ms: ${worst}`);
});

test("a corpus is deterministic for a seed", () => {
  const a = corpus(7).mutants, b = corpus(7).mutants;
  assert.equal(a.length, b.length);
  a.forEach((m, i) => assert.ok(m.bytes.equals(b[i]!.bytes), m.label));
});

test("tiny files claiming 2^40 items allocate nothing", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-gguf-mem-"));
  const files: string[] = [];
  const n40 = 1n << 40n;
  const variants: [string, RawSpec, (b: Built) => Field][] = [];
  for (const t of ["u8", "f32", "u64", "string", "bool", "array"] as const) {
    const items = t === "string" ? ["a"] : t === "bool" ? [true] : t === "array" ? [{ itemType: "u8", items: Uint8Array.of(1) }]
      : t === "u8" ? Uint8Array.of(1) : t === "f32" ? Float32Array.of(1) : BigUint64Array.of(1n);
    variants.push([`array of ${t}`, { kv: [["a", { type: "array", value: { itemType: t, items } as unknown as GgufArray }]] },
      (b) => b.fields.find((f) => f.kind === "arrCount")!]);
  }
  variants.push(["string", { kv: [["s", gv.str("abc")]] }, (b) => b.fields.find((f) => f.kind === "strLen")!]);
  variants.push(["kv count", { kv: [["s", gv.u8(1)]] }, (b) => b.fields.find((f) => f.kind === "kvCount")!]);
  variants.push(["tensor count", { kv: [["s", gv.u8(1)]] }, (b) => b.fields.find((f) => f.kind === "tensorCount")!]);
  for (const [label, spec, field] of variants) {
    const b = buildRaw(spec);
    const f = path.join(dir, `${label.replace(/ /g, "_")}.gguf`);
    fs.writeFileSync(f, patch(b.bytes, field(b), n40));
    files.push(f);
  }
  const before = process.memoryUsage();
  for (let rep = 0; rep < 20; rep++) {
    for (const f of files) assert.throws(() => openGguf(f), (e: unknown) => e instanceof GgufError && /cannot fit/.test(e.message));
  }
  const after = process.memoryUsage();
  const ab = after.arrayBuffers - before.arrayBuffers;
  const rss = after.rss - before.rss;
  console.log(`arrayBuffers +${ab} bytes, rss +${(rss / 2 ** 20).toFixed(1)} MiB over ${files.length * 20} parses`);
  assert.ok(ab < 1 << 20, `arrayBuffers grew by ${ab} bytes`);
  assert.ok(rss < 64 << 20, `rss grew by ${rss} bytes`);
});
