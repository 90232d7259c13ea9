/**
 * The compute-peak probe printed beside every benchmark (native/src/peak.cc): register-only
 * multiply-adds of each kind lowbit's kernels use, on 1 thread and on each benchmarked thread
 * count, in GOP/s (a multiply-add counts 2). Prefill GOP/s of a format divided by its kind's peak
 * says how far the GEMM is from what the cores can do.
 */
import { addon, type PeakKind } from "../native.js";

export interface ComputePeak {
  kind: PeakKind;
  /** the instruction measured ("none": the CPU has none of this kind) */
  isa: string;
  /** thread count -> GOP/s */
  gops: Record<number, number>;
}

export const PEAK_KINDS: readonly PeakKind[] = ["fp32", "bf16", "int8"];

export function measureComputePeaks(threads: readonly number[]): ComputePeak[] {
  const counts = [...new Set([1, ...threads])].sort((a, b) => a - b);
  return PEAK_KINDS.map((kind) => {
    const gops: Record<number, number> = {};
    let isa = "none";
    for (const t of counts) {
      const r = addon().measureComputePeak(kind, t, 200, 3);
      gops[t] = r.gops;
      isa = r.isa;
    }
    return { kind, isa, gops };
  });
}

/** "Compute peak (...): fp32 avx512 vfmadd 1 thread 152 GOP/s, 2 threads 300; ..." */
export function computePeakLine(peaks: readonly ComputePeak[]): string {
  const one = (p: ComputePeak) =>
    p.isa === "none" ? `${p.kind}: none` : `${p.isa}: ${Object.entries(p.gops).map(([t, g]) => `${t} thread${t === "1" ? "" : "s"} ${g.toFixed(0)}`).join(", ")}`;
  return `Compute peak (same run, register-only multiply-adds, GOP/s, best of 3): ${peaks.map(one).join("; ")}`;
}
