/**
 * Native dequantization of ggml types (src/formats/gguf-dequant.ts,
 * native/src/ggml_dequant.cc) against an independent TS model of the block
 * layouts (test/helpers/ggml-ref.ts) and against values worked out by hand.
 * Every comparison is bit-exact (NaNs equal to each other, -0 distinct from +0).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEQUANT_TYPE_NAMES, dequantizeGgml, dequantLayout } from "../src/formats/gguf-dequant.js";
import { ggmlTypeByName } from "../src/formats/gguf-types.js";
import { NativeError, WeightsFormatError } from "../src/errors.js";
import { addon } from "../src/native.js";
import { REF_TYPES, f16, randomBlock, refDequant, rng, type Block, type RefType } from "./helpers/ggml-ref.js";

/** Bit-exact equality of two f32 arrays; the message names the first difference. */
function sameBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

const T = (name: string): RefType => REF_TYPES.get(name)!;
const deq = (name: string, bytes: Uint8Array): Float32Array =>
  dequantizeGgml(name, bytes, (bytes.length / T(name).bytes) * T(name).elems);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => r(0, 255));
}

test("block sizes agree with gguf-types.ts and the TS model", () => {
  assert.deepEqual([...DEQUANT_TYPE_NAMES].sort(), [...REF_TYPES.keys(), "F32", "F16", "BF16"].sort());
  for (const name of DEQUANT_TYPE_NAMES) {
    const info = ggmlTypeByName(name)!, lay = dequantLayout(name)!;
    assert.equal(lay, info);
    assert.equal(dequantLayout(info.id), info);
    const ref = REF_TYPES.get(name);
    if (ref) assert.deepEqual([ref.id, ref.elems, ref.bytes], [info.id, info.blockSize, info.typeSize], name);
  }
  assert.equal(dequantLayout("Q8_1"), undefined);
  assert.equal(dequantLayout(16), undefined);
});

test("the TS model is self-consistent: pack(unpack(bytes)) = bytes, unpack(pack(block)) = block", () => {
  for (const t of REF_TYPES.values()) {
    const r = rng(7 + t.id);
    for (let i = 0; i < 40; i++) {
      const bytes = randomBytes(t.bytes, 1000 * t.id + i);
      assert.deepEqual(t.pack(t.unpack(bytes)), bytes, `${t.name} bytes round trip`);
      const blk = randomBlock(t, r);
      assert.deepEqual(t.unpack(t.pack(blk)), blk, `${t.name} block round trip`);
    }
  }
});

/** A block with every code equal to `q`, all sub-block scales/mins taken from the arrays. */
function fill(t: RefType, d: number, m: number, q: (e: number) => number, sc: number[] = [], mn: number[] = []): Block {
  return { d, m, sc, mn, q: Array.from({ length: t.elems }, (_, e) => q(e)) };
}

test("hand-worked values, 32-value types", () => {
  // d = 0.5 (0x3800), m = -1.25 (0xBD00). Q4_0 byte j holds elements j (low) and j + 16 (high).
  const q40 = new Uint8Array(18); q40.set([0x00, 0x38]); q40[2] = 0xF3; q40[17] = 0x08;
  const v40 = deq("Q4_0", q40);
  assert.equal(v40[0], (3 - 8) * 0.5);    // low nibble of byte 0 = 3 -> -2.5
  assert.equal(v40[16], (15 - 8) * 0.5);  // high nibble = 15 -> 3.5
  assert.equal(v40[15], 0);               // low nibble of the last byte = 8 -> +0
  assert.ok(Object.is(v40[1], -4));       // byte 0x00 -> (0 - 8) * 0.5

  const q41 = new Uint8Array(20); q41.set([0x00, 0x38, 0x00, 0xBD]); q41[4] = 0x2A;
  const v41 = deq("Q4_1", q41);
  assert.deepEqual([v41[0], v41[16], v41[1]], [10 * 0.5 - 1.25, 2 * 0.5 - 1.25, -1.25]);

  // Q5_0: qh bit e is the fifth bit of element e. qh = 0x80010001: elements 0, 16, 31.
  const q50 = new Uint8Array(22); q50.set([0x00, 0x38, 0x01, 0x00, 0x01, 0x80]); q50[6] = 0x21; q50[21] = 0xF0;
  const v50 = deq("Q5_0", q50);
  assert.equal(v50[0], (16 + 1 - 16) * 0.5);   // 17 -> 0.5
  assert.equal(v50[16], (16 + 2 - 16) * 0.5);  // 18 -> 1
  assert.equal(v50[31], (16 + 15 - 16) * 0.5); // 31 -> 7.5
  assert.equal(v50[15], (0 - 16) * 0.5);       // 0 -> -8
  assert.equal(v50[1], -8);

  const q51 = new Uint8Array(24); q51.set([0x00, 0x38, 0x00, 0xBD, 0x00, 0x00, 0x01, 0x00]); q51[8] = 0x07;
  const v51 = deq("Q5_1", q51);  // bit 16 of qh: element 16 = 0 + 16
  assert.deepEqual([v51[0], v51[16], v51[1]], [7 * 0.5 - 1.25, 16 * 0.5 - 1.25, -1.25]);

  const q80 = new Uint8Array(34); q80.set([0x00, 0xC0, 0x7F, 0x80, 0xFF]);  // d = -2
  assert.deepEqual(Array.from(deq("Q8_0", q80).subarray(0, 4)), [-254, 256, 2, -0]);
});

test("hand-worked values, Q4_K and Q5_K: 6-bit scales/mins (get_scale_min_k4)", () => {
  // d = 0.5, dmin = 0.25; scales [1,2,3,4,10,20,33,63], mins [0,1,2,3,5,6,40,63] packed by hand:
  // bytes 0-3 = scale j | (scale j+4 >> 4) << 6, bytes 4-7 = min j | (min j+4 >> 4) << 6,
  // bytes 8-11 = (scale j & 15) | (min j & 15) << 4 for j = 4..7.
  const head = [0x00, 0x38, 0x00, 0x34, 1, 66, 131, 196, 0, 1, 130, 195, 90, 100, 129, 255];
  const q4k = new Uint8Array(144); q4k.set(head); q4k.fill(0x5A, 16);  // low nibble 10, high 5
  const v = deq("Q4_K", q4k);
  // element 64 c + l is sub-block 2c (low nibble), 64 c + 32 + l is sub-block 2c + 1 (high nibble)
  const want = [0.5 * 1 * 10 - 0, 0.5 * 2 * 5 - 0.25, 0.5 * 3 * 10 - 0.5, 0.5 * 4 * 5 - 0.75,
    0.5 * 10 * 10 - 1.25, 0.5 * 20 * 5 - 1.5, 0.5 * 33 * 10 - 10, 0.5 * 63 * 5 - 15.75];
  for (let s = 0; s < 8; s++) for (let l = 0; l < 32; l++) assert.equal(v[32 * s + l], want[s], `sub-block ${s}`);
  assert.deepEqual(want.slice(4), [48.75, 48.5, 155, 141.75]);

  // Q5_K: same header; qh[l] bit s adds 16 to element 32 s + l. qh[0] = 0b10000001, qh[5] = 0b00000100.
  const q5k = new Uint8Array(176); q5k.set(head); q5k[16] = 0x81; q5k[21] = 0x04; q5k.fill(0x5A, 48);
  const v5 = deq("Q5_K", q5k);
  assert.equal(v5[0], 0.5 * 1 * 26 - 0);           // 10 + 16
  assert.equal(v5[1], 0.5 * 1 * 10 - 0);
  assert.equal(v5[7 * 32], 0.5 * 63 * 21 - 15.75); // bit 7 of qh[0]: element 224 = 5 + 16, sub-block 7
  assert.equal(v5[2 * 32 + 5], 0.5 * 3 * 26 - 0.5); // bit 2 of qh[5]: element 69
  assert.equal(v5[2 * 32 + 6], 0.5 * 3 * 10 - 0.5);
});

test("hand-worked values, Q2_K and Q3_K", () => {
  // Q2_K: scales[s] = scale | min << 4; element 128 c + 32 j + r = bits 2j of qs[32 c + r]; d = 2, dmin = 0.5.
  const q2 = new Uint8Array(84);
  q2[0] = 0x13; q2[1] = 0x25; q2[15] = 0xFF;   // sub-block 0: 3, 1; 1: 5, 2; 15: 15, 15
  q2[16] = 0b11100100;                          // elements 0, 32, 64, 96 = 0, 1, 2, 3
  q2[16 + 32 + 31] = 0xC0;                      // element 128 + 96 + 31 = 255 -> code 3
  q2[80] = 0x00; q2[81] = 0x40; q2[82] = 0x00; q2[83] = 0x38;
  const v2 = deq("Q2_K", q2);
  assert.equal(v2[0], 2 * 3 * 0 - 0.5 * 1);
  assert.equal(v2[32], 2 * 0 * 1 - 0.5 * 0);   // sub-block 2 (scales[2] = 0)
  assert.equal(v2[16], -1);                    // sub-block 1: 2*5*0 - 0.5*2
  assert.equal(v2[255], 2 * 15 * 3 - 0.5 * 15);

  // Q3_K: 6-bit scales minus 32: low nibbles in bytes 96..103 (s < 8 low, s >= 8 high), top 2 bits at
  // bits 2(s/4) of byte 104 + s%4. Sub-block 0: 0x5 | 2<<4 = 37 -> 5; sub-block 9: 0xC | 1<<4 = 28 -> -4.
  const q3 = new Uint8Array(110);
  q3[96] = 0x05; q3[97] = 0xC0; q3[104] = 0x02; q3[105] = 0x01 << 4;  // s=9: byte 105, bits 4-5 (9/4 = 2)
  q3[108] = 0x00; q3[109] = 0x3C;                // d = 1
  q3[0] = 0x01;                                  // hmask[0] bit 0: element 0 has its high bit -> no -4
  q3[32] = 0x03; q3[32 + 16 + 2] = 0x02;         // element 0 low = 3; element 16+2 (sub-block 1) = 2
  q3[32 + 16 + 1] = 0x0C;                        // element 17 low 0 (sub-block 1), element 49 (bits 2-3) = 3
  const v3 = deq("Q3_K", q3);
  assert.equal(v3[0], 5 * 3);                    // 3 - 0
  assert.equal(v3[1], 5 * -4);                   // 0 - 4
  assert.equal(v3[144], -4 * -4);                // sub-block 9, code 0 - 4 -> 16
  assert.equal(v3[17], -32 * -4);               // sub-block 1 (scale 0 -> -32), code 0 - 4
  assert.equal(v3[18], (0 - 32) * (2 - 4));      // code 2 - 4 -> 64
  assert.equal(v3[49], (0 - 32) * (3 - 4));      // sub-block 3 (scale -32), bits 2-3 of qs[17] = 3 -> 32
});

test("hand-worked values, Q6_K", () => {
  // Element 128 c + 32 g + l: low 4 bits of ql[64 c + 32 (g & 1) + l] (high nibble for g >= 2),
  // 2 high bits at bits 2g of qh[32 c + l]; value d * scales[e / 16] * (q - 32). d = 0.25.
  const b = new Uint8Array(210);
  b[0] = 0x9F; b[128] = 0b11100100; b[192] = 4; b[196] = -3 & 255; b[198] = -128 & 255;
  b[208] = 0x00; b[209] = 0x34;
  b[64 + 32 + 31] = 0xA0; b[128 + 32 + 31] = 0xC0;  // element 255: g = 3 -> high nibble 10, bits 6-7 = 3
  b[207] = 127;
  const v = deq("Q6_K", b);
  assert.equal(v[0], 0.25 * 4 * ((0xF | 0 << 4) - 32));    // g 0: low nibble 15, bits 0-1 = 0 -> -17 * 1
  assert.equal(v[32], 0.25 * 0 * -16);                      // g 1: bits 2-3 = 1 -> -16, sub-block 2 (scale 0): -0
  assert.equal(v[64], 0.25 * -3 * ((0x9 | 2 << 4) - 32));  // g 2: high nibble 9, bits 4-5 = 2 -> 9 * -0.75
  assert.equal(v[96], 0.25 * -128 * ((0 | 3 << 4) - 32));  // g 3: ql[32] = 0, bits 6-7 = 3 -> 16, sub-block 6
  assert.equal(v[255], 0.25 * 127 * ((10 | 3 << 4) - 32)); // 26 * 31.75
});

test("random blocks: native = ggml's formula on the logical content (200 blocks per type)", () => {
  for (const t of REF_TYPES.values()) {
    const r = rng(99 + t.id);
    const blocks = Array.from({ length: 200 }, () => randomBlock(t, r));
    const want = new Float32Array(200 * t.elems);
    blocks.forEach((b, i) => want.set(t.values(b), i * t.elems));
    const bytes = concat(blocks.map((b) => t.pack(b)));
    sameBits(deq(t.name, bytes), want, t.name);
    // Any byte offset: the same bytes at an odd offset of a larger buffer.
    const shifted = new Uint8Array(bytes.length + 3); shifted.set(bytes, 1);
    sameBits(dequantizeGgml(t.name, shifted.subarray(1, 1 + bytes.length), want.length), want, `${t.name} unaligned`);
  }
});

test("random bytes (any f16 scale: subnormal, inf, NaN): native = TS model, 500 blocks per type", () => {
  for (const t of REF_TYPES.values()) {
    const bytes = randomBytes(500 * t.bytes, 31 * t.id);
    sameBits(deq(t.name, bytes), refDequant(t, bytes), t.name);
  }
});

test("zero blocks and special scales", () => {
  for (const t of REF_TYPES.values()) {
    const z = new Uint8Array(3 * t.bytes), v = deq(t.name, z);
    sameBits(v, refDequant(t, z), `${t.name} zeros`);
    for (const x of v) assert.ok(x === 0, `${t.name} zero block gives ±0`);
  }
  // Every type with special f16 scales and mins (±inf, ±0, subnormals, the largest normal) on random codes.
  const specials = [0x7C00, 0xFC00, 0x7E00, 0x0000, 0x8000, 0x0001, 0x83FF, 0x7BFF];
  for (const t of REF_TYPES.values()) {
    const r = rng(5 + t.id), blocks: Block[] = [];
    for (const d of specials) for (const m of t.hasMin ? specials : [0]) blocks.push({ ...randomBlock(t, r), d, m });
    const want = new Float32Array(blocks.length * t.elems);
    blocks.forEach((b, i) => want.set(t.values(b), i * t.elems));
    sameBits(deq(t.name, concat(blocks.map((b) => t.pack(b)))), want, `${t.name} special scales`);
  }
  assert.ok(Object.is(deq("Q4_0", new Uint8Array(18))[0], -0));  // (0 - 8) * 0
  assert.ok(Object.is(deq("Q4_1", new Uint8Array(20))[0], 0));

  const q8 = (dBits: number, qs: number[]): Float32Array => {
    const b = new Uint8Array(34); b[0] = dBits & 255; b[1] = dBits >> 8; qs.forEach((q, i) => { b[2 + i] = q & 255; });
    return deq("Q8_0", b);
  };
  assert.equal(q8(0x0001, [127])[0], 127 * 2 ** -24);        // smallest subnormal
  assert.equal(q8(0x03FF, [-1])[0], -1023 * 2 ** -24);       // largest subnormal
  assert.equal(q8(0x7BFF, [100])[0], 65504 * 100);           // largest normal
  const inf = q8(0x7C00, [0, 1, -1]);
  assert.ok(Number.isNaN(inf[0]!));                          // inf * 0
  assert.deepEqual([inf[1], inf[2]], [Infinity, -Infinity]);
  assert.ok(Number.isNaN(q8(0x7E00, [5])[0]!));
  assert.ok(Object.is(q8(0x8000, [3])[0], -0));              // d = -0

  // Q4_K with d = +inf: a zero sub-block scale gives NaN (inf * 0), others ±inf.
  const k = T("Q4_K"), blk = fill(k, 0x7C00, 0x3C00, () => 1, [0, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 1]);
  const v = deq("Q4_K", k.pack(blk));
  assert.ok(Number.isNaN(v[0]!));
  assert.equal(v[32], Infinity);
});

test("F32, F16, BF16", () => {
  const all16 = new Uint16Array(65536).map((_, i) => i), bytes16 = new Uint8Array(all16.buffer);
  const h = dequantizeGgml("F16", bytes16, 65536);
  for (let i = 0; i < 65536; i++) {
    const want = f16(i);
    if (!Object.is(h[i], want) && !(Number.isNaN(want) && Number.isNaN(h[i]!))) assert.fail(`f16 0x${i.toString(16)}: ${h[i]} != ${want}`);
  }
  assert.equal(h[0x3555], 0.333251953125);
  const b = dequantizeGgml("BF16", bytes16, 65536), dv = new DataView(new ArrayBuffer(4)), bb = new Uint32Array(b.buffer);
  for (let i = 0; i < 65536; i++) {
    dv.setUint32(0, i << 16 >>> 0, true);
    const want = dv.getFloat32(0, true);
    if (Number.isNaN(want)) assert.equal(bb[i], (i << 16) >>> 0, `bf16 NaN 0x${i.toString(16)} keeps its bits`);
    else assert.ok(Object.is(b[i], want), `bf16 0x${i.toString(16)}`);
  }
  assert.equal(b[0x3F80], 1);
  const raw = randomBytes(4 * 1001, 5), f = dequantizeGgml(0, raw.subarray(0, 4004), 1001);
  assert.deepEqual(new Uint8Array(f.buffer), raw.subarray(0, 4004));  // bit-exact copy, NaN payloads included
});

test("typed errors: unsupported types, wrong sizes; nothing written", () => {
  const bad = (fn: () => unknown, ...parts: string[]): void => assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof WeightsFormatError && !(e instanceof NativeError), String(e));
    for (const p of parts) assert.ok(e.message.includes(p), `"${e.message}" lacks "${p}"`);
    return true;
  });
  bad(() => dequantizeGgml(9, new Uint8Array(36), 32), "id 9", "Q8_1", "cannot be dequantized");
  bad(() => dequantizeGgml(16, new Uint8Array(66), 256), "IQ2_XXS");
  bad(() => dequantizeGgml(15, new Uint8Array(292), 256), "Q8_K");
  bad(() => dequantizeGgml(24, new Uint8Array(4), 4), "I8");
  bad(() => dequantizeGgml(4, new Uint8Array(20), 32), "Q4_2");
  bad(() => dequantizeGgml(99, new Uint8Array(20), 32), "id 99");
  bad(() => dequantizeGgml("IQ2_XS", new Uint8Array(74), 256), "\"IQ2_XS\"");
  bad(() => dequantizeGgml(ggmlTypeByName("TQ2_0")!, new Uint8Array(66), 256), "TQ2_0 (id 35)");
  bad(() => dequantizeGgml("Q4_K", new Uint8Array(143), 256, { name: "blk.0.ffn_up.weight" }),
    "blk.0.ffn_up.weight", "take 144 bytes", "got 143");
  bad(() => dequantizeGgml("Q4_K", new Uint8Array(288), 256), "got 288");
  bad(() => dequantizeGgml("Q6_K", new Uint8Array(210), 128), "not a whole number of 256-value blocks");
  bad(() => dequantizeGgml("F16", new Uint8Array(2), 1.5), "not a non-negative integer");
  bad(() => dequantizeGgml("F16", new Uint8Array(2), -1), "not a non-negative integer");
  const out = new Float32Array(33).fill(7);
  bad(() => dequantizeGgml("Q8_0", new Uint8Array(34), 32, { out }), "output has 33 values");
  assert.ok(out.every((x) => x === 7));
  assert.equal(dequantizeGgml("Q8_0", new Uint8Array(0), 0).length, 0);

  // The native entry checks on its own (not only through the wrapper) and writes nothing on failure.
  const a = addon(), o = new Float32Array(256).fill(7);
  assert.throws(() => a.ggmlDequantize(12, new Uint8Array(145), o), /256 elements take 1 blocks of 144 bytes, but 145/);
  assert.throws(() => a.ggmlDequantize(12, new Uint8Array(144), o.subarray(0, 255)), /not a whole number/);
  assert.throws(() => a.ggmlDequantize(16, new Uint8Array(66), o), /ggml type 16 cannot be dequantized/);
  assert.throws(() => a.ggmlDequantize(-1, new Uint8Array(66), o), /typeId must be an integer/);
  assert.throws(() => a.ggmlDequantize(12, new Int8Array(144) as unknown as Uint8Array, o), /wrong typed array type/);
  assert.ok(o.every((x) => x === 7));
  const into = new Float32Array(256), ret = dequantizeGgml("Q4_K", new Uint8Array(144), 256, { out: into });
  assert.equal(ret, into);
});

test("a larger tensor (2^20 values per type) matches the TS model; throughput is printed", () => {
  for (const t of REF_TYPES.values()) {
    const n = 1 << 20, bytes = randomBytes((n / t.elems) * t.bytes, 3 + t.id);
    const t0 = performance.now(), v = deq(t.name, bytes), ms = performance.now() - t0;
    const sample = bytes.subarray(bytes.length - 7 * t.bytes);
    sameBits(v.subarray(n - 7 * t.elems), refDequant(t, sample), `${t.name} tail`);
    sameBits(v.subarray(0, 7 * t.elems), refDequant(t, bytes.subarray(0, 7 * t.bytes)), `${t.name} head`);
    console.log(`# ${t.name}: ${n} values in ${ms.toFixed(1)} ms (${((n * 4) / ms / 1e3).toFixed(0)} MB/s of f32 out)`);
  }
});
