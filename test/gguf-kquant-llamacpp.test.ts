/**
 * K-quant GGUF files (the issue 19 types lowbit runs natively) agree with
 * llama.cpp: tinycode-100m (../shared) exported by lowbit to F16, quantized by
 * llama.cpp's own llama-quantize (a native build, e.g.
 * ~/.cache/lowbit/llama.cpp/build-native/bin; $LLAMA_QUANTIZE overrides) to
 * Q2_K, Q3_K, Q4_K, Q5_K and Q6_K (--pure: every matrix of that type) and to
 * the Q2_K (Q2_K + Q3_K + Q4_K + Q6_K), Q3_K_M (Q3_K + Q4_K + Q5_K + Q6_K),
 * Q4_K_M (Q4_K + Q6_K) and Q5_K_M (Q5_K + Q6_K) mixes, then run by lowbit and by node-llama-cpp's prebuilt CPU build
 * pinned to its haswell variant, on the reference prompts' input_ids:
 *   - the next-token logits after the prompt bit for bit equal, and 48 greedy
 *     tokens equal, on every prompt;
 *   - lowbit's weight memory equals the file's tensor bytes (blocks kept as
 *     they are, no conversion).
 * Skipped, with the reason, when ../shared, llama-quantize or the pinned
 * variant is missing. The kernels alone are checked against llama.cpp's
 * recorded outputs in kquant-kernels.test.ts (runs everywhere).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../src/index.js";
import { exportGguf } from "../src/formats/gguf-export.js";
import { openGguf } from "../src/formats/gguf.js";
import { loadedCpuVariant, pinCpuVariant, prebuiltCpuVariants } from "../src/llamacpp/prebuilt-variant.js";
import { hfSource } from "../src/models/source.js";
import { assertBitEqualRun, runBothOnFile, summary } from "./helpers/llamacpp-agree.js";
import { sharedPath, SKIP_NO_SHARED } from "./helpers/paths.js";
import { llamaQuantize, matrixTypes, NO_QUANTIZE } from "./helpers/llama-quantize.js";

const PIN = "haswell";
const pinnable = prebuiltCpuVariants().includes(PIN);
if (pinnable) pinCpuVariant(PIN);
const dir = sharedPath("models", "tinycode-100m");
const skip = !pinnable ? `node-llama-cpp's prebuilt has no ${PIN} CPU variant here`
  : NO_QUANTIZE ? NO_QUANTIZE
  : !dir ? SKIP_NO_SHARED : false;

/** [file label, llama-quantize type, extra args] */
const FILES: [string, string, string[]][] = [
  ["Q2_K", "Q2_K", ["--pure"]], ["Q3_K", "Q3_K", ["--pure"]], ["Q2_K-mix", "Q2_K", []], ["Q3_K_M", "Q3_K_M", []],
  ["Q4_K", "Q4_K", ["--pure"]], ["Q5_K", "Q5_K", ["--pure"]], ["Q6_K", "Q6_K", ["--pure"]], ["Q4_K_M", "Q4_K_M", []], ["Q5_K_M", "Q5_K_M", []],
];

test("llama.cpp (haswell) and lowbit agree on K-quant GGUF files of tinycode-100m", { skip }, async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-kquant-"));
  try {
    const f16 = join(tmp, "f16.gguf");
    exportGguf(hfSource(dir!), f16, "f16");
    for (const [label, type, extra] of FILES) {
      await t.test(label, async (tt) => {
        const file = join(tmp, `${label}.gguf`);
        llamaQuantize(f16, file, type, extra);
        const g = openGguf(file);
        const types = matrixTypes(g);
        tt.diagnostic(`${label}: matrix types ${[...types].join(", ")}`);
        for (const ty of types) assert.ok(["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"].includes(ty), `${label}: ${ty} is not a native K-quant type`);

        const runs = await runBothOnFile(file, dir!);
        tt.diagnostic(`${label} [llama.cpp CPU variant ${loadedCpuVariant()}]: ${summary(runs)}`);
        assert.equal(loadedCpuVariant(), PIN, "the pinned CPU variant is the one loaded");
        for (const r of runs) assertBitEqualRun(r, `${label} ${JSON.stringify(r.ref.prompt)}`);

        const fileBytes = [...g.tensors.values()].reduce((s, x) => s + x.nbytes, 0);
        const m = await LLM.load(file, { threads: 2 });
        try {
          assert.equal(m.info().weightBytes, fileBytes, `${label}: weight memory = the file's tensor bytes`);
        } finally {
          await m.dispose();
        }
      });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
