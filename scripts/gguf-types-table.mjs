#!/usr/bin/env node
// docs/GGUF.md's per-type table (issue 19): for each GGUF type, a file made by llama.cpp's own
// llama-quantize from lowbit's F16 export of MODEL, then
//   bits per weight in lowbit's memory (`lowbit info --json`),
//   greedy ids, PROMPTS prompts x TOKENS new tokens: lowbit vs llama.cpp (node-llama-cpp's
//     prebuilt pinned to its haswell variant, the numerics lowbit reproduces; F32 KV cache),
//   perplexity: lowbit (scripts/perplexity-like-llamacpp.mjs) vs the native llama-perplexity on
//     the same chunks of TEXT,
//   with --speed REPS: decode / prefill tok/s of lowbit and llama-bench alternated
//     (scripts/bench-gguf-vs-llamabench.mjs; run it on an idle machine).
// One JSON line per type as soon as it is measured, then the markdown table.
//   node scripts/gguf-types-table.mjs MODEL [--types Q4_0,Q4_K_M,...] [--out DIR] [--text FILE]
//        [--ctx 512] [--chunks 8] [--prompts 3] [--tokens 32] [--speed REPS] [--threads 2]
// MODEL: a Hugging Face directory (its reference.json prompts when present) or synthetic:<shape>.
// A type ending in "-pure" is quantized with --pure (every matrix that type).
// B overrides ~/.cache/lowbit/llama.cpp/build-native/bin (llama-quantize, llama-perplexity, llama-bench).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { pinCpuVariant, loadedCpuVariant } from "../dist/src/llamacpp/prebuilt-variant.js";
import { cliFlags } from "./cli-flags.mjs";

pinCpuVariant("haswell");
const { LlamaCppModel } = await import("../dist/src/llamacpp/oracle.js");
const { LLM } = await import("../dist/src/index.js");

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { args, flag } = cliFlags();
const model = args[0];
if (!model || model.startsWith("--")) {
  console.error("usage: node scripts/gguf-types-table.mjs MODEL [--types T,...] [--out DIR] [--text FILE] [--ctx 512] [--chunks 8] [--prompts 3] [--tokens 32] [--speed REPS] [--threads 2]");
  process.exit(2);
}
const ALL = "Q4_0,Q8_0,Q4_1-pure,Q5_0-pure,Q5_1-pure,IQ4_NL-pure,IQ4_XS-pure,Q2_K-pure,Q3_K-pure,Q4_K-pure,Q5_K-pure,Q6_K-pure,Q3_K_M,Q4_K_M,Q5_K_M";
const types = flag("types", ALL).split(",");
const out = resolve(flag("out", "/tmp/lowbit-gguf-types"));
const ctx = flag("ctx", "512"), chunks = flag("chunks", "8");
const nPrompts = Number(flag("prompts", "3")), nTokens = Number(flag("tokens", "32"));
const speed = flag("speed", undefined), threads = flag("threads", "2");
const B = process.env.B ?? join(homedir(), ".cache", "lowbit", "llama.cpp", "build-native", "bin");
const synthetic = model.startsWith("synthetic:");
mkdirSync(out, { recursive: true });

function run(cmd, argv, what) {
  const r = spawnSync(cmd, argv, { cwd: ROOT, encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${(r.stderr || r.stdout).slice(-2000)}`);
  return r.stdout;
}
const lowbit = (argv, what) => run(process.execPath, [join(ROOT, "bin/lowbit.js"), ...argv], what);
const lastJson = (s) => JSON.parse(s.trimEnd().split("\n").pop());

// the F16 file every type is quantized from, and the prompts
const f16 = join(out, "f16.gguf");
if (!existsSync(f16)) {
  if (synthetic) lowbit(["synth", "--shape", model.slice("synthetic:".length), "--type", "f16", "--out", f16], "lowbit synth");
  else lowbit(["convert", "--model", model, "--type", "f16", "--out", f16], "lowbit convert");
}
const refFile = synthetic ? undefined : join(model, "reference.json");
const prompts = refFile && existsSync(refFile)
  ? JSON.parse(readFileSync(refFile, "utf8")).prompts.slice(0, nPrompts).map((p) => p.input_ids)
  : Array.from({ length: nPrompts }, (_, p) => Array.from({ length: 16 }, (_, i) => 100 + ((p * 131 + i * 7919) % 10000)));
const text = flag("text", join(out, "text.txt"));
if (!existsSync(text)) {
  const data = process.env.LOWBIT_SHARED ? join(process.env.LOWBIT_SHARED, "data") : join(ROOT, "../shared/data");
  const lines = readFileSync(join(data, "python-heldout-test.jsonl"), "utf8").trim().split("\n");
  writeFileSync(text, lines.map((l) => JSON.parse(l).text).join("\n\n"));
}

const rows = [];
for (const t of types) {
  const pure = t.endsWith("-pure"), type = pure ? t.slice(0, -5) : t;
  const file = join(out, `${t}.gguf`);
  if (!existsSync(file)) run(join(B, "llama-quantize"), [...(pure ? ["--pure"] : []), f16, file, type, threads], `llama-quantize ${t}`);
  const info = lastJson(lowbit(["info", "--model", file, "--threads", threads, "--json"], `lowbit info ${t}`));

  // greedy ids: lowbit vs llama.cpp (haswell), leading tokens equal per prompt
  const lb = [];
  const mine = await LLM.load(file, { threads: Number(threads), contextLength: 512 });
  try {
    for (const p of prompts) lb.push((await mine.generate(p, { maxNewTokens: nTokens, temperature: 0, stopAtEos: false })).ids);
  } finally {
    await mine.dispose();
  }
  const lc = [];
  const m = await LlamaCppModel.load(file, { threads: Number(threads), contextSize: 512, kvCache: "F32" });
  try {
    for (const p of prompts) lc.push((await m.greedy(p, nTokens)).ids);
  } finally {
    await m.dispose();
  }
  const variant = loadedCpuVariant();
  const greedy = lb.map((ids, i) => {
    let k = 0;
    while (k < nTokens && ids[k] === lc[i][k]) k++;
    return k;
  });

  // perplexity on the same chunks
  const pplOf = (s) => Number(/Final estimate: PPL = ([0-9.]+)/.exec(s)?.[1]);
  const lp = spawnSync(join(B, "llama-perplexity"), ["-m", file, "-f", text, "-c", ctx, "--chunks", chunks, "-b", ctx, "-t", threads, "-ctk", "f32", "-ctv", "f32", "-fa", "off"], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (lp.status !== 0) throw new Error(`llama-perplexity ${t} failed: ${lp.stderr.slice(-2000)}`);
  const pllama = pplOf(lp.stderr + lp.stdout);
  const plowbit = pplOf(run(process.execPath, [join(ROOT, "scripts/perplexity-like-llamacpp.mjs"), file, text, ctx, chunks, threads], `lowbit perplexity ${t}`));

  const row = { type: t, fileBytes: info.native.weightBytes, bitsPerWeight: info.bitsPerWeight, weights: info.weights, greedy, llamaVariant: variant, pplLowbit: plowbit, pplLlama: pllama };
  if (speed) Object.assign(row, lastJson(run(process.execPath, [join(ROOT, "scripts/bench-gguf-vs-llamabench.mjs"), file, threads, speed, "512", "128"], `speed ${t}`)));
  rows.push(row);
  console.log(JSON.stringify(row));
}

console.log(`\n${model}: ${prompts.length} prompts x ${nTokens} greedy tokens (llama.cpp: node-llama-cpp ${rows[0]?.llamaVariant}); perplexity ${chunks} chunks x ${ctx} of ${text}\n`);
const sp = speed ? " lowbit pp512 | llama-bench pp512 | lowbit tg128 | llama-bench tg128 |" : "";
console.log(`| type | lowbit weights | bits per weight | greedy equal to llama.cpp | ppl lowbit | ppl llama-perplexity | diff |${sp}`);
console.log(`| --- | --- | --- | --- | --- | --- | --- |${speed ? " --- | --- | --- | --- |" : ""}`);
for (const r of rows) {
  const d = ((r.pplLowbit - r.pplLlama) / r.pplLlama) * 100;
  const s = speed ? ` ${r.lowbit.pp.toFixed(1)} | ${r.llamaBench.pp.toFixed(1)} (${(r.lowbit.pp / r.llamaBench.pp).toFixed(2)}x) | ${r.lowbit.tg.toFixed(1)} | ${r.llamaBench.tg.toFixed(1)} (${(r.lowbit.tg / r.llamaBench.tg).toFixed(2)}x) |` : "";
  console.log(`| ${r.type} | ${r.weights} | ${r.bitsPerWeight.toFixed(3)} | ${r.greedy.map((g) => `${g}/${nTokens}`).join(", ")} | ${r.pplLowbit.toFixed(4)} | ${r.pplLlama.toFixed(4)} | ${d >= 0 ? "+" : ""}${d.toFixed(3)}% |${s}`);
}
