/** The --vs-llamacpp markdown of a made-up report: rows, ratios lowbit / llama.cpp, notes. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { speedRatio, vsConfigs, vsMarkdown } from "../src/bench/vs-report.js";
import { ggufMatmulParams, LOWBIT_ENGINE, NATIVE_ENGINE, vsTotal } from "../src/bench/vs-llamacpp.js";
import { exportGguf } from "../src/formats/gguf-export.js";
import { hfSource } from "../src/models/source.js";
import { REPO } from "./helpers/paths.js";
import { NATIVE_UV } from "../src/bench/llama-server.js";
import { coreBenchTotal } from "../src/bench/core.js";
import { checkRepeatSamples } from "../src/bench/soundness.js";
import { coreBenchMarkdown, speedupMarkdown } from "../src/bench/report.js";
import { fakeCoreReport, fakeVsReport } from "./helpers/bench-reports.js";
import { parseXml } from "./helpers/xml.js";
import { main } from "../src/cli/main.js";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

test("ratios: lowbit tok/s over each llama.cpp variant's, pp and tg", () => {
  const r = fakeVsReport();
  const groups = vsConfigs(r);
  assert.equal(groups.length, 2);
  const [lb, lc, uv] = groups[0]!;
  const a = speedRatio(lb!, lc!), b = speedRatio(lb!, uv!);
  assert.equal(a.pp, 2); // 32 ms / 16 ms
  assert.ok(Math.abs(a.tg - 1.5) < 1e-12); // 3 ms / 2 ms
  assert.ok(Math.abs(b.pp - 20 / 16) < 1e-12);
  assert.ok(Math.abs(b.tg - 1.25) < 1e-12);
});

test("markdown: with the same run's probes, the bandwidth and compute-peak lines and each row's share of the bandwidth", () => {
  const r = fakeVsReport();
  r.bandwidthGBs = { 2: 50 };
  r.computePeak = [{ kind: "int8", isa: "avx512 vpdpbusd (int8)", gops: { 1: 400, 2: 790 } }, { kind: "bf16", isa: "none", gops: { 1: 0, 2: 0 } }];
  const md = vsMarkdown(r);
  assert.match(md, /Read bandwidth \(same run, 1 GiB buffer, best of 5\): 2 threads 50\.0 GB\/s/);
  assert.match(md, /Compute peak .*avx512 vpdpbusd \(int8\): 1 thread 400, 2 threads 790; bf16: none/);
  // lowbit q4_0: 25.0 GB/s of weights per token against 50 GB/s
  assert.match(md, /\| lowbit \| 16\.0 \(15\.0-17\.0\) \| 2000 \| 2\.00 \(1\.90-2\.20\) \| 500 \| 25\.0 \| 50% \| - \|/);
});

test("markdown: a row per engine and configuration, the ratio table, the soundness verdict and notes", () => {
  const r = fakeVsReport();
  r.rechecks = [checkRepeatSamples("tinycode-100m q4_0 t=2 prompt 32, lowbit", "tpotMs", [1.9, 2, 2.2], [2.5, 2.6, 2.7])];
  const md = vsMarkdown(r);
  assert.match(md, /\| tinycode-100m \| q4_0 \| 2 \| 32 \| 32 \| lowbit \| 16\.0 \(15\.0-17\.0\) \| 2000 \| 2\.00 \(1\.90-2\.20\) \| 500 \| 25\.0 \| - \|/);
  assert.match(md, /\| tinycode-100m \| q8_0 \| 2 \| 32 \| 32 \| llama\.cpp \| 64\.0 \(60\.0-80\.0\) \| 500 \| 6\.00 \(5\.80-7\.00\) \| 167 \| 8\.3 \| - \| 30\.0\/32 \|/);
  assert.match(md, /\| tinycode-100m \| q4_0 \| 2 \| 32 \| 2\.00x \| 1\.50x \| 1\.25x \| 1\.25x \|/);
  assert.match(md, /pp vs llama\.cpp UV_THREADPOOL_SIZE=1/);
  assert.match(md, /WARNING: 1 of 1 second runs/);
  assert.match(md, /KV cache F16 \(llama\.cpp's default\)/);
  assert.match(md, /batch 512, flash attention auto, 2 threads/);
  assert.match(md, /lowbit's KV cache: f32\./, "a report without lowbitKvType (older ones) was measured with f32");
  assert.doesNotMatch(md, /llama-server/, "no native engine in this report: no note on it");
  assert.match(md, /64\.0 MiB \(cached/);
});

test("markdown: prefill GOP/s per engine = 2 x matmul weights x prompt tokens / median TTFT, with its share of the int8 peak; none without the weight count", () => {
  const r = fakeVsReport();
  assert.doesNotMatch(vsMarkdown(r), /Prefill GOP\/s/, "an older report: no weight count, no table");
  r.computePeak = [{ kind: "int8", isa: "avx2 vpmaddubsw+vpmaddwd (int8)", gops: { 1: 400, 2: 800 } }];
  for (const x of r.rows) x.matmulParams = 1e8;
  const md = vsMarkdown(r);
  assert.match(md, /Prefill GOP\/s = 2 x the file's matrix-multiplication weights .*avx2 vpmaddubsw\+vpmaddwd \(int8\): 1 thread 400, 2 threads 800 GOP\/s/);
  // q4_0, prompt 32: TTFT medians 16 / 32 / 20 ms -> 2e8 x 32 / 16e-3 s = 400 GOP/s (50% of 800), 200 (25%), 320 (40%)
  assert.match(md, /\| tinycode-100m \| q4_0 \| 2 \| 32 \| 400 \(50%\) \| 200 \(25%\) \| 320 \(40%\) \|/);
});

test("ggufMatmulParams: the weights of every matrix multiplication of a GGUF file (a tied head counted once, the embedding lookup not)", () => {
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-gops-"));
  try {
    const dir = join(REPO, "models", "tinycode-7m");
    const c = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, number>;
    const d = c.hidden_size!, kv = c.num_key_value_heads! * c.head_dim!, ff = c.intermediate_size!;
    const file = join(tmp, "t.gguf");
    exportGguf(hfSource(dir), file, "q8_0");
    assert.equal(ggufMatmulParams(file), c.num_hidden_layers! * (2 * d * d + 2 * kv * d + 3 * d * ff) + c.vocab_size! * d);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("markdown notes: a report with native llama.cpp says how its server runs and is timed, and nothing of node-llama-cpp when it did not run", () => {
  const r = fakeVsReport();
  r.engines = [LOWBIT_ENGINE, NATIVE_ENGINE];
  r.rows = r.rows.filter((x) => x.engine === LOWBIT_ENGINE || x.engine === "llama.cpp").map((x) => (x.engine === "llama.cpp" ? { ...x, engine: NATIVE_ENGINE } : x));
  r.llamaCpp = [{ uvThreadpoolSize: NATIVE_UV, threads: 2, batchSize: 512, contextSize: 80, flashAttention: "auto" }];
  const md = vsMarkdown(r);
  assert.match(md, /llama\.cpp native: llama\.cpp's own llama-server, built .* with GGML_NATIVE=ON/);
  assert.match(md, /TTFT = its prompt_ms, TPOT = predicted_ms \/ \(predicted_n - 1\)/);
  assert.match(md, /\| model \| type \| threads \| prompt \| pp vs llama\.cpp native \| tg vs llama\.cpp native \|/);
  assert.doesNotMatch(md, /node-llama-cpp\): its prebuilt/);
});

test("formats markdown: humaneval prompt cell with mean tokens, speedups against the chosen baseline", () => {
  const r = fakeCoreReport();
  assert.match(coreBenchMarkdown(r), /\| tinycode-7m \| w8a8 \| 2 \| humaneval \(3\), mean 100 tok \| 5\.5 \(5\.0-6\.0\) \| 18182 \|/);
  assert.match(speedupMarkdown(r, "bf16"), /\| w8a8 \| 2 \| humaneval \(3\), mean 100 tok \| 5\.5 \| 2\.00x \| 0\.28 \| 2\.00x \|/);
  assert.match(speedupMarkdown(r, "w8a8"), /TTFT speedup vs w8a8.*\n.*\n\| tinycode-7m \| bf16 \| 2 \| humaneval \(3\), mean 100 tok \| 11\.0 \| 0\.50x \|/);
});

test("progress totals: generations a run makes", () => {
  const cases = [{ label: "32", spec: { kind: "length" as const, length: 32 }, count: 1 }, { label: "humaneval (3)", spec: { kind: "humaneval" as const, limit: 3 }, count: 3 }];
  // 2 models x 3 formats x 1 thread x (reps 5 x (1 + 3) prompts + 2 warm-ups) + recheck (1 warm-up + 5)
  const o = { models: [{ name: "a", dir: "a" }, { name: "b", dir: "b" }], formats: ["bf16", "w8a8", "f32"] as const, threads: [2], prompts: cases, genTokens: 8, reps: 5, recheck: true };
  assert.equal(coreBenchTotal({ ...o, formats: [...o.formats] }), 2 * 3 * (20 + 2) + 6);
  assert.equal(coreBenchTotal({ ...o, formats: [...o.formats], warmup: "once", recheck: false }), 2 * 3 * (20 + 1));
  // vs: 3 engines x (warm-up + reps x prompts) per setting, per model x type x threads, + recheck of the first setting
  assert.equal(vsTotal({ models: [o.models[0]!], ggufTypes: ["q4_0", "q8_0"], threads: [2], prompts: cases, genTokens: 8, reps: 5, warmupRuns: 1, cacheDir: "/tmp", recheck: true }), 2 * 3 * (1 + 5 + 1 + 15) + 3 * 6);
});

test("CLI --from-json: a saved report re-rendered (markdown and chart), nothing measured; bad uses exit 2", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lowbit-bench-json-"));
  try {
    const json = join(dir, "r.json"), svg = join(dir, "sub", "r.svg");
    writeFileSync(json, JSON.stringify(fakeVsReport()));
    let out = "";
    const io = { out: (s: string) => void (out += s), err: () => {}, errIsTTY: false };
    assert.equal(await main(["bench", "--from-json", json, "--plot", svg], io), 0);
    assert.match(out, /\| tinycode-100m \| q4_0 \| 2 \| 32 \| 2\.00x \| 1\.50x \| 1\.25x \| 1\.25x \|/);
    assert.equal(parseXml(readFileSync(svg, "utf8")).filter((e) => e.attrs.class === "bar").length, 12);
    writeFileSync(json, JSON.stringify(fakeCoreReport()));
    out = "";
    assert.equal(await main(["bench", "--from-json", json, "--baseline", "w8a8"], io), 0);
    assert.match(out, /TTFT speedup vs w8a8/);
    let err = "";
    const eio = { out: () => {}, err: (s: string) => void (err += s), errIsTTY: false };
    assert.equal(await main(["bench", "--from-json", json, "--reps", "3"], eio), 2);
    assert.match(err, /INVALID_OPTION.*takes no measuring options \(got --reps\)/);
    writeFileSync(json, "{}");
    assert.equal(await main(["bench", "--from-json", json], eio), 2);
    assert.match(err, /BAD_DATA.*not a lowbit bench report/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
