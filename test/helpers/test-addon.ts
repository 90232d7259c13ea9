/**
 * The test-only addon (binding.gyp target lowbit_test: build/Release/lowbit_test.node, native/src/addon_kernels.h):
 * runKernel runs one kernel of one variant on JS arrays, so the kernel tests compare every SIMD kernel with the
 * scalar reference. The library never loads it and the prebuilt package does not ship it. Found next to the
 * production addon: $LOWBIT_TEST_ADDON, else lowbit_test.node beside $LOWBIT_ADDON (the ASan build), else the
 * checkout's build.
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { REPO } from "./paths.js";

export interface TestAddon {
  runKernel(variant: string, name: string, args: Record<string, unknown>): unknown;
}

export function testAddonPath(): string {
  if (process.env.LOWBIT_TEST_ADDON) return process.env.LOWBIT_TEST_ADDON;
  const prod = process.env.LOWBIT_ADDON;
  return join(prod ? dirname(prod) : join(REPO, "build", "Release"), "lowbit_test.node");
}

let cached: TestAddon | undefined;
export function testAddon(): TestAddon {
  if (cached) return cached;
  const path = testAddonPath();
  if (!existsSync(path)) throw new Error(`test addon ${path} not built (npm run build builds it beside the addon)`);
  cached = createRequire(import.meta.url)(path) as TestAddon;
  return cached;
}
