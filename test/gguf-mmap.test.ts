/**
 * GGUF files can be mapped instead of read (LoadOptions.mmap, default false;
 * CLI --mmap): tensors whose bytes the weight format keeps as they are (the
 * K-quant family) are viewed in place in the mapping, the others converted
 * from it. Checked on lowbit's own q4_k_m export of the embedded tinycode-7m
 * (byte-equal to llama-quantize's: gguf-kquant-export.test.ts):
 *  - mapped and default (copying) loads give bit-equal logits and equal weight bytes;
 *  - mapped, every K-quant matrix is mapped (info().mappedBytes); by default none;
 *  - a Q8_0 file (repacked at load) and an F16 file (converted to bf16) load
 *    from the mapping with the logits of a default load;
 *  - the native boundary refuses ranges outside the mapped file and unknown file ids.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../src/index.js";
import { exportGguf, type GgufOutType } from "../src/formats/gguf-export.js";
import { openGguf } from "../src/formats/gguf.js";
import { hfSource } from "../src/models/source.js";
import { addon } from "../src/native.js";
import { EMBEDDED_MODEL } from "./helpers/paths.js";

const tmp = mkdtempSync(join(tmpdir(), "lowbit-mmap-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const PROMPT = [1, 450, 3017, 1014, 2989, 876, 1125];

function exported(type: GgufOutType): string {
  const file = join(tmp, `tinycode-7m-${type}.gguf`);
  try {
    statSync(file);
  } catch {
    exportGguf(hfSource(EMBEDDED_MODEL), file, type);
  }
  return file;
}

async function logitsAndInfo(file: string, mmap?: boolean) {
  const m = await LLM.load(file, { threads: 1, ...(mmap !== undefined ? { mmap } : {}), contextLength: 64 });
  try {
    const logits = await m.logits(PROMPT);
    return { logits, info: m.info() };
  } finally {
    await m.dispose();
  }
}

for (const type of ["q4_k_m", "q8_0", "f16"] as const) {
  test(`GGUF ${type}: a mapped load gives a default (copying) load's logits bit for bit`, async () => {
    const file = exported(type);
    const a = await logitsAndInfo(file, true);
    const b = await logitsAndInfo(file);
    assert.equal(a.logits.length, b.logits.length);
    assert.ok(a.logits.length > 0);
    assert.deepEqual(Buffer.from(a.logits.buffer, a.logits.byteOffset, a.logits.byteLength), Buffer.from(b.logits.buffer, b.logits.byteOffset, b.logits.byteLength));
    assert.equal(a.info.weightBytes, b.info.weightBytes);
    assert.equal(b.info.mappedBytes, 0, "the default load maps nothing");
    assert.equal((await logitsAndInfo(file, false)).info.mappedBytes, 0, "mmap: false maps nothing");
    if (type === "q4_k_m") {
      // every K-quant (and Q5_0 / Q5_1 fallback) matrix of the file is viewed in place, but attn_q / attn_k,
      // whose rows llama.cpp's converter permuted for its RoPE and lowbit permutes back (read, not mapped),
      // and those of the types moved into groups of 16 rows (all but Q5_K and Q6_K: native/src/formats/packed.h)
      const g = openGguf(file);
      let kq = 0, permuted = 0, q4k = 0;
      for (const t of g.tensors.values()) {
        if (!/^(Q[2-6]_K|Q5_[01]|IQ4_(NL|XS)|Q4_1)$/.test(t.typeName)) continue;
        if (/attn_[qk]\.weight$/.test(t.name)) permuted += t.nbytes;
        else if (/^(Q2_K|Q3_K|Q4_K|IQ4_NL|IQ4_XS|Q4_1|Q5_0|Q5_1)$/.test(t.typeName)) q4k += t.nbytes;
        else kq += t.nbytes;
      }
      assert.ok(kq > 0 && permuted > 0 && q4k > 0);
      assert.equal(a.info.mappedBytes, kq, "mapped bytes = the file's K-quant tensor bytes but attn_q / attn_k's and the packed types'");
    } else {
      assert.equal(a.info.mappedBytes, 0, `${type} is converted at load, not viewed`);
    }
  });
}

test("mapped ranges: the native boundary refuses ranges outside the file and unknown file ids", () => {
  const file = exported("q4_k_m");
  const size = statSync(file).size;
  const { NativeModel } = addon();
  const m = new NativeModel({ threads: 1, kernels: "auto", nLayers: 1, nKvHeads: 1, headDim: 8, nCtx: 8, ropeTheta: 10000 });
  try {
    const id = m.mapFile(file);
    assert.equal(m.mapFile(file), id, "one mapping per path");
    const spec = "q6_k" as const; // a format that views its blocks in place (Q6_K: 210 bytes a block)
    assert.throws(() => m.addWeight("w", "Q6_K", { file: id, offset: size - 150, length: 210 }, 1, 256, spec), (e: Error) => e instanceof RangeError && /past the end of the file/.test(e.message));
    assert.throws(() => m.addWeight("w", "Q6_K", { file: id + 1, offset: 0, length: 210 }, 1, 256, spec), (e: Error) => e instanceof RangeError && /no mapped file/.test(e.message));
    assert.throws(() => m.addWeight("w", "Q6_K", { file: id, offset: -1, length: 210 }, 1, 256, spec), RangeError);
    assert.throws(() => m.addWeight("w", "Q6_K", { file: id, offset: 0.5, length: 210 }, 1, 256, spec), RangeError);
    assert.throws(() => m.addWeight("w", "Q6_K", { file: id, offset: 0, length: 209 }, 1, 256, spec), /byte size does not match/);
    assert.throws(() => m.mapFile(join(tmp, "missing.gguf")), /cannot open/);
    // a range inside the file is a weight (whatever its bytes mean)
    m.addWeight("w", "Q6_K", { file: id, offset: 0, length: 210 }, 1, 256, spec);
    assert.equal(m.info().mappedBytes, 210);
  } finally {
    m.dispose();
  }
});

test("mmap must be a boolean", async () => {
  await assert.rejects(LLM.load(exported("q4_k_m"), { mmap: "no" as unknown as boolean }), /mmap must be a boolean/);
});
