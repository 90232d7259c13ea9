/**
 * The addon built with AddressSanitizer (`npm run build:asan`,
 * build-asan/build/Release/lowbit.node) runs the kernel tests (every format's
 * matmul against the scalar reference through runKernel) and
 * helpers/asan-workload.ts (the embedded model from its HF directory, saved
 * and loaded back in five quantized formats, exported to q4_0 / q8_0 GGUF and
 * loaded, greedy generations on each) in child processes with gcc's libasan
 * preloaded. Any ASan report fails the test. Without the ASan build the test
 * is skipped, except in CI (CI set), where .ci/run builds it first.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/paths.js";

const ASAN_ADDON = join(REPO, "build-asan", "build", "Release", "lowbit.node");
const KERNEL_TESTS = ["kernels", "quant-kernels", "q4a8-kernels", "ggml-kernels"].map((n) => join(REPO, "dist", "test", `${n}.test.js`));

function libasan(): string | undefined {
  try {
    const p = execFileSync("gcc", ["-print-file-name=libasan.so"], { encoding: "utf8" }).trim();
    return existsSync(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

const lib = libasan();
const missing = !existsSync(ASAN_ADDON) ? `${ASAN_ADDON} not built (npm run build:asan)` : !lib ? "gcc's libasan.so not found" : undefined;
if (missing && process.env.CI) test("ASan build is present in CI", () => assert.fail(`${missing}: .ci/run must run npm run build:asan before npm test`));
const skip = missing ? `${missing}: skipped` : false;

function runAsan(args: string[], extraEnv: Record<string, string> = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv, LD_PRELOAD: lib!, ASAN_OPTIONS: "detect_leaks=0:abort_on_error=1", LOWBIT_ADDON: ASAN_ADDON };
  delete env.NODE_TEST_CONTEXT; // the child's node --test reports TAP on stdout, not to this runner
  const r = spawnSync(process.execPath, args, {
    cwd: REPO,
    encoding: "utf8",
    timeout: 15 * 60_000,
    maxBuffer: 64 << 20,
    env,
  });
  const asan = /AddressSanitizer|runtime error:/.exec(r.stderr + r.stdout);
  assert.equal(asan, null, `ASan report:\n${(r.stderr + r.stdout).slice(-6000)}`);
  assert.equal(r.status, 0, `exit ${r.status} signal ${r.signal}\n${(r.stderr + r.stdout).slice(-4000)}`);
  return r;
}

test("ASan addon: kernel tests (every matmul format vs the scalar reference) pass with no report", { skip, timeout: 16 * 60_000 }, (t) => {
  const r = runAsan(["--test", "--test-reporter=tap", "--test-concurrency=1", ...KERNEL_TESTS]);
  const count = (k: string) => Number(new RegExp(`^# ${k} (\\d+)$`, "m").exec(r.stdout)?.[1]);
  assert.equal(count("fail"), 0);
  assert.equal(count("cancelled"), 0);
  // SIMD variants the CPU lacks are skipped (t.skip with the reason); everything else passes
  assert.ok(count("tests") >= 60 && count("pass") > 0, `only ${count("tests")} kernel tests ran:\n${r.stdout.slice(-2000)}`);
  assert.equal(count("pass") + count("skipped"), count("tests"));
  t.diagnostic(`kernel tests on the ASan addon: ${count("pass")} passed, ${count("skipped")} skipped`);
});

test("ASan addon: HF, saved quantized and GGUF models load and generate with no report", { skip, timeout: 16 * 60_000 }, () => {
  const r = runAsan([join(REPO, "dist", "test", "helpers", "asan-workload.js")], { LOWBIT_ASAN_WORKLOAD: "1" });
  const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { mapped: string; checks: string[] };
  assert.equal(out.mapped, ASAN_ADDON, "the child ran the ASan addon");
  assert.deepEqual(out.checks, ["hf-f32", "saved-w8a8", "saved-w4a16-g128", "saved-w4a8-g32-is", "saved-q4_0", "saved-q8_0", "gguf-q4_0", "gguf-q8_0", "batched-slots"]);
});
