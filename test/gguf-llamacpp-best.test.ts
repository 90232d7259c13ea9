/**
 * lowbit against llama.cpp as node-llama-cpp loads it by itself: ggml picks
 * the prebuilt's best CPU variant for this CPU (haswell on AVX2 machines;
 * skylakex, icelake, cascadelake, cooperlake, zen4 or sapphirerapids on
 * AVX-512 ones), as benchmarks and users run it. tinycode-7m (and
 * tinycode-100m with ../shared), F32, Q8_0 and Q4_0 files, reference prompts.
 *
 * What the variant changes (native/bench/ggml_oracle, GGML_CPU=zen4 vs
 * haswell; a native -march build on an AVX-512 CPU gives the same counts):
 * the quantized matmuls (repacked q4_0_8x8 and Q8_0 dot products) are bit for
 * bit the same, and so are RMSNorm and RoPE, but three f32 ops round
 * differently: ggml_v_expf in AVX-512 forms 2^n (1 + p(b)) with _mm512_scalef_ps
 * where AVX2 rounds k + k p(b) in one FMA (SwiGLU: ~12% of outputs differ in
 * the last bit), softmax sums 16 lanes with _mm512_reduce_add_ps, and the
 * attention dot products run 16-lane accumulators (about half the attention
 * outputs differ by an ulp or two). lowbit computes the AVX2 numerics
 * (gguf-llamacpp.test.ts: bit for bit against the pinned haswell variant).
 *
 * Asserted, by the loaded variant:
 *   haswell, alderlake (AVX2 f32 paths; alderlake adds AVX-VNNI integer dot
 *   products, exact): Q8_0 and Q4_0 logits bit-equal, greedy ids equal on
 *   every prompt, as with the pinned variant.
 *   Any other (the AVX-512 ones): F32 logits within F32_LOGIT_TOL (no
 *   requantization: the few-ulp differences stay few-ulp, measured <= 1e-5).
 *   Q8_0 / Q4_0: llama.cpp quantizes every matmul input to Q8_0 (step amax/127
 *   per block of 32); a value moved by an ulp changes its code only when it
 *   sits within an ulp of a rounding boundary, but then by a whole step, and in
 *   a block with an outlier one step is the size of the block's typical values:
 *   tinycode-100m's logits move by up to 0.12 (measured on zen4), the size of
 *   the Q8_0 file's whole error. The weights are the same file in both runs,
 *   and the AVX-512 run's activation codes are each a round-to-nearest of a
 *   value within a few ulp of the AVX2 run's: both runs are Q8_0-activation
 *   computations of the same weights, each within the activation quantization
 *   error of the f32-activation result, so within twice it of each other. That
 *   error is bounded by the Q8_0 file's whole error, which llama.cpp itself
 *   gives on the same variant and prompt, E = max |logits(Q8_0) - logits(F32)|:
 *   logits within 2 E (measured: 0.95 E at most, tinycode-100m on zen4); greedy
 *   ids equal on >= 4 of 5 prompts, and where they part, lowbit's own margin
 *   between the two picks is within 2 E (a near-tie).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadedCpuVariant } from "../src/llamacpp/prebuilt-variant.js";
import { assertBitEqualRun, GREEDY, maxAbsDiff, type PromptRun, runBoth, summary } from "./helpers/llamacpp-agree.js";
import { EMBEDDED_MODEL, sharedPath, SKIP_NO_SHARED } from "./helpers/paths.js";

/** As in gguf-llamacpp.test.ts: f32 sums in other orders, a few ulp of logits up to ~15. */
const F32_LOGIT_TOL = 1e-4;
/** Variants whose f32 ops take ggml's AVX2 paths, the numerics lowbit reproduces. */
const AVX2_PATHS = new Set(["haswell", "alderlake"]);

/** 2 E per prompt: twice llama.cpp's own Q8_0-vs-F32 logit difference (see above). */
const bounds = (q8: PromptRun[], f32: PromptRun[]): number[] => q8.map((r, i) => 2 * maxAbsDiff(r.their, f32[i]!.their));

function assertQuantized(name: string, type: string, variant: string | undefined, runs: PromptRun[], bound: number[]): void {
  const strict = AVX2_PATHS.has(variant ?? "");
  for (const [i, r] of runs.entries()) {
    const what = `${name} ${type} [${variant}] ${JSON.stringify(r.ref.prompt)}`;
    if (strict) {
      assertBitEqualRun(r, what);
      continue;
    }
    assert.ok(maxAbsDiff(r.ours, r.their) <= bound[i]!, `${what}: logits differ by ${maxAbsDiff(r.ours, r.their)} > 2 E = ${bound[i]}`);
    if (r.same < GREEDY) assert.ok(r.margin !== undefined && r.margin <= bound[i]!, `${what}: greedy ids part where lowbit's margin exceeds 2 E = ${bound[i]} (${summary([r])})`);
  }
  if (!strict) assert.ok(runs.filter((r) => r.same === GREEDY).length >= 4, `${name} ${type} [${variant}]: greedy ids equal on < 4 prompts: ${summary(runs)}`);
}

const models: [string, string | undefined][] = [["tinycode-7m", EMBEDDED_MODEL], ["tinycode-100m", sharedPath("models", "tinycode-100m")]];
for (const [name, dir] of models) {
  test(`llama.cpp (the CPU variant ggml picks here) and lowbit agree on ${name} GGUF files`, { skip: dir ? false : SKIP_NO_SHARED }, async (t) => {
    const tmp = mkdtempSync(join(tmpdir(), "lowbit-llcpp-best-"));
    try {
      const f32 = await runBoth(dir!, name, "f32", tmp);
      const variant = loadedCpuVariant();
      t.diagnostic(`${name} f32 [llama.cpp CPU variant ${variant}]: ${summary(f32)}`);
      for (const r of f32) assert.ok(maxAbsDiff(r.ours, r.their) <= F32_LOGIT_TOL, `${name} f32 [${variant}]: logits differ by ${maxAbsDiff(r.ours, r.their)} > ${F32_LOGIT_TOL}`);
      let bound: number[] = [];
      for (const type of ["q8_0", "q4_0"] as const) {
        await t.test(type, async (tt) => {
          const runs = await runBoth(dir!, name, type, tmp);
          if (type === "q8_0") bound = bounds(runs, f32);
          const share = runs.map((r, i) => (maxAbsDiff(r.ours, r.their) / bound[i]!).toFixed(3)).join(", ");
          tt.diagnostic(`${name} ${type} [llama.cpp CPU variant ${variant}]: ${summary(runs)}; |diff| / 2 E: ${share}`);
          assertQuantized(name, type, variant, runs, bound);
        });
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}
