/**
 * `lowbit convert --type q4_k | q5_k | q6_k | q4_k_m | q5_k_m` writes what
 * llama.cpp's llama-quantize writes from the same F16 file:
 *  - every tensor's type: formats/gguf-kquant-mix.ts against the types
 *    llama-quantize chose for tinycode-100m and tinycode-7m
 *    (test/fixtures/kquant-mix-types.json; runs everywhere), the Q5_0 / Q5_1 /
 *    Q8_0 fallbacks of tinycode-7m's 704-wide ffn_down included;
 *  - with llama-quantize (a native build, e.g.
 *    ~/.cache/lowbit/llama.cpp/build-native/bin; $LLAMA_QUANTIZE overrides):
 *    every tensor of lowbit's file has the type and the bytes of
 *    llama-quantize's, on tinycode-7m (q4_k_m, q5_k_m, q6_k, with their
 *    fallbacks) and,
 *    with ../shared, tinycode-100m (q4_k_m, q5_k_m); llama.cpp (node-llama-cpp,
 *    haswell) runs lowbit's q4_k_m file: logits bit-equal to lowbit's and 48
 *    greedy tokens equal on every reference prompt.
 * The quantizers alone are checked against llama.cpp's recorded blocks in
 * kquant-quantize.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportGguf, type GgufOutType } from "../src/formats/gguf-export.js";
import { kquantTensorTypes, type KQuantOutType, type MixModel } from "../src/formats/gguf-kquant-mix.js";
import { openGguf, readTensorBytes } from "../src/formats/gguf.js";
import { openModelSource } from "../src/loader.js";
import { hfSource } from "../src/models/source.js";
import { loadedCpuVariant, pinCpuVariant, prebuiltCpuVariants } from "../src/llamacpp/prebuilt-variant.js";
import { assertBitEqualRun, runBothOnFile, summary } from "./helpers/llamacpp-agree.js";
import { EMBEDDED_MODEL, REPO, sharedPath, SKIP_NO_SHARED } from "./helpers/paths.js";
import { llamaQuantize, NO_QUANTIZE } from "./helpers/llama-quantize.js";

const PIN = "haswell";
const pinnable = prebuiltCpuVariants().includes(PIN);
if (pinnable) pinCpuVariant(PIN);
const dir100 = sharedPath("models", "tinycode-100m");

interface MixFixture { models: Record<string, { model: MixModel; tensors: [string, number][]; types: Record<string, Record<string, string>> }> }
const fx = JSON.parse(readFileSync(join(REPO, "test", "fixtures", "kquant-mix-types.json"), "utf8")) as MixFixture;

test("K-quant mixes: each tensor's type as llama-quantize chose it (recorded)", () => {
  let checked = 0;
  for (const [label, m] of Object.entries(fx.models)) {
    const tensors = m.tensors.map(([name, cols]) => ({ name, cols }));
    for (const [type, want] of Object.entries(m.types)) {
      assert.deepEqual(Object.fromEntries(kquantTensorTypes(type as KQuantOutType, m.model, tensors)), want, `${label} ${type}`);
      checked++;
    }
  }
  assert.ok(checked >= 5, "type maps compared");
});

/** Every tensor of `ours` has the type and bytes of the same tensor in `theirs`. */
function assertSameTensors(ours: string, theirs: string, what: string): Record<string, number> {
  const a = openGguf(ours), b = openGguf(theirs);
  assert.deepEqual([...a.tensors.keys()].sort(), [...b.tensors.keys()].sort(), `${what}: tensor names`);
  const count: Record<string, number> = {};
  for (const [name, t] of b.tensors) {
    const u = a.tensors.get(name)!;
    assert.equal(u.typeName, t.typeName, `${what}: ${name} type`);
    assert.ok(Buffer.from(readTensorBytes(a, u)).equals(Buffer.from(readTensorBytes(b, t))), `${what}: ${name} (${t.typeName}) bytes differ from llama-quantize's`);
    count[t.typeName] = (count[t.typeName] ?? 0) + 1;
  }
  assert.equal(a.metadata.get("general.file_type")?.value, b.metadata.get("general.file_type")?.value, `${what}: general.file_type`);
  return count;
}

test("tinycode-7m: q4_k_m / q5_k_m / q6_k files equal llama-quantize's tensor for tensor (with the Q5_0 / Q5_1 / Q8_0 fallbacks)", { skip: NO_QUANTIZE }, (t) => {
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-kexport-"));
  try {
    const f16 = join(tmp, "f16.gguf");
    exportGguf(hfSource(EMBEDDED_MODEL), f16, "f16");
    for (const [type, ref, pure] of [["q4_k_m", "Q4_K_M", false], ["q5_k_m", "Q5_K_M", false], ["q6_k", "Q6_K", true]] as [GgufOutType, string, boolean][]) {
      llamaQuantize(f16, join(tmp, `ref-${type}.gguf`), ref, pure ? ["--pure"] : []);
      exportGguf(openModelSource(f16), join(tmp, `${type}.gguf`), type);
      t.diagnostic(`${type}: ${JSON.stringify(assertSameTensors(join(tmp, `${type}.gguf`), join(tmp, `ref-${type}.gguf`), `tinycode-7m ${type}`))}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

const skip100 = NO_QUANTIZE || (!pinnable ? `node-llama-cpp's prebuilt has no ${PIN} CPU variant here` : !dir100 ? SKIP_NO_SHARED : false);
test("tinycode-100m: q4_k_m / q5_k_m files equal llama-quantize's tensor for tensor; llama.cpp runs lowbit's q4_k_m", { skip: skip100 }, async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-kexport-"));
  try {
    const f16 = join(tmp, "f16.gguf");
    exportGguf(hfSource(dir100!), f16, "f16");
    for (const [type, ref] of [["q4_k_m", "Q4_K_M"], ["q5_k_m", "Q5_K_M"]] as [GgufOutType, string][]) {
      llamaQuantize(f16, join(tmp, `ref-${type}.gguf`), ref);
      exportGguf(openModelSource(f16), join(tmp, `${type}.gguf`), type);
      t.diagnostic(`${type}: ${JSON.stringify(assertSameTensors(join(tmp, `${type}.gguf`), join(tmp, `ref-${type}.gguf`), `tinycode-100m ${type}`))}`);
    }
    const runs = await runBothOnFile(join(tmp, "q4_k_m.gguf"), dir100!);
    t.diagnostic(`lowbit's q4_k_m [llama.cpp CPU variant ${loadedCpuVariant()}]: ${summary(runs)}`);
    for (const r of runs) assertBitEqualRun(r, `q4_k_m ${JSON.stringify(r.ref.prompt)}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
