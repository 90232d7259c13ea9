/** Shared by the hostile-input tests (test/hostile-*.test.ts): scratch dirs and typed-rejection asserts. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../../src/index.js";
import { linkModelDir, EMBEDDED_MODEL_DIR } from "../../src/fuzz/model-files.js";

const scratchDirs: string[] = [];
process.on("exit", () => {
  for (const d of scratchDirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp dir, removed when the test process exits (the GGUF exports in them are 8 to 15 MB). */
export function scratch(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `lowbit-${tag}-`));
  scratchDirs.push(d);
  return d;
}

/** The embedded model in a fresh scratch dir, with `replace` (file name -> contents) written over it. */
export function hostileModel(replace: Record<string, string | Uint8Array>): string {
  return linkModelDir(EMBEDDED_MODEL_DIR, join(scratch("hostile"), "model"), replace);
}

/** Asserts that `p` rejects with an instance of `cls` whose message matches `re`. */
export async function rejectsWith(p: () => Promise<unknown>, cls: new (...a: never[]) => Error, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

/** LLM.load(model) must reject with `cls` and a message matching `re`. */
export function loadRejects(model: string, cls: new (...a: never[]) => Error, re: RegExp): Promise<void> {
  return rejectsWith(() => LLM.load(model, { contextLength: 64 }), cls, re);
}

/**
 * Runs an ES module `source` in a child node under `ulimit -v` (KiB) and returns its stdout:
 * for what must fail with a typed error however much memory this machine has.
 */
export function runCapped(source: string, limitKiB: number, timeoutMs = 60_000): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync("sh", ["-c", `ulimit -v ${limitKiB}; exec "${process.execPath}" --input-type=module -`], {
    input: source, encoding: "utf8", timeout: timeoutMs,
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}
