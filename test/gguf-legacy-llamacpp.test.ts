/**
 * Legacy and IQ4 GGUF files (Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS: native since
 * issue 19) agree with llama.cpp: tinycode-100m (../shared) exported by lowbit
 * to F16, quantized by llama.cpp's own llama-quantize (a native build, e.g.
 * ~/.cache/lowbit/llama.cpp/build-native/bin; $LLAMA_QUANTIZE overrides) to each
 * type with --pure (every matrix of that type) and, for Q4_1 and IQ4_XS, the
 * default mix (output.weight Q6_K; IQ4_XS: one ffn_down Q5_K), then:
 *   - lowbit's greedy ids (3 prompts x 32 tokens) equal llama.cpp's recorded
 *     ones (test/fixtures/legacy-greedy-llamacpp.json, from node-llama-cpp's
 *     prebuilt pinned to haswell: scripts/oracle/legacy-greedy-llamacpp.mjs);
 *   - lowbit's weight memory equals the file's tensor bytes (blocks kept);
 *   - with node-llama-cpp's prebuilt pinned to its haswell variant, on the
 *     reference prompts' input_ids: next-token logits bit for bit equal and 48
 *     greedy tokens equal on every prompt (as gguf-kquant-llamacpp.test.ts).
 * Skipped, with the reason, when ../shared or llama-quantize is missing (the
 * live comparison also when the pinned variant is). The kernels alone are
 * checked against llama.cpp's recorded outputs in legacy-kernels.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../src/index.js";
import { exportGguf } from "../src/formats/gguf-export.js";
import { openGguf } from "../src/formats/gguf.js";
import { loadedCpuVariant, pinCpuVariant, prebuiltCpuVariants } from "../src/llamacpp/prebuilt-variant.js";
import { hfSource } from "../src/models/source.js";
import { assertBitEqualRun, refs, runBothOnFile, summary } from "./helpers/llamacpp-agree.js";
import { LEGACY_FILES, LEGACY_PROMPTS, LEGACY_TOKENS } from "./helpers/legacy-files.js";
import { llamaQuantize, matrixTypes, NO_QUANTIZE } from "./helpers/llama-quantize.js";
import { REPO, sharedPath, SKIP_NO_SHARED } from "./helpers/paths.js";

const PIN = "haswell";
const pinnable = prebuiltCpuVariants().includes(PIN);
if (pinnable) pinCpuVariant(PIN);
const dir = sharedPath("models", "tinycode-100m");
const skip = NO_QUANTIZE ? NO_QUANTIZE
  : !dir ? SKIP_NO_SHARED : false;

const FIXTURE = JSON.parse(readFileSync(join(REPO, "test", "fixtures", "legacy-greedy-llamacpp.json"), "utf8")) as { files: Record<string, number[][]> };
const PROMPTS = LEGACY_PROMPTS, TOKENS = LEGACY_TOKENS;

test("llama.cpp and lowbit agree on Q4_1 / Q5_0 / Q5_1 / IQ4_NL / IQ4_XS GGUF files of tinycode-100m", { skip }, async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-legacy-"));
  try {
    const f16 = join(tmp, "f16.gguf");
    exportGguf(hfSource(dir!), f16, "f16");
    for (const [label, type, extra, want] of LEGACY_FILES) {
      await t.test(label, async (tt) => {
        const file = join(tmp, `${label}.gguf`);
        llamaQuantize(f16, file, type, extra);
        const g = openGguf(file);
        const types = matrixTypes(g);
        assert.deepEqual([...types].sort(), [...want].sort(), `${label}: matrix types`);

        const m = await LLM.load(file, { threads: 2 });
        try {
          const fileBytes = [...g.tensors.values()].reduce((s, x) => s + x.nbytes, 0);
          assert.equal(m.info().weightBytes, fileBytes, `${label}: weight memory = the file's tensor bytes`);
          const theirs = FIXTURE.files[label];
          assert.ok(theirs && theirs.length === PROMPTS, `${label}: recorded llama.cpp tokens`);
          for (const [p, ref] of refs(dir!).slice(0, PROMPTS).entries()) {
            m.resetCache();
            const mine = (await m.generate(ref.input_ids, { maxNewTokens: TOKENS, temperature: 0, stopAtEos: false })).ids;
            assert.deepEqual(mine, theirs[p], `${label} ${JSON.stringify(ref.prompt)}: greedy ids = llama.cpp's recorded ones`);
          }
        } finally {
          await m.dispose();
        }

        if (!pinnable) {
          tt.diagnostic(`live comparison skipped: node-llama-cpp's prebuilt has no ${PIN} CPU variant here`);
          return;
        }
        const runs = await runBothOnFile(file, dir!);
        tt.diagnostic(`${label} [llama.cpp CPU variant ${loadedCpuVariant()}]: ${summary(runs)}`);
        assert.equal(loadedCpuVariant(), PIN, "the pinned CPU variant is the one loaded");
        for (const r of runs) assertBitEqualRun(r, `${label} ${JSON.stringify(r.ref.prompt)}`);
      });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
