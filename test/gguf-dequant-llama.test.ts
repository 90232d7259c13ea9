/**
 * Cross-check of the native dequantizer with llama.cpp (node-llama-cpp's
 * prebuilt CPU binary): for each type, a toy llama GGUF whose block is the
 * identity (test/helpers/toy-llama-gguf.ts) has token_embd.weight of that type
 * with random content; llama.cpp's logits for token t are then
 * rmsnorm(row t of its own dequantization), which is compared with the same
 * function of our dequantized row, for every row (every block of the tensor).
 * Skips with a message when node-llama-cpp cannot load.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Token } from "node-llama-cpp";
import { DEQUANT_TYPE_NAMES, dequantizeGgml } from "../src/formats/gguf-dequant.js";
import { ggmlTypeByName } from "../src/formats/gguf-types.js";
import { REF_TYPES, randomBlock, rng, saneF16 } from "./helpers/ggml-ref.js";
import { TOY_EPS, writeToyLlama } from "./helpers/toy-llama-gguf.js";

const N = 512;  // hidden = vocab; a row is 2 super-blocks or 16 blocks of 32

/** Random [N, N] data of `type` with finite values (sane f16 scales). */
function randomTensor(type: string, seed: number): Uint8Array {
  const r = rng(seed), ref = REF_TYPES.get(type);
  if (ref) {
    const out = new Uint8Array(((N * N) / ref.elems) * ref.bytes);
    for (let i = 0; i < out.length / ref.bytes; i++) out.set(ref.pack(randomBlock(ref, r)), i * ref.bytes);
    return out;
  }
  if (type === "F32") {
    const a = Float32Array.from({ length: N * N }, () => (r(0, 2 ** 20) / 2 ** 19 - 1) * 3);
    return new Uint8Array(a.buffer);
  }
  // F16: a sane half; BF16: sign, exponent 118..131, 7 random mantissa bits
  const h = Uint16Array.from({ length: N * N }, () =>
    type === "F16" ? saneF16(r) : (r(0, 1) << 15) | (r(118, 131) << 7) | r(0, 127));
  return new Uint8Array(h.buffer);
}

/**
 * llama.cpp scales the row by one f32 factor s (1 / rms) and the rest of the
 * path (norm weight 1, identity matmul) is exact, so logits = fround(x * s)
 * exactly, except that the matmul's sums turn -0 into +0 (so === below).
 * Finds such an s near got / x at the largest |x|, or returns 0.
 */
function exactScale(x: Float32Array, got: Float64Array): number {
  let k = 0;
  for (let j = 1; j < x.length; j++) if (Math.abs(x[j]!) > Math.abs(x[k]!)) k = j;
  const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
  f32[0] = got[k]! / x[k]!;
  const base = u32[0]!;
  for (let delta = -4; delta <= 4; delta++) {
    u32[0] = base + delta;
    const s = f32[0]!;
    if (x.every((v, j) => Math.fround(v * s) === got[j])) return s;
  }
  return 0;
}

/** rmsnorm as llama.cpp's output_norm with weight 1, in float64. */
function rmsnorm(x: Float32Array): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const s = 1 / Math.sqrt(ss / x.length + TOY_EPS);
  return Float64Array.from(x, (v) => v * s);
}

test("llama.cpp's own dequantization (token_embd get_rows) agrees with ours for every type", async (t) => {
  let llamaMod: typeof import("node-llama-cpp");
  let llama: Awaited<ReturnType<typeof llamaMod.getLlama>>;
  try {
    llamaMod = await import("node-llama-cpp");
    llama = await llamaMod.getLlama({ build: "never", gpu: false, logLevel: llamaMod.LlamaLogLevel.error });
  } catch (e) {
    t.skip(`node-llama-cpp cannot load its prebuilt llama.cpp here (${(e as Error).message.split("\n")[0]}): cross-check skipped`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-deq-llama-"));
  try {
    for (const [i, type] of DEQUANT_TYPE_NAMES.entries()) {
      const bytes = randomTensor(type, 101 + i), file = path.join(dir, `${type}.gguf`);
      writeToyLlama(file, N, type, bytes);
      const ours = dequantizeGgml(type, bytes, N * N);
      const model = await llama.loadModel({ modelPath: file });
      const ctx = await model.createContext({ contextSize: 1024, batchSize: N, threads: 2 });
      const tokens = Array.from({ length: N }, (_, k) => k as unknown as Token);
      const res = await ctx.getSequence().controlledEvaluate(tokens.map((tk) => [tk, { generateNext: { logits: true } }]));
      let maxAbs = 0, maxRel = 0, wrongRow = Infinity, exact = 0;
      for (let k = 0; k < N; k++) {
        const logits = res[k]?.next.logits;
        assert.ok(logits && logits.size === N, `${type}: logits for token ${k}`);
        const row = ours.subarray(k * N, (k + 1) * N), want = rmsnorm(row);
        if (exactScale(row, Float64Array.from({ length: N }, (_, j) => logits.get(j as unknown as Token)!)) !== 0) exact++;
        const other = rmsnorm(ours.subarray(((k + 1) % N) * N, ((k + 1) % N + 1) * N));
        let rowOther = 0;
        for (let j = 0; j < N; j++) {
          const got = logits.get(j as unknown as Token)!, d = Math.abs(got - want[j]!);
          maxAbs = Math.max(maxAbs, d);
          if (Math.abs(want[j]!) > 1e-3) maxRel = Math.max(maxRel, d / Math.abs(want[j]!));
          rowOther = Math.max(rowOther, Math.abs(got - other[j]!));
        }
        wrongRow = Math.min(wrongRow, rowOther);
      }
      await ctx.dispose();
      await model.dispose();
      const info = ggmlTypeByName(type)!;
      console.log(`# ${type.padEnd(4)} (${(N * N) / info.blockSize} blocks): max |diff| ${maxAbs.toExponential(2)}, ` +
        `max rel ${maxRel.toExponential(2)}, rows bit-exact up to llama.cpp's f32 norm factor: ${exact}/${N} ` +
        `(vs the neighbouring row: |diff| at least ${wrongRow.toFixed(2)})`);
      // Logits have rms 1, so 1e-5 is a few f32 ulps; a layout error gives O(1) differences,
      // as comparing each row with its neighbour shows.
      assert.ok(maxAbs < 1e-5, `${type}: llama.cpp differs by ${maxAbs}`);
      assert.equal(exact, N, `${type}: rows that are exactly llama.cpp's up to its norm factor`);
      assert.ok(wrongRow > 0.1, `${type}: the comparison cannot tell rows apart`);
    }
  } finally {
    await llama.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
