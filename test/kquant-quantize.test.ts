/**
 * lowbit's K-quant quantizers (native/src/formats/q4_k.cc, q5_k.cc, q6_k.cc,
 * kquant_quantize.cc; `lowbit convert --type q4_k | q5_k | q6_k | q4_k_m |
 * q5_k_m`) write the blocks llama.cpp's reference quantizers write
 * (quantize_row_q4_K_ref / q5_K_ref / q6_K_ref: the path llama-quantize takes
 * without an importance matrix; quantize_row_q5_0_ref / q5_1_ref for the
 * fallbacks of rows that are not whole 256-value blocks):
 *  - test/fixtures/kquant-llamacpp.json "quantize" holds f32 rows of varied
 *    kinds (outliers, zero and constant sub-blocks, a zero super-block,
 *    one-sided rows, tiny values) and the blocks node-llama-cpp's libggml-base
 *    made of them (native/bench/kquant_oracle.cc --record, which also checks
 *    512 rows per type); ggmlQuantize must give the same bytes;
 *  - the blocks decode close to the input (dequantizeGgml), so the fixture is
 *    not trivially zero;
 *  - bad shapes and types are refused with a clear message.
 * The whole-file comparison with llama-quantize is in gguf-kquant-export.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { addon } from "../src/native.js";
import { dequantizeGgml } from "../src/formats/gguf-dequant.js";
import { REPO } from "./helpers/paths.js";

interface QuantCase { type: "q4_k" | "q5_k" | "q6_k" | "q5_0" | "q5_1"; rows: number; k: number; x: string; blocks: string }
const b64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));
const fx = JSON.parse(readFileSync(join(REPO, "test", "fixtures", "kquant-llamacpp.json"), "utf8")) as { quantize: QuantCase[] };

test("ggmlQuantize q4_k / q5_k / q6_k / q5_0 / q5_1 = llama.cpp's reference quantizers, byte for byte", () => {
  assert.deepEqual(fx.quantize.map((c) => c.type).sort(), ["q4_k", "q5_0", "q5_1", "q5_k", "q6_k"], "a fixture entry per type");
  for (const c of fx.quantize) {
    const xb = b64(c.x), x = new Float32Array(xb.buffer, xb.byteOffset, xb.length / 4);
    const want = b64(c.blocks);
    const got = addon().ggmlQuantize(c.type, x, c.rows, c.k);
    assert.equal(got.length, want.length, `${c.type}: byte count`);
    const rb = want.length / c.rows;
    for (let r = 0; r < c.rows; r++) {
      const a = got.subarray(r * rb, (r + 1) * rb), b = want.subarray(r * rb, (r + 1) * rb);
      const at = a.findIndex((v, i) => v !== b[i]);
      assert.equal(at, -1, `${c.type} row ${r}: byte ${at} is ${a[at]}, llama.cpp wrote ${b[at]}`);
    }
    // the blocks reproduce the rows to within the type's step (relative RMS error)
    const y = dequantizeGgml(c.type.toUpperCase(), got, c.rows * c.k);
    let err = 0, ss = 0;
    for (let i = 0; i < x.length; i++) (err += (y[i]! - x[i]!) ** 2), (ss += x[i]! ** 2);
    const rel = Math.sqrt(err / ss);
    assert.ok(rel > 0 && rel < { q4_k: 0.15, q5_k: 0.08, q6_k: 0.04, q5_0: 0.08, q5_1: 0.08 }[c.type], `${c.type}: relative RMS error ${rel}`);
  }
});

test("ggmlQuantize refuses K-quant shapes and types it cannot write", () => {
  const x = new Float32Array(512);
  assert.throws(() => addon().ggmlQuantize("q4_k", x, 4, 128), /multiple of 256/);
  assert.throws(() => addon().ggmlQuantize("q6_k", x, 3, 256), /elements, not rows \* cols/);
  assert.throws(() => addon().ggmlQuantize("q2_k" as "q4_k", x, 2, 256), /type must be/);
  assert.throws(() => addon().ggmlQuantize("Q4_K" as "q4_k", x, 2, 256), /type must be/);
});
