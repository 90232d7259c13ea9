/**
 * llama.cpp agrees (the GGUF issue): tinycode-7m (and tinycode-100m when
 * ../shared is there) converted by `lowbit convert` to F32, F16, Q8_0 and
 * Q4_0, each file run by llama.cpp and by lowbit on the reference prompts'
 * input_ids: the next-token logits after the prompt, then 48 greedy tokens.
 *
 * llama.cpp here is node-llama-cpp's prebuilt CPU build pinned to its
 * `haswell` variant (AVX2/FMA/F16C; runs on every x86-64 CPU with AVX2, the
 * AVX-512 ones included): lowbit's kernels reproduce the numerics of that
 * path (native/src/kernels/ggml.h), while the AVX-512 variants ggml picks by
 * itself on AVX-512 machines round SwiGLU, softmax and the attention sums
 * differently (docs/GGUF.md, "Agreement with llama.cpp on AVX-512 machines";
 * gguf-llamacpp-best.test.ts tests that variant). Guaranteed on every CPU:
 *   Q8_0, Q4_0: logits bit for bit equal, greedy ids equal on every prompt.
 *   F32: both give the PyTorch reference greedy_ids exactly; logits within
 *   F32_LOGIT_TOL (llama.cpp's f32 matmul sums in another order).
 *   F16: llama.cpp rounds activations to f16 before its f16 matmul, lowbit
 *   keeps them in f32 (2^-11 relative per activation): greedy ids equal on
 *   >= 4 of 5 prompts, a divergence only at a near-tie of lowbit's own logits,
 *   logits within F16_LOGIT_TOL.
 * Round trip: lowbit on its own GGUF gives the logits of lowbit on the HF
 * directory in the corresponding format (f32, bf16, q8_0, q4_0), bit for bit.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../src/index.js";
import { exportGguf, type GgufOutType } from "../src/formats/gguf-export.js";
import { loadedCpuVariant, pinCpuVariant, prebuiltCpuVariants } from "../src/llamacpp/prebuilt-variant.js";
import { hfSource } from "../src/models/source.js";
import { assertBitEqualRun, GREEDY, maxAbsDiff, refs, runBoth, summary } from "./helpers/llamacpp-agree.js";
import { EMBEDDED_MODEL, sharedPath, SKIP_NO_SHARED } from "./helpers/paths.js";

const PIN = "haswell";
const pinnable = prebuiltCpuVariants().includes(PIN);
if (pinnable) pinCpuVariant(PIN);
const SKIP_NO_PIN = `node-llama-cpp's prebuilt has no ${PIN} CPU variant here (${process.platform}-${process.arch})`;

/**
 * f32: lowbit's f32 matmul and llama.cpp's (llamafile's tinyBLAS) both
 * accumulate in f32 with FMA, in different orders: per dot product of k <= 2048
 * terms a few ulp of its terms' magnitudes (~1e-6 of logits up to ~15),
 * measured <= 6.7e-6 on both models; the bound leaves a factor of 15.
 */
const F32_LOGIT_TOL = 1e-4;
/**
 * f16: llama.cpp rounds each activation to f16 before its f16 x f16 dot
 * products (relative error <= 2^-11 = 4.9e-4 each, independent), lowbit
 * multiplies the f16 weights by f32 activations: logits move by ~2^-11 of their
 * scale (|logits| <= ~14: 7e-3), measured <= 5.8e-3 on both models; the bound
 * leaves a factor of 8.
 */
const F16_LOGIT_TOL = 0.05;

async function agree(t: { diagnostic(m: string): void }, dir: string, name: string, type: GgufOutType, tmp: string): Promise<void> {
  const runs = await runBoth(dir, name, type, tmp);
  t.diagnostic(`${name} ${type} [llama.cpp CPU variant ${loadedCpuVariant()}]: ${summary(runs)}`);
  assert.equal(loadedCpuVariant(), PIN, "the pinned CPU variant is the one loaded");
  for (const r of runs) {
    const what = `${name} ${type} ${JSON.stringify(r.ref.prompt)}`;
    if (type === "q8_0" || type === "q4_0") {
      assertBitEqualRun(r, what);
    } else if (type === "f32") {
      assert.deepEqual(r.mine, r.ref.greedy_ids, `${what}: lowbit greedy ids`);
      assert.deepEqual(r.theirs, r.ref.greedy_ids, `${what}: llama.cpp greedy ids`);
      assert.ok(maxAbsDiff(r.ours, r.their) <= F32_LOGIT_TOL, `${what}: logits differ by ${maxAbsDiff(r.ours, r.their)} > ${F32_LOGIT_TOL}`);
    } else {
      assert.ok(maxAbsDiff(r.ours, r.their) <= F16_LOGIT_TOL, `${what}: logits differ by ${maxAbsDiff(r.ours, r.their)} > ${F16_LOGIT_TOL}`);
      if (r.same < GREEDY) assert.ok(r.margin !== undefined && r.margin <= F16_LOGIT_TOL, `${what}: greedy ids part where lowbit's margin is not a near-tie (${summary([r])})`);
    }
  }
  if (type === "f16") assert.ok(runs.filter((r) => r.same === GREEDY).length >= 4, `${name} f16: greedy ids equal on < 4 prompts: ${summary(runs)}`);
}

/** lowbit on the GGUF file = lowbit on the HF directory in the matching format. */
async function roundTrip(dir: string, name: string, type: GgufOutType, tmp: string): Promise<void> {
  const file = join(tmp, `${name}-${type}.gguf`);
  const load = type === "f32" || type === "bf16" ? { dtype: type } : { quant: type };
  const a = await LLM.load(file, { threads: 2, ...(type === "bf16" ? { dtype: "bf16" as const } : {}) });
  const b = await LLM.load(dir, { threads: 2, ...load } as Parameters<typeof LLM.load>[1]);
  try {
    for (const p of refs(dir)) {
      a.resetCache();
      b.resetCache();
      assert.deepEqual(await a.logits(p.input_ids), await b.logits(p.input_ids), `${name} ${type}: GGUF vs HF logits for ${JSON.stringify(p.prompt)}`);
      a.resetCache();
      b.resetCache();
      const ga = await a.generate(p.input_ids, { maxNewTokens: 48, temperature: 0, stopAtEos: false });
      const gb = await b.generate(p.input_ids, { maxNewTokens: 48, temperature: 0, stopAtEos: false });
      assert.deepEqual(ga.ids, gb.ids, `${name} ${type}: GGUF vs HF greedy ids`);
    }
  } finally {
    await a.dispose();
    await b.dispose();
  }
}

const models: [string, string | undefined][] = [["tinycode-7m", EMBEDDED_MODEL], ["tinycode-100m", sharedPath("models", "tinycode-100m")]];
for (const [name, dir] of models) {
  test(`llama.cpp (${PIN}) and lowbit agree on ${name} GGUF files`, { skip: !pinnable ? SKIP_NO_PIN : dir ? false : SKIP_NO_SHARED }, async (t) => {
    const tmp = mkdtempSync(join(tmpdir(), "lowbit-llcpp-"));
    try {
      for (const type of ["f32", "f16", "q8_0", "q4_0"] as const) {
        await t.test(type, async (tt) => agree(tt, dir!, name, type, tmp));
      }
      for (const type of ["f32", "q8_0", "q4_0"] as const) {
        await t.test(`round trip ${type}`, async () => roundTrip(dir!, name, type, tmp));
      }
      await t.test("round trip bf16", async () => {
        exportGguf(hfSource(dir!), join(tmp, `${name}-bf16.gguf`), "bf16");
        await roundTrip(dir!, name, "bf16", tmp);
      });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}
