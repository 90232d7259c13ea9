/**
 * `lowbit bench` options: the plan built from flags (defaults, lists, modes)
 * and every invalid option rejected with InvalidOptionError before anything
 * runs; through the CLI, exit code 2 and the flag named on stderr.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidOptionError } from "../src/errors.js";
import { benchPlan, DEFAULT_BENCH_FORMATS, resolveBenchModel } from "../src/bench/options.js";
import { parsePromptSpecs, promptCases, lengthPromptIds, caseIds } from "../src/bench/prompts.js";
import { main } from "../src/cli/main.js";
import { DEFAULT_MODEL_DIR } from "../src/llm.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EMBEDDED_MODEL } from "./helpers/paths.js";

const M = { model: "tinycode-7m" };

test("defaults: bf16 + 8-bit + 4-bit formats, baseline bf16, prompts 32 and 1024, 32 tokens, 5 reps, 1 warm-up, recheck on", () => {
  const p = benchPlan({ ...M }, 2);
  assert.equal(p.mode, "formats");
  assert.deepEqual(p.formats, DEFAULT_BENCH_FORMATS);
  assert.equal(p.baseline, "bf16");
  assert.deepEqual(p.threads, [2]);
  assert.deepEqual(p.prompts, [{ kind: "length", length: 32 }, { kind: "length", length: 1024 }]);
  assert.equal(p.genTokens, 32);
  assert.equal(p.reps, 5);
  assert.equal(p.warmupRuns, 1);
  assert.equal(p.recheck, true);
  assert.deepEqual(p.models, [{ name: "tinycode-7m", dir: p.models[0]!.dir }]);
  assert.deepEqual(p.ggufTypes, ["q4_0", "q8_0"]);
});

test("lists: several models, formats, threads; baseline defaults to the first format without bf16", () => {
  const p = benchPlan({ model: `tinycode-7m, ${EMBEDDED_MODEL},synthetic:tiny`, quant: "f32,w8a8,w4a8-g128+head,q4_0+head", threads: "1,2", reps: "3", gen: "16", warmup: "0", recheck: false }, 8);
  assert.deepEqual(p.models.map((m) => m.name), ["tinycode-7m", "tinycode-7m", "synthetic:tiny"]);
  assert.deepEqual(p.formats, ["f32", "w8a8", "w4a8-g128+head", "q4_0+head"]);
  assert.equal(p.baseline, "f32");
  assert.deepEqual(p.threads, [1, 2]);
  assert.deepEqual([p.reps, p.genTokens, p.warmupRuns, p.recheck], [3, 16, 0, false]);
  assert.equal(benchPlan({ ...M, quant: "bf16,w8a8", baseline: "w8a8" }, 2).baseline, "w8a8");
});

test("--vs-llamacpp: GGUF types, cache directory, humaneval with a limit", () => {
  const p = benchPlan({ ...M, vsLlamacpp: true, ggufTypes: "q8_0,f16", ggufDir: "/tmp/x", prompts: "512,humaneval", limit: "7", gen: "128" }, 2);
  assert.equal(p.mode, "vs-llamacpp");
  assert.deepEqual(p.ggufTypes, ["q8_0", "f16"]);
  assert.equal(p.ggufDir, "/tmp/x");
  assert.deepEqual(p.prompts, [{ kind: "length", length: 512 }, { kind: "humaneval", limit: 7 }]);
  assert.equal(p.genTokens, 128);
  assert.equal(p.contextLength, undefined, "humaneval prompts' lengths are not known before tokenizing: the model's context");
  assert.equal(p.kvType, undefined);
});

test("--vs-llamacpp with prompts of given lengths: lowbit's context as long as the longest + gen needs (past a trained 2048 too); --kv-type f16; --llamacpp-engines", () => {
  const p = benchPlan({ ...M, vsLlamacpp: true, prompts: "32,4096", gen: "128", kvType: "f16", llamacppEngines: "node,node-uv1" }, 2);
  assert.equal(p.contextLength, 4096 + 128 + 16);
  assert.equal(p.kvType, "f16");
  assert.deepEqual(p.llamaCppVariants!.map((v) => v.engine), ["llama.cpp", "llama.cpp UV_THREADPOOL_SIZE=1"]);
  assert.equal(benchPlan({ ...M, prompts: "32" }, 2).contextLength, undefined, "formats mode: the model's context");
});

test("invalid options are InvalidOptionErrors naming the flag", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ reps: "0" }, /--reps/],
    [{ reps: "2.5" }, /--reps/],
    [{ gen: "1" }, /--gen/],
    [{ warmup: "-1" }, /--warmup/],
    [{ threads: "2,,4" }, /--threads/],
    [{ threads: "0" }, /--threads/],
    [{ threads: "2,2" }, /twice/],
    [{ quant: "w9a9" }, /--quant: unknown format "w9a9"/],
    [{ quant: "bf16+head" }, /--quant: unknown format/],
    [{ quant: "bf16,w8a8", baseline: "f32" }, /--baseline f32 is not one of/],
    [{ prompts: "32,abc" }, /--prompts: "abc"/],
    [{ prompts: "" }, /--prompts/],
    [{ prompts: "0" }, /--prompts/],
    [{ prompts: "32,32" }, /twice/],
    [{ limit: "5" }, /--limit applies to --prompts humaneval/],
    [{ prompts: "humaneval", limit: "0" }, /--limit/],
    [{ plot: "chart.png" }, /--plot must name an \.svg/],
    [{ json: " " }, /--json/],
    [{ model: "no/such/dir" }, /--model: "no\/such\/dir" is not/],
    [{ model: "synthetic:nope" }, /unknown synthetic shape "nope"/],
    [{ ggufTypes: "q4_0" }, /--gguf-types applies with --vs-llamacpp only/],
    [{ ggufDir: "/tmp" }, /--gguf-dir applies with --vs-llamacpp only/],
    [{ vsLlamacpp: true, quant: "bf16" }, /use --gguf-types/],
    [{ vsLlamacpp: true, baseline: "bf16" }, /--baseline applies without/],
    [{ vsLlamacpp: true, interleave: true }, /--interleave applies without/],
    [{ vsLlamacpp: true, ggufTypes: "q3_k" }, /--gguf-types: "q3_k" is not one of/],
    [{ lookup: "0" }, /--lookup must be an integer in \[1, 64\]/],
    [{ lookup: "3", lookupNgram: "17" }, /--lookup-ngram must be an integer in \[1, 16\]/],
    [{ lookupNgram: "2" }, /--lookup-ngram needs --lookup/],
    [{ vsLlamacpp: true, lookup: "3" }, /--lookup applies without --vs-llamacpp/],
    [{ kvType: "f16" }, /--kv-type applies with --vs-llamacpp only/],
    [{ vsLlamacpp: true, kvType: "q4_0" }, /--kv-type must be one of f32, f16, q8_0, got "q4_0"/],
    [{ llamacppEngines: "node" }, /--llamacpp-engines applies with --vs-llamacpp only/],
    [{ vsLlamacpp: true, llamacppEngines: "node,gpu" }, /--llamacpp-engines: "gpu" is not one of native, node, node-uv1/],
  ];
  for (const [flags, re] of bad) {
    assert.throws(() => benchPlan({ ...M, ...flags }, 2), (e: unknown) => e instanceof InvalidOptionError && re.test(e.message), JSON.stringify(flags));
  }
});

test("--lookup: every format measured again with prompt lookup, interleaved", () => {
  const p = benchPlan({ ...M, quant: "bf16,w8a8", lookup: "5", lookupNgram: "3" }, 2);
  assert.deepEqual(p.lookup, { tokens: 5, ngram: 3 });
  assert.equal(p.interleave, true);
  assert.deepEqual(benchPlan({ ...M, lookup: "4" }, 2).lookup, { tokens: 4 });
  assert.equal(benchPlan({ ...M }, 2).lookup, undefined);
});

test("model names: tinycode-7m is the embedded model; a .gguf path is named without its extension", () => {
  assert.deepEqual(resolveBenchModel("tinycode-7m"), { name: "tinycode-7m", dir: DEFAULT_MODEL_DIR });
  assert.equal(resolveBenchModel(join(EMBEDDED_MODEL, "..", "tinycode-7m")).name, "tinycode-7m");
  const dir = mkdtempSync(join(tmpdir(), "lowbit-bench-opt-"));
  try {
    writeFileSync(join(dir, "Tiny.Q4_0.gguf"), "");
    assert.deepEqual(resolveBenchModel(join(dir, "Tiny.Q4_0.gguf")), { name: "Tiny.Q4_0", dir: join(dir, "Tiny.Q4_0.gguf") });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("prompt settings: lengths, humaneval with and without a limit, and the texts behind them", () => {
  assert.deepEqual(parsePromptSpecs("32, 1024"), [{ kind: "length", length: 32 }, { kind: "length", length: 1024 }]);
  const [a, b] = promptCases(parsePromptSpecs("8,humaneval", 3));
  assert.equal(a!.label, "8");
  assert.equal(a!.count, 1);
  assert.equal(b!.label, "humaneval (3)");
  assert.equal(b!.count, 3);
  assert.ok(b!.texts![0]!.startsWith("from typing import List"), b!.texts![0]);
  assert.equal(promptCases(parsePromptSpecs("humaneval"))[0]!.count, 164);
  // lengths are exact, repeating the bench file when needed; humaneval gives one id list per problem
  const enc = (t: string) => Array.from(t.slice(0, 50), (ch) => ch.charCodeAt(0));
  const ids = lengthPromptIds(enc, 120);
  assert.equal(ids.length, 120);
  assert.deepEqual(ids.slice(50, 100), ids.slice(0, 50));
  assert.equal(caseIds(b!, enc).length, 3);
});

test("CLI: invalid bench options exit 2 with INVALID_OPTION on stderr, before anything runs", async () => {
  for (const argv of [["bench", "--reps", "0"], ["bench", "--model", "tinycode-7m", "--quant", "nope"], ["bench", "--vs-llamacpp", "--gguf-types", "q3_k"], ["bench", "--prompts", "humaneval", "--limit", "x"]]) {
    let err = "";
    const code = await main(argv, { out: () => {}, err: (s) => void (err += s), errIsTTY: false });
    assert.equal(code, 2, argv.join(" "));
    assert.match(err, /error \[INVALID_OPTION\]: --(reps|quant|gguf-types|limit)/);
  }
  let err = "";
  assert.equal(await main(["bench", "--bogus"], { out: () => {}, err: (s) => void (err += s), errIsTTY: false }), 2);
  assert.match(err, /unknown option '--bogus'/);
});
