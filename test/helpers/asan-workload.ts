/**
 * The formats-and-generations half of test/asan.test.ts, run by it in a child
 * node on the ASan build of the addon ($LOWBIT_ADDON, libasan preloaded). Does
 * nothing unless LOWBIT_ASAN_WORKLOAD=1 (node --test also loads files under
 * test/). Each check compares with a second path to the same tokens; the last
 * stdout line is JSON: the addon file mapped into this process and the checks.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../../src/llm.js";
import type { LoadOptions } from "../../src/load-options.js";
import { exportGguf } from "../../src/formats/gguf-export.js";
import { hfSource } from "../../src/models/source.js";
import { addon } from "../../src/native.js";
import { EMBEDDED_MODEL } from "./paths.js";

const PROMPT = "def fibonacci(n):\n    if n < 2:\n        return n\n    return";
const TOKENS = 8;

async function greedy(path: string | undefined, opts: LoadOptions, save?: string, prompt = PROMPT): Promise<number[]> {
  const m = await LLM.load(path, { threads: 2, ...opts });
  try {
    const ids = (await m.generate(m.encode(prompt), { maxNewTokens: TOKENS, temperature: 0, stopAtEos: false })).ids;
    if (save) await m.save(save);
    return ids;
  } finally {
    await m.dispose();
  }
}

async function main(): Promise<void> {
  addon();
  const mapped = readFileSync("/proc/self/maps", "utf8").split("\n").find((l) => l.endsWith("lowbit.node"))?.split(/\s+/).pop();
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-asan-"));
  const checks: string[] = [];
  try {
    const f32 = await greedy(undefined, { dtype: "f32" });
    assert.equal(f32.length, TOKENS);
    assert.deepEqual(await greedy(undefined, { dtype: "f32", kernels: "ref" }), f32, "f32: ref kernels = best kernels");
    checks.push("hf-f32");
    for (const quant of ["w8a8", "w4a16-g128", "w4a8-g32-is", "q4_0", "q8_0"] as const) {
      const dir = join(tmp, quant);
      const ids = await greedy(undefined, { quant }, dir);
      assert.deepEqual(await greedy(dir, {}), ids, `${quant}: saved and loaded back`);
      checks.push(`saved-${quant}`);
    }
    for (const type of ["q4_0", "q8_0"] as const) {
      const file = join(tmp, `${type}.gguf`);
      exportGguf(hfSource(EMBEDDED_MODEL), file, type);
      const ids = await greedy(file, {});
      assert.equal(ids.length, TOKENS);
      assert.deepEqual(await greedy(file, { kernels: "ref" }), ids, `${type} GGUF: ref kernels = best kernels`);
      checks.push(`gguf-${type}`);
    }
    // continuous batching: three concurrent streams in batched steps over their own KV slots,
    // one prompt fed in chunks (batchTokens 8), each stream's tokens as alone
    const m = await LLM.load(undefined, { threads: 2, parallel: 3, batchTokens: 8 });
    try {
      const prompts = [PROMPT, "import os\n", "class Stack:\n    def push(self, x):"];
      const together = await Promise.all(prompts.map((p) => m.generate(m.encode(p), { maxNewTokens: TOKENS, temperature: 0, stopAtEos: false })));
      for (let i = 0; i < prompts.length; i++) {
        const alone = await greedy(undefined, {}, undefined, prompts[i]);
        assert.deepEqual(together[i]!.ids, alone, `batched stream ${i} = alone`);
      }
    } finally {
      await m.dispose();
    }
    checks.push("batched-slots");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ mapped, checks }));
}

if (process.env.LOWBIT_ASAN_WORKLOAD === "1") await main();
