/**
 * Loading streams tensors one at a time into native storage, so the peak
 * resident memory added by LLM.load stays near the loaded model's size (never
 * a second full copy). Measured in a child process with VmHWM (peak RSS).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { EMBEDDED_MODEL, REPO, sharedPath, SKIP_NO_SHARED } from "./helpers/paths.js";

function peakDuringLoad(dir: string, dtype: string): { before: number; peak: number; weights: number; cache: number } {
  const script = `
    import { readFileSync } from "node:fs";
    const hwm = () => Number(/VmHWM:\\s+(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]) * 1024;
    const { LLM } = await import(${JSON.stringify(join(REPO, "dist", "src", "index.js"))});
    const { addon } = await import(${JSON.stringify(join(REPO, "dist", "src", "native.js"))});
    addon(); // the addon itself is not the model
    const before = hwm();
    const m = await LLM.load(${JSON.stringify(dir)}, { dtype: ${JSON.stringify(dtype)}, threads: 1, contextLength: 64 });
    const i = m.info();
    console.log(JSON.stringify({ before, peak: hwm(), weights: i.weightBytes, cache: i.cacheBytes }));
    await m.dispose();`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

function check(dir: string, dtype: string, t: { diagnostic(s: string): void }): void {
  const { before, peak, weights, cache } = peakDuringLoad(dir, dtype);
  const added = peak - before;
  const mb = (x: number) => (x / 1e6).toFixed(1);
  t.diagnostic(`${dtype}: weights ${mb(weights)} MB, peak RSS added by load ${mb(added)} MB`);
  // weights + KV cache + the largest tensor's read buffer + tokenizer and JS heap (< 48 MB)
  assert.ok(added < weights * 1.35 + cache + 48e6, `load added ${mb(added)} MB for ${mb(weights)} MB of weights`);
}

test("peak memory while loading the embedded model stays near its size", (t) => {
  check(EMBEDDED_MODEL, "f32", t);
});

test("peak memory while loading tinycode-100m (f32 and bf16) stays near its size", (t) => {
  const dir = sharedPath("models", "tinycode-100m");
  if (!dir) return t.skip(`tinycode-100m ${SKIP_NO_SHARED}`);
  check(dir, "f32", t);
  check(dir, "bf16", t);
});
