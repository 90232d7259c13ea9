/**
 * Synthetic shapes of families other than Llama (models/synthetic.ts: Qwen2.5-1.5B,
 * StarCoderBase-1B, Pythia-1B and their tiny versions), what the family benchmark beside
 * llama.cpp runs: each tiny shape loads with its family's graph, and lowbit's GGUF export of it
 * computes in llama.cpp (node-llama-cpp's CPU build, haswell, f32 KV cache) what lowbit computes
 * on the same file (logits within the families' GGUF bounds, greedy equal).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../src/index.js";
import { exportGguf } from "../src/formats/gguf-export.js";
import { LlamaCppModel } from "../src/llamacpp/oracle.js";
import { pinCpuVariant, prebuiltCpuVariants } from "../src/llamacpp/prebuilt-variant.js";
import { syntheticSource, SYNTHETIC_FAMILY_SHAPES } from "../src/models/synthetic.js";
import { agreeOnPrompt, maxAbs } from "./helpers/llamacpp-agree.js";

if (prebuiltCpuVariants().includes("haswell")) pinCpuVariant("haswell");

let tmp: string;
before(() => { tmp = mkdtempSync(join(tmpdir(), "lowbit-synth-fam-")); });
after(() => rmSync(tmp, { recursive: true, force: true }));


const CASES: [string, string, number][] = [
  // shape, family, logit bound relative to the scale (families.test.ts: 1e-5, 1e-3 with llama.cpp's table GELU)
  ["tiny-qwen2", "qwen2", 1e-5],
  ["tiny-starcoder", "gpt_bigcode", 1e-3],
  ["tiny-pythia", "gpt_neox", 1e-3],
];

for (const [shape, family, rtol] of CASES) {
  test(`synthetic:${shape} is a ${family}; llama.cpp runs lowbit's GGUF of it as lowbit does`, async (t) => {
    assert.ok(Object.hasOwn(SYNTHETIC_FAMILY_SHAPES, shape));
    const file = join(tmp, `${shape}.gguf`);
    exportGguf(syntheticSource(`synthetic:${shape}`), file, "f32");
    const ours = await LLM.load(file, { threads: 2 });
    const direct = await LLM.load(`synthetic:${shape}`, { threads: 2, dtype: "f32" });
    const theirs = await LlamaCppModel.load(file, { threads: 2, contextSize: 128, kvCache: "F32" });
    try {
      assert.equal(ours.config.architecture, family);
      assert.equal(direct.config.architecture, family);
      const ids = ours.encode("def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)");
      const { ours: mine, err, scale, mine: g, theirs: theirIds, prefix } = await agreeOnPrompt(ours, theirs, ids, 8);
      t.diagnostic(`${shape}: logits max |diff| ${err.toExponential(1)} of ${scale.toFixed(3)}, greedy ${prefix ? "equal" : "differ"}`);
      assert.ok(err <= rtol * scale, `${shape}: ${err} > ${rtol} x ${scale}`);
      assert.ok(theirIds.length > 0 && prefix, `${shape}: greedy lowbit ${g} llama.cpp ${theirIds}`);
      // the bf16 synthetic weights and their f32 GGUF give the same model (the GELU families' GGUF
      // form computes llama.cpp's table GELU, not transformers' formula: compared through llama.cpp above)
      if (family === "qwen2") {
        const viaSource = await direct.logits(ids);
        assert.ok(maxAbs(viaSource.map((v, i) => v - mine[i]!)) <= 1e-5 * maxAbs(mine), `${shape}: GGUF and synthetic source differ`);
      }
    } finally {
      await theirs.dispose();
      await direct.dispose();
      await ours.dispose();
    }
  });
}
