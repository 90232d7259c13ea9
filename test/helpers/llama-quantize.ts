/**
 * llama.cpp's own quantizer, llama-quantize, from a native llama.cpp build
 * (~/.cache/lowbit/llama.cpp/build-native/bin; $LLAMA_QUANTIZE overrides), for
 * the tests that check lowbit on the files it writes. Where it is missing
 * (CI), those tests skip with NO_QUANTIZE's reason.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { GgufFile } from "../../src/formats/gguf.js";

export const QUANTIZE = process.env.LLAMA_QUANTIZE ?? join(homedir(), ".cache", "lowbit", "llama.cpp", "build-native", "bin", "llama-quantize");
/** why a test that needs llama-quantize skips (false: it is there) */
export const NO_QUANTIZE: string | false = existsSync(QUANTIZE) ? false : `llama-quantize not found at ${QUANTIZE} (build llama.cpp natively or set LLAMA_QUANTIZE)`;

/** `llama-quantize [...extra] f16 out type 2` (2 threads), which must succeed. */
export function llamaQuantize(f16: string, out: string, type: string, extra: readonly string[] = []): void {
  const q = spawnSync(QUANTIZE, [...extra, f16, out, type, "2"], { encoding: "utf8" });
  assert.equal(q.status, 0, `llama-quantize ${type}: ${q.stderr.slice(-2000)}`);
}

/** The tensor types of a GGUF file's matrices (its 2-D tensors). */
export function matrixTypes(g: GgufFile): Set<string> {
  return new Set([...g.tensors.values()].filter((x) => x.dims.length === 2).map((x) => x.typeName));
}
