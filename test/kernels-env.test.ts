/** LOWBIT_KERNELS: the kernel variant of every load that names none (how the suite runs on AVX2 on an AVX-512 machine). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidOptionError, LLM } from "../src/index.js";
import { defaultKernels } from "../src/load-options.js";

async function withEnv<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const old = process.env.LOWBIT_KERNELS;
  if (value === undefined) delete process.env.LOWBIT_KERNELS;
  else process.env.LOWBIT_KERNELS = value;
  try {
    return await fn();
  } finally {
    if (old === undefined) delete process.env.LOWBIT_KERNELS;
    else process.env.LOWBIT_KERNELS = old;
  }
}

test("LOWBIT_KERNELS picks the variant of a load without kernels; an explicit kernels option wins", async () => {
  for (const v of ["ref", "avx2"] as const) {
    await withEnv(v, async () => {
      assert.equal(defaultKernels(), v);
      const m = await LLM.load(undefined, { threads: 1 });
      try {
        assert.equal(m.info().kernels, v);
      } finally {
        await m.dispose();
      }
      const explicit = await LLM.load(undefined, { threads: 1, kernels: "ref" });
      try {
        assert.equal(explicit.info().kernels, "ref");
      } finally {
        await explicit.dispose();
      }
    });
  }
  await withEnv(undefined, async () => assert.equal(defaultKernels(), "auto"));
  await withEnv("", async () => assert.equal(defaultKernels(), "auto"));
});

test("a LOWBIT_KERNELS that names no variant is an InvalidOptionError naming it", async () => {
  await withEnv("neon", async () => {
    await assert.rejects(LLM.load(undefined, { threads: 1 }), (e: unknown) => e instanceof InvalidOptionError && /LOWBIT_KERNELS must be auto, ref, avx2, avx512 or amx, got "neon"/.test(e.message));
  });
});
