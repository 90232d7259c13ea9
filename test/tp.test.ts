/**
 * Tensor parallelism over Open MPI (docs/PARALLEL.md): `mpirun -np 2` ranks of
 * 1 thread against one process, on tinycode-100m, for bf16, w8a8 and
 * w4a16-g128 (and SmoothQuant's w8a8-sq, w8a8-sq-static): the same greedy tokens
 * for every reference prompt and perplexity within 1e-4 relative (the w8a8
 * formats: equal; test/helpers/tp-worker.ts); the typed errors; a killed
 * rank ends the job. The MPI runs need mpirun and `npm run build:mpi`; the
 * default build's refusal of the collective ops runs everywhere.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mpiAddonPath } from "../src/native.js";
import { A, TINY, addTinyWeights, TINY_OPTS, tiny } from "./helpers/native-boundary.js";
import type { NativeWeightFormat, OpSpec } from "../src/native.js";
import { llamaGraph } from "../src/models/llama.js";
import { REPO, SKIP_NO_SHARED, sharedPath } from "./helpers/paths.js";
import { kvHeadsOf, shardSpecs, takeShard, type Shard } from "../src/parallel/shard.js";
import { llamaTensors } from "../src/models/llama.js";

const hasMpirun = spawnSync("mpirun", ["--version"], { encoding: "utf8" }).status === 0;
const SKIP_MPI = !hasMpirun
  ? "mpirun not found (apt-get install openmpi-bin libopenmpi-dev): tensor-parallel runs skipped"
  : !existsSync(mpiAddonPath())
    ? `${mpiAddonPath()} missing (npm run build:mpi): tensor-parallel runs skipped`
    : false;
const MODEL = sharedPath("models", "tinycode-100m");
const DATA = sharedPath("data", "python-heldout-test.jsonl");
const WORKER = join(REPO, "dist", "test", "helpers", "tp-worker.js");
const BIN = join(REPO, "bin", "lowbit.js");
const MPIRUN = ["--allow-run-as-root", "--oversubscribe"];

/** Why mpirun is not run again: an earlier run timed out (a broken MPI setup, or a full disk
 * under Open MPI's session directory, would make every later run wait out its limit too). */
let mpiStalled: string | undefined;
function mpirun(np: number, args: string[], timeoutMs = 300_000) {
  assert.equal(mpiStalled, undefined, mpiStalled);
  const r = spawnSync("mpirun", [...MPIRUN, "-np", String(np), process.execPath, ...args], { cwd: REPO, encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 << 20 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === "ETIMEDOUT")
    mpiStalled = `an earlier mpirun (${args.slice(0, 2).join(" ")} ...) ran past its ${timeoutMs} ms; the later MPI runs fail at once. Its stderr: ${r.stderr.slice(-1000)}`;
  return r;
}

interface Run { greedy: number[][]; ppl: number; ranks: number }
function parse(out: string): Run {
  const line = out.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  assert.ok(line, `no result line in: ${out}`);
  return JSON.parse(line) as Run;
}

/** `lowbit info --json` of a model: its weight bytes in one process, and each rank's under `mpirun -np 2 ... --tp`. */
function infoShares(model: string): { whole: number; shares: number[] } {
  const one = spawnSync(process.execPath, [BIN, "info", "--json", "--model", model, "--threads", "1"], { cwd: REPO, encoding: "utf8" });
  assert.equal(one.status, 0, one.stderr);
  const r = mpirun(2, [BIN, "info", "--json", "--tp", "--model", model, "--threads", "1"], 120_000);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 1, "only rank 0 prints");
  const whole = (JSON.parse(one.stdout) as { native: { weightBytes: number } }).native.weightBytes;
  const shares = (JSON.parse(lines[0]!) as { rankWeightBytes: number[] }).rankWeightBytes;
  assert.equal(shares.length, 2);
  return { whole, shares };
}

/** One process and 2 ranks on one format (run once, shared by its two tests). */
const runs = new Map<string, { one: Run; tp: Run }>();
function both(format: string): { one: Run; tp: Run } {
  if (!runs.has(format)) {
    const one = spawnSync(process.execPath, [WORKER, MODEL!, DATA!, format], { cwd: REPO, encoding: "utf8", timeout: 300_000 });
    assert.equal(one.status, 0, one.stderr);
    const tp = mpirun(2, [WORKER, MODEL!, DATA!, format, "tp"]);
    assert.equal(tp.status, 0, tp.stderr);
    runs.set(format, { one: parse(one.stdout), tp: parse(tp.stdout) });
  }
  return runs.get(format)!;
}
const SKIP_RUNS = SKIP_MPI || (!MODEL || !DATA ? SKIP_NO_SHARED : false);

// w8a8-sq / w8a8-sq-static: SmoothQuant's factors slice with the input columns (tp-worker: a short calibration)
for (const format of ["bf16", "w8a8", "w4a16-g128", "w8a8-sq", "w8a8-sq-static"]) {
  test(`tp: 2 ranks x 1 thread have one process's perplexity within 1e-4 relative (${format})`, { skip: SKIP_RUNS }, () => {
    const { one, tp } = both(format);
    assert.equal(one.ranks, 1);
    assert.equal(tp.ranks, 2);
    assert.ok(Number.isFinite(one.ppl) && one.ppl > 1);
    const rel = Math.abs(tp.ppl - one.ppl) / one.ppl;
    assert.ok(rel < 1e-4, `perplexity ${tp.ppl} (2 ranks) vs ${one.ppl} (one process): ${rel} relative`);
    // w8a8 sums the row-parallel layers' int32 dot products over the ranks, so it is exact
    if (format.startsWith("w8a8")) assert.equal(tp.ppl, one.ppl);
  });
  // w8a8: row-parallel layers quantize with the whole row's activation and weight scales and sum int32 dot
  // products over the ranks before scaling once, as one process does (docs/PARALLEL.md)
  test(`tp: 2 ranks x 1 thread give one process's greedy tokens for every reference prompt (${format})`, { skip: SKIP_RUNS }, () => {
    const { one, tp } = both(format);
    const ref = JSON.parse(readFileSync(join(MODEL!, "reference.json"), "utf8")) as { prompts: unknown[] };
    assert.equal(one.greedy.length, ref.prompts.length);
    assert.deepEqual(tp.greedy, one.greedy);
  });
}

// Saved quantized models (lowbit quantize --out): each rank imports the file's weights and keeps its shard of
// them (src/saved/tp.ts), so 2 ranks run the single process's codes and scales. tinycode-100m: the w8a8 formats
// (SmoothQuant's with a short calibration; row-parallel scales: the whole rows' as saved, exact), w4a16-g128
// and q8_0 (GGUF blocks, every matrix: the embedding and head too); tinycode-7m: a GPTQ w4a16-g32 with an f32
// embedding (its 704-wide FFN splits into 352 columns per rank: whole groups of 32, not of 128)
const SAVED_DIR = mkdtempSync(join(tmpdir(), "lowbit-tp-saved-"));
after(() => rmSync(SAVED_DIR, { recursive: true, force: true }));
const MODEL_7M = sharedPath("models", "tinycode-7m");
const CALIB = ["--calib-samples", "4", "--calib-tokens", "128"];
const SAVED: Record<string, { model: string | undefined; args: string[] }> = {
  "w8a8": { model: MODEL, args: ["--quant", "w8a8"] },
  "w8a8-sq": { model: MODEL, args: ["--quant", "w8a8-sq", ...CALIB] },
  "w8a8-sq-static": { model: MODEL, args: ["--quant", "w8a8-sq-static", ...CALIB, "--smooth-down", "--dynamic-inputs", ""] },
  "w4a16-g128": { model: MODEL, args: ["--quant", "w4a16-g128"] },
  "q8_0": { model: MODEL, args: ["--quant", "q8_0"] },
  "gptq-w4a16-g32-f32": { model: MODEL_7M, args: ["--quant", "w4a16-g32", "--method", "gptq", "--dtype", "f32", ...CALIB] },
};

/** `lowbit quantize` of a model into SAVED_DIR/label (once per label), the model's reference prompts beside it. */
const savedDirs = new Map<string, string>();
function savedModel(label: string, model: string, args: string[]): string {
  if (!savedDirs.has(label)) {
    const out = join(SAVED_DIR, label);
    const q = spawnSync(process.execPath, [BIN, "quantize", "--model", model, "--out", out, "--threads", "1", ...args], { cwd: REPO, encoding: "utf8", timeout: 300_000 });
    assert.equal(q.status, 0, q.stderr);
    copyFileSync(join(model, "reference.json"), join(out, "reference.json")); // tp-worker's prompts
    savedDirs.set(label, out);
  }
  return savedDirs.get(label)!;
}

const savedRuns = new Map<string, { one: Run; tp: Run }>();
function bothSaved(label: string): { one: Run; tp: Run; dir: string } {
  const { model, args } = SAVED[label]!;
  const dir = savedModel(label, model!, args);
  if (!savedRuns.has(label)) {
    const one = spawnSync(process.execPath, [WORKER, dir, DATA!, "saved"], { cwd: REPO, encoding: "utf8", timeout: 300_000 });
    assert.equal(one.status, 0, one.stderr);
    const tp = mpirun(2, [WORKER, dir, DATA!, "saved", "tp"]);
    assert.equal(tp.status, 0, tp.stderr);
    savedRuns.set(label, { one: parse(one.stdout), tp: parse(tp.stdout) });
  }
  return { ...savedRuns.get(label)!, dir };
}
const SKIP_SAVED = SKIP_MPI || (!MODEL || !MODEL_7M || !DATA ? SKIP_NO_SHARED : false);

for (const label of Object.keys(SAVED)) {
  test(`tp: a saved model loads split over 2 ranks: one process's greedy tokens for every reference prompt (${label})`, { skip: SKIP_SAVED }, () => {
    const { one, tp, dir } = bothSaved(label);
    assert.equal(one.ranks, 1);
    assert.equal(tp.ranks, 2);
    const ref = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as { prompts: unknown[] };
    assert.equal(one.greedy.length, ref.prompts.length);
    assert.deepEqual(tp.greedy, one.greedy);
  });
  test(`tp: a saved model split over 2 ranks has one process's perplexity within 1e-4 relative (q8_0: its checkpoint's at load) (${label})`, { skip: SKIP_SAVED }, () => {
    const { one, tp } = bothSaved(label);
    assert.ok(Number.isFinite(one.ppl) && one.ppl > 1);
    const rel = Math.abs(tp.ppl - one.ppl) / one.ppl;
    if (label === "q8_0") {
      // q8_0 quantizes every matmul's input to int8 blocks, so the ranks' f32 partial sums (added in another
      // order) flip some codes of the layers after: 4.5e-4 relative, exactly what the checkpoint quantized to
      // q8_0 at load gives under --tp (the saved shards are its shards, bit for bit)
      const atLoad = both("q8_0");
      assert.equal(one.ppl, atLoad.one.ppl);
      assert.equal(tp.ppl, atLoad.tp.ppl);
      assert.ok(rel < 1e-3, `perplexity ${tp.ppl} (2 ranks) vs ${one.ppl} (one process): ${rel} relative`);
    } else {
      assert.ok(rel < 1e-4, `perplexity ${tp.ppl} (2 ranks) vs ${one.ppl} (one process): ${rel} relative`);
    }
    // the saved w8a8 scales are whole rows' on every rank and the int32 dot products sum over the ranks: exact
    if (label.startsWith("w8a8")) assert.equal(tp.ppl, one.ppl);
  });
}

test("tp: info --tp of a saved w8a8 model shows each rank's share (half of every split matrix; norms and row-parallel scales whole)", { skip: SKIP_SAVED }, () => {
  const { whole, shares } = infoShares(savedModel("w8a8", MODEL!, SAVED["w8a8"]!.args));
  assert.equal(shares[0], shares[1]);
  // tinycode-100m: 12 layers, width 768; no split needs padding (768-wide attention, 2048-wide FFN, 16384 vocabulary
  // rows). Replicated: the f32 norms (2 a layer and the final one); each rank's attn_output and ffn_down keep every
  // row's q8 scale (f32) and code sum (int32)
  const norms = (2 * 12 + 1) * 768 * 4, rowScales = 12 * 2 * 768 * 8;
  assert.equal(shares[0], (whole - norms - rowScales) / 2 + norms + rowScales);
});

test("tp: a saved model whose groups straddle the ranks' split is a typed error naming the format (per-channel w4a16-ch; GPTQ w4a16-g128 of a 704-wide FFN)", { skip: SKIP_SAVED }, () => {
  const cases: [string, string[], RegExp][] = [
    // one scale per row of 256 columns: attn_output's 128 columns per rank hold no whole row
    ["w4a16-ch", ["--quant", "w4a16-ch"], /error \[TENSOR_PARALLEL\]: blk\.0\.attn_output\.weight: its 256 input columns split over the ranks into 128-column parts, which must be multiples of q4-ch's 256-column rows \(per-channel scales\)/],
    // attention splits into 128 columns per rank, ffn_down's 704 into 352: not whole groups of 128
    ["gptq-w4a16-g128", ["--quant", "w4a16-g128", "--method", "gptq", ...CALIB], /error \[TENSOR_PARALLEL\]: blk\.0\.ffn_down\.weight: its 704 input columns split over the ranks into 352-column parts, which must be multiples of q4-g128's 128-column groups/],
  ];
  for (const [label, args, re] of cases) {
    const dir = savedModel(label, MODEL_7M!, args);
    const r = mpirun(2, [BIN, "generate", "--tp", "--model", dir, "--threads", "1", "--prompt-ids", "1,2,3", "--max-new-tokens", "2"], 120_000);
    assert.notEqual(r.status, 0, label);
    assert.match(r.stderr, re, label);
  }
});

// tiny: Llama; tiny-pythia: GPT-NeoX (parallel residual, biases on every matrix: row-parallel ones added after the
// all_reduce, partial rotary dims)
// tiny-starcoder: GPTBigCode's multi-query attention (one KV head, replicated on every rank), learned positions;
// tiny-mpt: ALiBi (each rank's heads take their slopes of the model's: with the first heads' slopes on both
// ranks instead, the 14th of these 24 tokens differs)
for (const shape of ["tiny", "tiny-pythia", "tiny-starcoder", "tiny-mpt"]) {
  test(`tp: a synthetic model's shards (each generated alone on its rank) give one process's tokens (${shape})`, { skip: SKIP_MPI }, () => {
    const args = [BIN, "generate", "--model", `synthetic:${shape}`, "--threads", "1", "--prompt-ids", "1,2,3,4,5,6,7,8,9,10,11,12", "--max-new-tokens", "24", "--temperature", "0", "--json"];
    const one = spawnSync(process.execPath, args, { cwd: REPO, encoding: "utf8" });
    assert.equal(one.status, 0, one.stderr);
    const tp = mpirun(2, [...args, "--tp"], 120_000);
    assert.equal(tp.status, 0, tp.stderr);
    const ids = (out: string) => (JSON.parse(out) as { ids: number[] }).ids;
    assert.equal(ids(one.stdout).length, 24);
    assert.deepEqual(ids(tp.stdout), ids(one.stdout));
  });
}

test("tp: a GGUF file's quantized tensors are cut by whole blocks (q8_0: one process's tokens; q4_k: a typed error)", { skip: SKIP_MPI || (!MODEL ? SKIP_NO_SHARED : false) }, () => {
  const dir = mkdtempSync(join(tmpdir(), "lowbit-tp-"));
  try {
    for (const type of ["q8_0", "q4_k"]) {
      const c = spawnSync(process.execPath, [BIN, "convert", "--model", MODEL!, "--out", join(dir, `${type}.gguf`), "--type", type], { cwd: REPO, encoding: "utf8" });
      assert.equal(c.status, 0, c.stderr);
    }
    const args = (type: string) => [BIN, "generate", "--model", join(dir, `${type}.gguf`), "--threads", "1", "--prompt-ids", "329,288,637,268,1369", "--max-new-tokens", "16", "--temperature", "0", "--json"];
    const one = spawnSync(process.execPath, args("q8_0"), { cwd: REPO, encoding: "utf8" });
    assert.equal(one.status, 0, one.stderr);
    const tp = mpirun(2, [...args("q8_0"), "--tp"], 200_000);
    assert.equal(tp.status, 0, tp.stderr);
    const ids = (out: string) => (JSON.parse(out) as { ids: number[] }).ids;
    assert.equal(ids(one.stdout).length, 16);
    assert.deepEqual(ids(tp.stdout), ids(one.stdout));
    // tinycode-100m's attention is 768 wide: 384 columns of attn_output per rank, not whole 256-element Q4_K blocks
    const k = mpirun(2, [...args("q4_k"), "--tp"], 200_000);
    assert.notEqual(k.status, 0);
    assert.match(k.stderr, /error \[TENSOR_PARALLEL\]: blk\.0\.attn_output\.weight: its 768 input columns split over the ranks into 384-column parts, which must be multiples of q4_k's 256-column blocks/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("tp: a shape that does not divide by the ranks is a typed error on every rank", { skip: SKIP_MPI || (!MODEL ? SKIP_NO_SHARED : false) }, () => {
  // tinycode-100m has 4 KV heads
  const r = mpirun(3, [BIN, "info", "--tp", "--model", MODEL!, "--threads", "1"], 120_000);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /error \[TENSOR_PARALLEL\]: num_key_value_heads 4 does not divide by 3 ranks/);
});

test("tp: ranks that disagree on the model get a typed error", { skip: SKIP_MPI }, () => {
  const cmd = (seed: string) => ["-np", "1", process.execPath, BIN, "info", "--tp", "--model", "synthetic:tiny", "--synthetic-seed", seed, "--threads", "1"];
  const r = spawnSync("mpirun", [...MPIRUN, ...cmd("1"), ":", ...cmd("2")], { cwd: REPO, encoding: "utf8", timeout: 120_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /error \[TENSOR_PARALLEL\]: the ranks disagree on the model \(synthetic:tiny\)/);
});

test("tp: a quantization group straddling a shard boundary is a typed error naming the requirement", { skip: SKIP_MPI }, () => {
  // synthetic:tiny's attention is 4 heads of 32: 64 columns of attn_output per rank, not a multiple of 128
  const r = mpirun(2, [BIN, "info", "--tp", "--model", "synthetic:tiny", "--quant", "w4a16-g128", "--threads", "1"], 120_000);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /error \[TENSOR_PARALLEL\]: blk\.0\.attn_output\.weight: its 128 input columns split over the ranks into 64-column parts, which must be multiples of q4-g128's 128-column groups: use fewer ranks or another format/);
  // w8a8 (one scale per row) splits anywhere
  const ok = mpirun(2, [BIN, "info", "--tp", "--model", "synthetic:tiny", "--quant", "w8a8", "--threads", "1"], 120_000);
  assert.equal(ok.status, 0, ok.stderr);
});

test("tp: info --tp shows each rank's weight bytes (half the model's matrices each)", { skip: SKIP_MPI }, () => {
  const { whole, shares } = infoShares("synthetic:tiny");
  // the norms (f32 vectors of 128) are replicated; every matrix is split in two, up to the packed
  // layout's column padding (ffn_down's 176 columns per rank pad to 192: 16 x 128 rows x 2 bytes per layer)
  const norms = (2 * 2 + 1) * 128 * 4;
  assert.equal(shares[0], shares[1]);
  assert.equal(shares[0]! - ((whole - norms) / 2 + norms), 2 * 16 * 128 * 2);
});

test("tp: serve --tp answers through both ranks, and a rank that dies ends the job (no hang)", { skip: SKIP_MPI }, async () => {
  const child = spawn("mpirun", [...MPIRUN, "-np", "2", process.execPath, BIN, "serve", "--tp", "--model", "synthetic:tiny", "--threads", "1", "--port", "0", "--no-log"], { cwd: REPO });
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const deadline = Date.now() + 120_000;
  while (!/serving/.test(err) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.match(err, /lowbit: serving/);
  // the server answers through both ranks: the same greedy tokens as one process
  const url = /at (http:\/\/\S+\/v1)/.exec(err)![1]!;
  const res = await fetch(`${url}/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: [1, 2, 3, 4, 5], max_tokens: 12, temperature: 0 }) });
  assert.equal(res.status, 200);
  const served = ((await res.json()) as { choices: { text: string }[] }).choices[0]!.text;
  const one = spawnSync(process.execPath, [BIN, "generate", "--model", "synthetic:tiny", "--threads", "1", "--prompt-ids", "1,2,3,4,5", "--max-new-tokens", "12", "--temperature", "0", "--json"], { cwd: REPO, encoding: "utf8" });
  assert.equal(served, (JSON.parse(one.stdout) as { text: string }).text);
  // rank 1: a child of mpirun with OMPI_COMM_WORLD_RANK=1
  const rank1 = readdirSync("/proc").filter((p) => /^\d+$/.test(p)).find((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === child.pid &&
        readFileSync(`/proc/${p}/environ`, "utf8").split("\0").includes("OMPI_COMM_WORLD_RANK=1");
    } catch {
      return false;
    }
  });
  assert.ok(rank1, "rank 1's process not found");
  process.kill(Number(rank1), "SIGKILL");
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const code = await exited;
  clearTimeout(timer);
  assert.notEqual(code, null, "mpirun did not end by itself within 60 s");
  assert.notEqual(code, 0);
});

test("tp: the default build refuses the collective ops when the graph is compiled", () => {
  const m = new A.NativeModel(TINY_OPTS);
  addTinyWeights(m);
  try {
    for (const op of [{ op: "all_reduce", a: "x" }, { op: "all_gather", a: "x", out: "y" }] as const) {
      assert.throws(() => m.setGraph([{ op: "embed", weight: "token_embd.weight", out: "x" }, op, { op: "output_rows", a: "x", out: "xo" }], "xo"),
        A.mpiAvailable() ? /MPI is not initialized/ : /graph op #1 \(all_\w+\): needs the MPI build of the addon \(npm run build:mpi\)/);
    }
  } finally {
    m.dispose();
  }
});

test("tp: shards are Megatron's (q/k/v, gate/up by rows; o/down by columns; vocab rows) and slice any dtype", () => {
  const c = { ...TINY, nKvHeads: 2 }; // q 16 rows, k/v 16, ffn 24, vocab 50
  const by = new Map(shardSpecs(llamaTensors(c), c, { rank: 1, size: 2 }).map((s) => [s.name, s]));
  const shard = (n: string) => by.get(n)!.shard;
  assert.deepEqual(shard("blk.0.attn_q.weight"), { axis: "rows", start: 8, count: 8 });
  assert.deepEqual(shard("blk.0.attn_k.weight"), { axis: "rows", start: 8, count: 8 });
  assert.deepEqual(shard("blk.0.ffn_gate.weight"), { axis: "rows", start: 12, count: 12 });
  assert.deepEqual(shard("blk.0.attn_output.weight"), { axis: "cols", start: 8, count: 8 });
  assert.deepEqual(shard("blk.0.ffn_down.weight"), { axis: "cols", start: 12, count: 12 });
  assert.deepEqual(shard("token_embd.weight"), { axis: "rows", start: 25, count: 25 });
  assert.deepEqual(shard("output.weight"), { axis: "rows", start: 25, count: 25 });
  assert.equal(shard("blk.0.attn_norm.weight"), undefined);
  // multi-query (one KV head, TINY's): every rank holds the whole attn_k / attn_v, its half of attn_q
  for (const rank of [0, 1]) {
    const mq = new Map(shardSpecs(llamaTensors(TINY), TINY, { rank, size: 2 }).map((s) => [s.name, s]));
    assert.deepEqual(mq.get("blk.0.attn_k.weight")!.shard, { axis: "rows", start: 0, count: 8 });
    assert.deepEqual(mq.get("blk.0.attn_v.weight")!.shard, { axis: "rows", start: 0, count: 8 });
    assert.deepEqual(mq.get("blk.0.attn_q.weight")!.shard, { axis: "rows", start: rank * 8, count: 8 });
  }
  // GQA with fewer KV heads than ranks: 8 query heads in 2 groups over 4 ranks, rank r has KV head r / 2
  const g = { ...TINY, nHeads: 8, nKvHeads: 2 };
  assert.deepEqual([0, 1, 2, 3].map((rank) => kvHeadsOf(g, { rank, size: 4 })), [0, 0, 1, 1].map((start) => ({ start, count: 1 })));
  assert.throws(() => shardSpecs(llamaTensors(TINY), { ...TINY, nHeads: 6, nKvHeads: 3 }, { rank: 0, size: 2 }),
    /num_key_value_heads 3 does not divide by 2 ranks, nor 2 ranks by it/);
  // columns of an f32 [2, 4] matrix: elements 2..3 of each row
  const f32 = new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]).buffer);
  const spec = { name: "m", hfName: "m", rows: 2, cols: 4, kind: "matrix" as const, shard: { axis: "cols" as const, start: 2, count: 2 } };
  assert.deepEqual([...new Float32Array(takeShard(f32, "F32", spec).buffer)], [2, 3, 6, 7]);
  assert.deepEqual([...new Float32Array(takeShard(f32, "F32", { ...spec, shard: { axis: "rows", start: 1, count: 1 } }).buffer)], [4, 5, 6, 7]);
  // Q8_0 rows of 64 columns = 2 blocks of 34 bytes: the second block of each row
  const q = Uint8Array.from({ length: 2 * 68 }, (_, i) => i % 251);
  const qs = { ...spec, cols: 64, shard: { axis: "cols" as const, start: 32, count: 32 } };
  assert.deepEqual([...takeShard(q, "Q8_0", qs)], [...q.subarray(34, 68), ...q.subarray(102, 136)]);
  assert.throws(() => takeShard(q, "Q8_0", { ...qs, shard: { axis: "cols", start: 16, count: 48 } }), /its 64 input columns split over the ranks into 48-column parts, which must be multiples of Q8_0's 32-column blocks/);
});

test("tp: addWeight's rowAmax makes a q8 row-parallel shard's scales the whole row's, and is checked", () => {
  const m = new A.NativeModel(TINY_OPTS);
  try {
    // a shard of 2 rows x 4 columns whose whole rows (on every rank) have max |w| 8 and 0.5
    const w = new Float32Array([1, -2, 0.5, 4, 0.25, 0, -0.5, 0.125]);
    const bytes = new Uint8Array(w.buffer);
    const scales = (name: string) => {
      const out = new Uint8Array(8);
      m.exportWeightBuffer(name, "scales", out);
      return [...new Float32Array(out.buffer)];
    };
    m.addWeight("own", "F32", bytes, 2, 4, "q8");
    m.addWeight("whole", "F32", bytes, 2, 4, "q8", undefined, undefined, new Float32Array([8, 0.5]));
    assert.deepEqual(scales("own"), [Math.fround(4 / 127), Math.fround(0.5 / 127)]);
    assert.deepEqual(scales("whole"), [Math.fround(8 / 127), Math.fround(0.5 / 127)]);
    assert.throws(() => m.addWeight("x", "F32", bytes, 2, 4, "q8", undefined, undefined, new Float32Array([8])), /rowAmax must have one value per row/);
    assert.throws(() => m.addWeight("x", "F32", bytes, 2, 4, "q8", undefined, undefined, new Float32Array([8, NaN])), /rowAmax values must be finite and >= 0/);
    assert.throws(() => m.addWeight("x", "F32", bytes, 2, 4, "bf16", undefined, undefined, new Float32Array([8, 1])), /rowAmax applies to q8 weights only/);
    assert.throws(() => m.addWeight("x", "F32", bytes, 2, 4, "q8", undefined, undefined, [8, 1] as unknown as Float32Array), /rowAmax must be a Float32Array/);
  } finally {
    m.dispose();
  }
});

test("tp: a shard's ALiBi heads (attention offset / alibiHeads) are checked when the graph is compiled", () => {
  const m = tiny({}, false);
  try {
    const g = llamaGraph(TINY); // 2 heads
    const withAttention = (extra: Partial<OpSpec>) => g.ops.map((o) => (o.op === "attention" ? { ...o, ...extra } : o));
    assert.throws(() => m.setGraph(withAttention({ offset: 1, alibiHeads: 4 }), g.output), /offset and alibiHeads apply to ALiBi attention/);
    assert.throws(() => m.setGraph(withAttention({ alibi: 8, offset: 3, alibiHeads: 4 }), g.output), /heads offset\.\. must lie within alibiHeads/);
    assert.throws(() => m.setGraph(withAttention({ alibi: 8, offset: 0, alibiHeads: 1 }), g.output), /heads offset\.\. must lie within alibiHeads/);
    m.setGraph(withAttention({ alibi: 8, offset: 2, alibiHeads: 4 }), g.output);
  } finally {
    m.dispose();
  }
});

test("tp: a stored weight's shard (importWeight's shard) holds the codes and scales of that part loaded alone, every saved format", () => {
  const m = new A.NativeModel(TINY_OPTS);
  try {
    // 10 rows (the last 4-row group padded) x 128 columns; values of mixed magnitudes
    const rows = 10, cols = 128;
    const x = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
    const f32 = new Uint8Array(x.buffer);
    const stored = (name: string) => {
      const { buffers, ...meta } = m.exportWeight(name);
      const bytes = Object.fromEntries(buffers.map((b) => {
        const out = new Uint8Array(b.bytes);
        m.exportWeightBuffer(name, b.name, out);
        return [b.name, out];
      }));
      return { meta, bytes };
    };
    const formats: NativeWeightFormat[] = ["f32", "bf16", "q8", { format: "q4", group: 32 }, { format: "q4", group: 32, asym: true }, { format: "q4", group: 0 },
      { format: "q4a8", group: 32 }, { format: "q4a8", group: 32, amplifier: 1024 }, "q4_0", "q8_0"];
    // rows across 4-row groups; whole 32-column groups / blocks; columns inside a chunk (formats split per element)
    const grouped: Shard[] = [{ axis: "rows", start: 5, count: 5 }, { axis: "rows", start: 0, count: 3 }, { axis: "cols", start: 64, count: 64 }, { axis: "cols", start: 0, count: 32 }];
    const perElement: Shard[] = [...grouped, { axis: "cols", start: 40, count: 50 }];
    let k = 0;
    for (const format of formats) {
      const label = JSON.stringify(format);
      m.addWeight(`w${k}`, "F32", f32, rows, cols, format);
      const whole = stored(`w${k}`);
      const perRow = format === "f32" || format === "bf16" || format === "q8";
      // q4 per channel (group 0): one group of the whole row, so rows only
      const shards = perRow ? perElement : typeof format === "object" && format.group === 0 ? grouped.slice(0, 2) : grouped;
      for (const shard of shards) {
        const name = `s${k}`, ref = `r${k++}`;
        m.importWeight(name, whole.meta, whole.bytes, shard);
        // the same part loaded alone; a q8 column shard with its whole rows' max |w| (as a checkpoint's shard loads)
        const part = takeShard(f32, "F32", { name, rows, cols, kind: "matrix", shard });
        const rowAmax = format === "q8" && shard.axis === "cols" ? Float32Array.from({ length: rows }, (_, r) => Math.max(...x.subarray(r * cols, (r + 1) * cols).map(Math.abs))) : undefined;
        m.addWeight(ref, "F32", part, shard.axis === "rows" ? shard.count : rows, shard.axis === "cols" ? shard.count : cols, format, undefined, undefined, rowAmax);
        assert.deepEqual(stored(name), stored(ref), `${label} ${JSON.stringify(shard)}`);
      }
      if (!perRow) {
        assert.throws(() => m.importWeight("bad", whole.meta, whole.bytes, { axis: "cols", start: 16, count: 64 }),
          new RegExp(`columns \\[16, 80\\) of format ${typeof format === "string" ? format : format.format} split its \\d+-column (groups|blocks)`), label);
      }
    }
    // a vector (norm, bias) splits by its elements
    m.addWeight("v", "F32", f32.subarray(0, cols * 4), 1, cols, "vector");
    m.importWeight("v1", stored("v").meta, stored("v").bytes, { axis: "cols", start: 32, count: 64 });
    m.addWeight("v1ref", "F32", f32.slice(32 * 4, 96 * 4), 1, 64, "vector");
    assert.deepEqual(stored("v1"), stored("v1ref"));
    assert.throws(() => m.importWeight("v2", stored("v").meta, stored("v").bytes, { axis: "rows", start: 0, count: 1 }), /a vector is split by its elements/);
    const w0 = stored("w0");
    assert.throws(() => m.importWeight("bad", w0.meta, w0.bytes, { axis: "rows", start: 8, count: 5 }), /shard rows \[8, 13\) outside its 10/);
    assert.throws(() => m.importWeight("bad", w0.meta, w0.bytes, { axis: "diagonal", start: 0, count: 1 } as unknown as Shard), /shard\.axis must be "rows" or "cols"/);
    for (const f of ["vector", "f32", "bf16", "q8", "q4", "q4a8", "q4_0", "q8_0"]) assert.equal(A.canShard(f), true, f);
    assert.equal(A.canShard("q4_k"), false); // K-quants are not saved (no save layout), nor split
    assert.equal(A.canShard("nope"), false);
  } finally {
    m.dispose();
  }
});

test("save() on a tensor-parallel rank is refused on every rank (it would write one rank's shard)", { skip: SKIP_MPI }, () => {
  const r = mpirun(2, [WORKER, join(REPO, "models", "tinycode-7m"), join(REPO, "package.json"), "w8a8", "tp-save"], 120_000);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { rank: number; saveError: string });
  assert.deepEqual(lines.map((l) => l.rank).sort(), [0, 1]);
  for (const l of lines) assert.equal(l.saveError, "TENSOR_PARALLEL");
});
