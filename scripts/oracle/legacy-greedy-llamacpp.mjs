#!/usr/bin/env node
// The recipe of test/fixtures/legacy-greedy-llamacpp.json: llama.cpp's greedy
// ids on the tinycode-100m GGUF files of test/helpers/legacy-files.ts (lowbit's
// F16 export quantized by llama.cpp's own llama-quantize), the first 3
// reference prompts' input_ids, 32 tokens each, from node-llama-cpp's prebuilt
// CPU build pinned to its haswell variant (the numerics lowbit reproduces), F32
// KV cache. Needs ../shared, a native llama-quantize (LLAMA_QUANTIZE, default
// ~/.cache/lowbit/llama.cpp/build-native/bin/llama-quantize) and `npx tsc`.
// Each file's ids are merged into OUT.json as soon as they are recorded;
// LABELS (comma-separated) limits the files.
//   node scripts/oracle/legacy-greedy-llamacpp.mjs [OUT.json] [LABELS]
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { pinCpuVariant, loadedCpuVariant } from "../../dist/src/llamacpp/prebuilt-variant.js";

pinCpuVariant("haswell");
const { exportGguf } = await import("../../dist/src/formats/gguf-export.js");
const { hfSource } = await import("../../dist/src/models/source.js");
const { LlamaCppModel } = await import("../../dist/src/llamacpp/oracle.js");
const { LEGACY_FILES, LEGACY_PROMPTS, LEGACY_TOKENS } = await import("../../dist/test/helpers/legacy-files.js");

const out = process.argv[2] ?? "test/fixtures/legacy-greedy-llamacpp.json";
const only = process.argv[3]?.split(",");
const shared = process.env.LOWBIT_SHARED ?? "../shared";
const dir = join(shared, "models", "tinycode-100m");
const quantize = process.env.LLAMA_QUANTIZE ?? join(homedir(), ".cache", "lowbit", "llama.cpp", "build-native", "bin", "llama-quantize");
const prompts = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")).prompts.slice(0, LEGACY_PROMPTS);
const tmp = mkdtempSync(join(tmpdir(), "lowbit-legacy-greedy-"));
const files = existsSync(out) ? JSON.parse(readFileSync(out, "utf8")).files : {};
const write = () => writeFileSync(out, JSON.stringify({
  about: `llama.cpp's greedy ids (node-llama-cpp prebuilt, CPU variant haswell, F32 KV cache) on tinycode-100m GGUF files made by llama-quantize from lowbit's F16 export: the first ${LEGACY_PROMPTS} reference prompts, ${LEGACY_TOKENS} tokens each; written by scripts/oracle/legacy-greedy-llamacpp.mjs`,
  files,
}).replace(/\],"/g, '],\n"') + "\n");
try {
  const f16 = join(tmp, "f16.gguf");
  exportGguf(hfSource(dir), f16, "f16");
  for (const [label, type, extra] of LEGACY_FILES) {
    if (only && !only.includes(label)) continue;
    const file = join(tmp, `${label}.gguf`);
    const q = spawnSync(quantize, [...extra, f16, file, type, "2"], { encoding: "utf8" });
    if (q.status !== 0) throw new Error(`llama-quantize ${label}: ${q.stderr.slice(-1000)}`);
    const m = await LlamaCppModel.load(file, { threads: 2, contextSize: 256, kvCache: "F32" });
    try {
      files[label] = [];
      for (const p of prompts) files[label].push((await m.greedy(p.input_ids, LEGACY_TOKENS)).ids);
    } finally {
      await m.dispose();
    }
    if (loadedCpuVariant() !== "haswell") throw new Error(`llama.cpp ran its ${loadedCpuVariant()} variant, not haswell`);
    write();
    console.log(label, loadedCpuVariant(), JSON.stringify(files[label].map((ids) => ids.length)));
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
