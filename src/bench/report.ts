/** Markdown rendering of the core benchmark. */
import { computePeakLine } from "./peak.js";
import { fmt, fmtSummary } from "./stats.js";
import type { BenchFormat, CoreBenchReport, CoreBenchRow } from "./core.js";
import { repeatChecksMarkdown } from "./soundness.js";

/** "32", or "humaneval (164), mean 143 tokens" */
export function promptCell(x: Pick<CoreBenchRow, "prompt" | "promptTokens">): string {
  const label = x.prompt ?? String(x.promptTokens);
  return label === String(x.promptTokens) ? label : `${label}, mean ${fmt(x.promptTokens, 0)} tok`;
}

/** "K=5", or "K<=16 at confidence 0.4, 3.1 per round" */
export function draftK(d: NonNullable<CoreBenchRow["draft"]>): string {
  return d.confidence ? `K<=${d.tokens} at confidence ${d.confidence}${d.proposedPerRound !== undefined ? `, ${fmt(d.proposedPerRound, 1)} per round` : ""}` : `K=${d.tokens}`;
}

/** "w8a8-sq", or "w8a8-sq + draft tinycode-7m (K=5, 71% accepted)" */
export function formatCell(x: Pick<CoreBenchRow, "format" | "draft">): string {
  return x.draft ? `${x.format} + ${x.draft.lookup ? "" : "draft "}${x.draft.model} (${draftK(x.draft)}, ${fmt(100 * x.draft.acceptance, 0)}% accepted)` : x.format;
}

export function machineLine(r: Pick<CoreBenchReport, "cpu" | "node" | "date">): string {
  return `Machine: ${r.cpu.physicalCores} physical cores, kernels \`${r.cpu.kernels}\` (${r.cpu.features}); Node ${r.node}; ${r.date}`;
}

export function coreBenchMarkdown(r: CoreBenchReport): string {
  const lines: string[] = [];
  lines.push(machineLine(r));
  lines.push("");
  lines.push(
    "Read bandwidth (same run, 1 GiB buffer, best of 5): " +
      Object.entries(r.bandwidthGBs).map(([t, g]) => `${t} thread${t === "1" ? "" : "s"} ${fmt(g)} GB/s`).join(", "),
  );
  if (r.computePeak) lines.push("", computePeakLine(r.computePeak));
  lines.push("");
  lines.push("| model | format | threads | prompt | TTFT ms median (min-max) | prompt tok/s | TPOT ms median (min-max) | gen tok/s | MB read/token | GB/s | % of bandwidth limit | outside native ms/token (% of TPOT) |");
  lines.push("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const x of r.rows) {
    const mb = (x.weightBytesPerToken + x.kvBytesPerToken) / 1e6;
    lines.push(
      `| ${x.model} | ${formatCell(x)} | ${x.threads} | ${promptCell(x)} | ${fmtSummary(x.ttftMs)} | ${fmt(x.promptTokPerS, 0)} | ${fmtSummary(x.tpotMs, 2)} | ${fmt(x.genTokPerS, 0)} | ${fmt(mb)} | ${fmt(x.achievedGBs)} | ${fmt(x.bandwidthEfficiency * 100, 0)}% | ${fmt(x.overheadMs, 3)} (${fmt((x.overheadMs / x.tpotMs.median) * 100, 1)}%) |`,
    );
  }
  if (r.rechecks?.length) lines.push("", repeatChecksMarkdown(r.rechecks));
  return lines.join("\n");
}

/** Speedups of each format over `baseline` (same model, threads and prompt setting). */
export function speedupMarkdown(r: CoreBenchReport, baseline: BenchFormat = "bf16"): string {
  const lines = [
    `| model | format | threads | prompt | TTFT ms | TTFT speedup vs ${baseline} | TPOT ms | TPOT speedup vs ${baseline} | MB weights/token | MB read/token | GB/s | % of bandwidth |`,
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const x of r.rows) {
    const base = r.rows.find((b) => b.model === x.model && b.format === baseline && !b.draft && b.threads === x.threads && (b.prompt ?? b.promptTokens) === (x.prompt ?? x.promptTokens));
    if (!base || (x.format === "f32" && baseline !== "f32")) continue;
    const mb = (x.weightBytesPerToken + x.kvBytesPerToken) / 1e6;
    lines.push(
      `| ${x.model} | ${formatCell(x)} | ${x.threads} | ${promptCell(x)} | ${fmt(x.ttftMs.median)} | ${fmt(base.ttftMs.median / x.ttftMs.median, 2)}x | ${fmt(x.tpotMs.median, 2)} | ${fmt(base.tpotMs.median / x.tpotMs.median, 2)}x | ${fmt(x.weightBytesPerToken / 1e6)} | ${fmt(mb)} | ${fmt(x.achievedGBs)} | ${fmt(x.bandwidthEfficiency * 100, 0)}% |`,
    );
  }
  if (r.notes?.length) lines.push("", ...r.notes.map((n) => `Note: ${n}`));
  return lines.join("\n");
}
