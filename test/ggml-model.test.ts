/**
 * q4_0 / q8_0 inside models (native/src/matmul.cc's format entry, weights.cc,
 * graph.cc):
 *  - a graph of tinycode-7m's real gate/up weights (bf16 -> q4_0 / q8_0), fused
 *    into one threaded matmul_multi job, equals an exact TypeScript computation
 *    (ggml reference quantizers, llama.cpp's activation quantization, one f32
 *    FMA per block) bit for bit, for decode (m = 1) and prefill rows;
 *  - a q4_0 / q8_0 embedding table looks rows up as the spec dequantizes them;
 *  - ggmlBytes reads a loaded weight (or an alias of it) back as GGUF blocks;
 *  - the whole embedded model with quant q4_0 / q8_0 keeps its perplexity close
 *    to f32 on held-out code;
 *  - a q4_0 / q8_0 GGUF file run with the ref kernels and with the best SIMD
 *    variant gives the same logits bit for bit, every row of multi-token
 *    prompts, and the same greedy continuation (decode steps). Activations are
 *    quantized to Q8_0 after every norm, SiLU and attention, so every op before
 *    a matmul must give the same bits on every variant: a scale one ulp off
 *    flips codes and moves the logits by 0.1-0.3 (the RMSNorm sum of squares
 *    did, before it followed llama.cpp's double sum on every variant).
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../src/llm.js";
import { perplexity } from "../src/eval/perplexity.js";
import { addon, type NativeModel, type OpSpec } from "../src/native.js";
import { openSafetensorsDir, readTensorBytes } from "../src/formats/safetensors.js";
import { toF32 } from "../src/quant/tensors.js";
import { exportGguf } from "../src/formats/gguf-export.js";
import { hfSource } from "../src/models/source.js";
import { EMBEDDED_MODEL, sharedPath, SKIP_NO_SHARED } from "./helpers/paths.js";
import { rngFor, SEED } from "./helpers/kernels.js";
import { dequantize, matmul, quantize, quantizeAct, type GgmlType } from "./helpers/ggml-spec.js";

const natives: NativeModel[] = [];
after(() => natives.forEach((n) => n.dispose()));
const TYPES: GgmlType[] = ["q4_0", "q8_0"];

function newModel(threads: number): NativeModel {
  const n = new (addon().NativeModel)({ threads, kernels: "auto", nLayers: 1, nKvHeads: 1, headDim: 8, nCtx: 64, ropeTheta: 10000 });
  natives.push(n);
  return n;
}
function bitsEqual(got: Float32Array, want: Float32Array, msg: string): void {
  assert.equal(got.length, want.length, msg);
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) assert.fail(`${msg}: [${i}] ${got[i]} vs ${want[i]} (seed ${SEED})`);
}

const index = openSafetensorsDir(EMBEDDED_MODEL);
function tensor(name: string) {
  const info = index.tensors.get(name);
  assert.ok(info, name);
  return { info, bytes: readTensorBytes(info), rows: info.shape[0]!, cols: info.shape[1]! };
}

for (const type of TYPES) {
  test(`${type}: fused gate/up matmuls of tinycode-7m equal the exact TS computation (decode and prefill)`, async () => {
    const gate = tensor("model.layers.0.mlp.gate_proj.weight"), up = tensor("model.layers.0.mlp.up_proj.weight");
    const n = gate.rows, k = gate.cols; // [704, 256]
    const rng = rngFor(`model-${type}`);
    const rows = 9;
    // activation rows with a realistic spread, and one outlier column
    const x = Float32Array.from({ length: rows * k }, (_, i) => (rng() * 2 - 1) * (i % k === 17 ? 20 : 1));
    const native = newModel(2);
    native.addWeight("token_embd.weight", "F32", new Uint8Array(x.buffer), rows, k, "f32");
    native.addWeight("gate", gate.info.dtype, gate.bytes, n, k, type);
    native.addWeight("up", up.info.dtype, up.bytes, n, k, type);
    const ops: OpSpec[] = [
      { op: "embed", weight: "token_embd.weight", out: "x" },
      { op: "matmul", a: "x", weight: "gate", out: "g" },
      { op: "matmul", a: "x", weight: "up", out: "u" },
      { op: "add", a: "g", b: "u", out: "s" },
      { op: "output_rows", a: "s", out: "logits" },
    ];
    native.setGraph(ops, "logits");
    const wg = quantize(type, toF32(gate.bytes, gate.info.dtype)), wu = quantize(type, toF32(up.bytes, up.info.dtype));
    assert.deepEqual(native.ggmlBytes("gate"), wg, "the loaded weight is ggml's reference quantization of the checkpoint");
    for (const m of [1, rows]) {
      native.clearCache();
      const ids = Int32Array.from({ length: m }, (_, i) => (i * 4) % rows);
      const got = (await native.forward(ids, Int32Array.from({ length: m }, (_, i) => i), true)).data;
      const act = { q: new Int8Array(m * k), d: new Float32Array((m * k) / 32) };
      ids.forEach((id, i) => {
        const r = quantizeAct(x.subarray(id * k, (id + 1) * k));
        act.q.set(r.q, i * k);
        act.d.set(r.d, (i * k) / 32);
      });
      const g = matmul(type, act.q, act.d, wg, m, n, k), u = matmul(type, act.q, act.d, wu, m, n, k);
      bitsEqual(got, g.map((v, i) => Math.fround(v + u[i]!)), `${type} m=${m}`);
    }
  });

  test(`${type}: an embedding table stored as ${type} (GGUF token_embd) looks rows up as the spec dequantizes them; ggmlBytes follows aliases`, async () => {
    const rng = rngFor(`embed-${type}`);
    const vocab = 11, k = 64;
    const blocks = quantize(type, Float32Array.from({ length: vocab * k }, () => rng() * 2 - 1));
    const native = newModel(1);
    native.addWeight("token_embd.weight", type.toUpperCase() as "Q4_0", blocks, vocab, k, type);
    native.aliasWeight("output.weight", "token_embd.weight");
    native.addWeight("f", "F32", new Uint8Array(4 * 32), 1, 32, "bf16");
    assert.throws(() => native.addWeight("bad", "F32", new Uint8Array(4 * 2 * 48), 2, 48, type),
      new RegExp(`bad: ${type} needs the input dimension \\(cols = 48\\) to be a multiple of 32`));
    native.setGraph([{ op: "embed", weight: "token_embd.weight", out: "x" }, { op: "output_rows", a: "x", out: "o" }], "o");
    const ids = Int32Array.of(3, 0, 10, 3);
    const got = (await native.forward(ids, Int32Array.of(0, 1, 2, 3), true)).data;
    const table = dequantize(type, blocks, vocab * k);
    const want = new Float32Array(ids.length * k);
    ids.forEach((id, i) => want.set(table.subarray(id * k, (id + 1) * k), i * k));
    bitsEqual(got, want, `${type} embedding rows`);
    assert.deepEqual(native.ggmlBytes("output.weight"), blocks, "alias read back as the same GGUF blocks");
    assert.throws(() => native.ggmlBytes("f"), /f is stored as bf16, not q4_0 or q8_0/);
  });
}

test("tinycode-7m with quant q4_0 / q8_0: perplexity on held-out code close to f32", async (t) => {
  const data = sharedPath("data", "python-heldout-test.jsonl");
  if (!data) return t.skip(SKIP_NO_SHARED);
  const texts = readFileSync(data, "utf8").split("\n").filter(Boolean).slice(0, 40).map((l) => (JSON.parse(l) as { text: string }).text);
  const ppl: Record<string, number> = {};
  for (const quant of [undefined, "q4_0", "q8_0", "w4a8-g32"] as const) {
    const m = await LLM.load(undefined, { dtype: "f32", threads: 2, ...(quant ? { quant } : {}) });
    try {
      ppl[quant ?? "f32"] = (await perplexity(m, texts, { window: 128, maxWindows: 12 })).ppl;
    } finally {
      await m.dispose();
    }
  }
  const r = (q: string) => ppl[q]! / ppl.f32!;
  t.diagnostic(`perplexity ${JSON.stringify(ppl)}`);
  assert.ok(ppl.f32! > 1 && ppl.f32! < 10, `f32 perplexity ${ppl.f32}`);
  assert.ok(r("q8_0") > 0.995 && r("q8_0") < 1.01, `q8_0 / f32 = ${r("q8_0")} (${JSON.stringify(ppl)})`);
  assert.ok(r("q4_0") > 1.0 && r("q4_0") < 1.08, `q4_0 / f32 = ${r("q4_0")} (${JSON.stringify(ppl)})`);
  // Q4_0 uses the signed extreme (-8 .. 7 all used): at least as good as symmetric int4 g32 with int8 activations
  assert.ok(ppl.q4_0! <= ppl["w4a8-g32"]! * 1.01, `q4_0 ${ppl.q4_0} vs w4a8-g32 ${ppl["w4a8-g32"]}`);
});

test("q4_0 / q8_0 GGUF files: ref kernels = the best SIMD variant, bit for bit (prefill rows and greedy decode)", async (t) => {
  const best = addon().cpuInfo().kernels;
  if (best === "ref") return t.skip("no SIMD kernel variant on this CPU");
  const prompts = (JSON.parse(readFileSync(join(EMBEDDED_MODEL, "reference.json"), "utf8")) as { prompts: { input_ids: number[] }[] }).prompts;
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-ggml-variants-"));
  try {
    for (const type of TYPES) {
      const file = join(tmp, `tinycode-7m-${type}.gguf`);
      exportGguf(hfSource(EMBEDDED_MODEL), file, type);
      const ref = await LLM.load(file, { threads: 2, kernels: "ref" });
      const simd = await LLM.load(file, { threads: 2 });
      try {
        for (const p of prompts) {
          const ids = p.input_ids;
          bitsEqual(await simd.logitsAll(ids), await ref.logitsAll(ids), `${type} ${best} vs ref: logits of every row of ${JSON.stringify(ids)}`);
          const gen = async (m: LLM) => (await m.generate(ids, { maxNewTokens: 24, temperature: 0, stopAtEos: false })).ids;
          ref.resetCache();
          simd.resetCache();
          assert.deepEqual(await gen(simd), await gen(ref), `${type} ${best} vs ref: greedy ids after ${JSON.stringify(ids)}`);
        }
      } finally {
        await simd.dispose();
        await ref.dispose();
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
