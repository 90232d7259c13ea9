/** Shared by the kernel tests: seeded random inputs, runKernel (the test addon), variant availability. */
import { addon } from "../../src/native.js";
import { testAddon } from "./test-addon.js";

export const A = addon();
/** the test-only addon with runKernel (helpers/test-addon.ts) */
export const T = testAddon();
export const cpu = A.cpuInfo();
export const features = new Set(cpu.features.split(/\s+/).filter(Boolean));

export const SEED = process.env.LOWBIT_TEST_SEED !== undefined ? Number(process.env.LOWBIT_TEST_SEED) >>> 0 : Date.now() >>> 0;
export const U = 2 ** -24;

/** mulberry32, seeded per test from SEED and the test name (order-independent). */
export function rngFor(name: string): () => number {
  let h = SEED ^ 0x9e3779b9;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  let s = h >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randF32(rng: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng();
  return x;
}
export function run(variant: string, name: string, args: Record<string, unknown>): unknown {
  return T.runKernel(variant, name, args);
}

/** Whether runKernel accepts the variant on this CPU (it throws "not available" otherwise). */
export function variantAvailable(v: string): boolean {
  try {
    run(v, "max", { n: 0, x: new Float32Array(0) });
    return true;
  } catch (e) {
    if (/not available on this CPU/.test((e as Error).message)) return false;
    throw e;
  }
}

// registry.cc: avx2 needs AVX2+FMA+F16C; avx512 needs F/BW/VL/DQ + BF16 + VNNI + FMA
// (avx512dq is not listed in cpuInfo().features, so it cannot be checked here); amx needs
// avx512's plus AMX-INT8 and AMX-BF16 with the OS's permission (cpu.cc).
const AVX512_FEATURES = ["avx512f", "avx512bw", "avx512vl", "avx512vnni", "avx512bf16", "fma"];
export const REQUIRED: Record<string, string[]> = {
  avx2: ["avx2", "fma", "f16c"],
  avx512: AVX512_FEATURES,
  amx: [...AVX512_FEATURES, "amx-int8", "amx-bf16"],
};
export const SIMD = ["avx2", "avx512", "amx"] as const;
export const AVAILABLE = new Map<string, boolean>(SIMD.map((v) => [v, variantAvailable(v)]));

export function skipReason(v: string): string | null {
  if (AVAILABLE.get(v)) return null;
  const missing = REQUIRED[v].filter((f) => !features.has(f));
  const label = v === "amx" ? "CPU lacks AMX (INT8+BF16) or AVX-512" : v === "avx512" ? "CPU lacks AVX-512 (BF16+VNNI)" : "CPU lacks AVX2+FMA+F16C";
  return `${label}: cpuInfo().features="${cpu.features}"` + (missing.length ? `, missing ${missing.join(", ")}` : ", (avx512dq or OS support missing)") + ` -> runKernel("${v}", ...) is not available`;
}

