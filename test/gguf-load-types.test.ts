/**
 * GGUF tensors of the types with a native format (Q2_K .. Q6_K, Q4_1, Q5_0, Q5_1,
 * IQ4_NL, IQ4_XS: native/src/formats/) load as they are, so their
 * rows are looked up exactly (ggml's dequantization). A toy model whose block is the identity and whose head is the F32
 * identity (test/helpers/toy-llama-gguf.ts) makes the logits of token t the
 * rmsnorm of embedding row t, so they can be checked against the row
 * dequantized directly, within q8_0's rounding.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../src/index.js";
import { dequantizeGgml } from "../src/formats/gguf-dequant.js";
import { openGguf } from "../src/formats/gguf.js";
import { REF_TYPES, randomBlock, rng } from "./helpers/ggml-ref.js";
import { TOY_EPS, writeToyLlama } from "./helpers/toy-llama-gguf.js";

const N = 256;
const NATIVE = new Set(["Q2_K", "Q3_K", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"]);

test("GGUF Q2_K..Q6_K, Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS tensors load natively", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "lowbit-ggtypes-"));
  try {
    for (const type of ["Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"]) {
      const ref = REF_TYPES.get(type)!;
      const r = rng(7);
      const bytes = new Uint8Array(((N * N) / ref.elems) * ref.bytes);
      for (let i = 0; i < bytes.length / ref.bytes; i++) bytes.set(ref.pack(randomBlock(ref, r)), i * ref.bytes);
      const file = join(dir, `${type}.gguf`);
      writeToyLlama(file, N, type, bytes);
      const rows = dequantizeGgml(type, bytes, N * N);
      const m = await LLM.load(file, { threads: 1, dtype: "f32" });
      try {
        assert.equal(m.info().weightBytes > 0, true);
        let worst = 0;
        for (const tok of [0, 1, 97, 200, 255]) {
          m.resetCache();
          const logits = await m.logits([tok]);
          const x = rows.subarray(tok * N, (tok + 1) * N);
          let ss = 0, amax = 0;
          for (const v of x) (ss += v * v), (amax = Math.max(amax, Math.abs(v)));
          const s = 1 / Math.sqrt(ss / N + TOY_EPS);
          for (let j = 0; j < N; j++) worst = Math.max(worst, Math.abs(logits[j]! - x[j]! * s) / (amax * s));
        }
        t.diagnostic(`${type}: max |logit - rmsnorm(dequantized row)| = ${worst.toExponential(2)} of the row's max`);
        if (NATIVE.has(type)) {
          // the GGUF blocks kept: the row exactly, up to the f32 RMSNorm's rounding (the reference is in f64)
          assert.ok(worst < 1e-6, `${type}: native, logits differ from the dequantized rows by ${worst} of the row max`);
          const fileBytes = [...openGguf(file).tensors.values()].reduce((a, x) => a + x.nbytes, 0);
          assert.equal(m.info().weightBytes, fileBytes, `${type}: weight memory = the file's tensor bytes (blocks kept)`);
        } else {
          // q8_0 requantization: at most half a step of amax_block / 127 per element (plus f16 scale rounding)
          assert.ok(worst < 1 / 127, `${type}: logits differ from the dequantized rows by ${worst} of the row max`);
          assert.ok(worst > 0, `${type}: requantized to q8_0, the logits should not be exact`);
        }
      } finally {
        await m.dispose();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
