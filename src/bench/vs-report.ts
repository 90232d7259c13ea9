/** Markdown rendering of `lowbit bench --vs-llamacpp` (vs-llamacpp.ts). */
import { machineLine, promptCell } from "./report.js";
import { computePeakLine } from "./peak.js";
import { repeatChecksMarkdown } from "./soundness.js";
import { fmt, fmtSummary } from "./stats.js";
import { LOWBIT_ENGINE, NATIVE_ENGINE, type VsReport, type VsRow } from "./vs-llamacpp.js";
import { NATIVE_UV } from "./llama-server.js";


const key = (r: VsRow) => `${r.model}|${r.ggufType}|${r.threads}|${r.prompt}`;

/** Rows grouped by configuration (model, type, threads, prompt), in report order. */
export function vsConfigs(r: VsReport): VsRow[][] {
  const groups = new Map<string, VsRow[]>();
  for (const x of r.rows) {
    const k = key(x);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(x);
  }
  return [...groups.values()];
}

/** lowbit's tok/s over another engine's (> 1: lowbit faster). */
export function speedRatio(lowbit: VsRow, other: VsRow): { pp: number; tg: number } {
  return { pp: lowbit.ppTokPerS / other.ppTokPerS, tg: lowbit.tgTokPerS / other.tgTokPerS };
}

export function vsMarkdown(r: VsReport): string {
  const lines = [machineLine(r), ""];
  lines.push("GGUF files: " + r.files.map((f) => `${f.model} ${f.ggufType} ${fmt(f.bytes / 1048576)} MiB (${f.made ? "written now" : "cached"}: \`${f.path}\`)`).join("; "));
  lines.push("");
  if (r.bandwidthGBs) {
    lines.push("Read bandwidth (same run, 1 GiB buffer, best of 5): " + Object.entries(r.bandwidthGBs).map(([t, g]) => `${t} thread${t === "1" ? "" : "s"} ${fmt(g)} GB/s`).join(", "), "");
  }
  if (r.computePeak) lines.push(computePeakLine(r.computePeak), "");
  lines.push("| model | type | threads | prompt | gen | engine | TTFT ms median (min-max) | pp tok/s | TPOT ms median (min-max) | tg tok/s | weights GB/s | % of bandwidth | same greedy tokens |");
  lines.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const x of r.rows) {
    lines.push(
      `| ${x.model} | ${x.ggufType} | ${x.threads} | ${promptCell(x)} | ${x.genTokens} | ${x.engine} | ${fmtSummary(x.ttftMs)} | ${fmt(x.ppTokPerS, 0)} | ${fmtSummary(x.tpotMs, 2)} | ${fmt(x.tgTokPerS, 0)} | ${fmt(x.weightBytesPerToken / x.tpotMs.median / 1e6)} | ${r.bandwidthGBs?.[x.threads] ? `${fmt((x.weightBytesPerToken / x.tpotMs.median / 1e6 / r.bandwidthGBs[x.threads]!) * 100, 0)}%` : "-"} | ${x.engine === LOWBIT_ENGINE ? "-" : `${fmt(x.sameGreedyTokens, 1)}/${x.genTokens}`} |`,
    );
  }
  const others = r.engines.filter((e) => e !== LOWBIT_ENGINE);
  lines.push("", "Speed ratio lowbit / llama.cpp (tokens per second; above 1: lowbit faster):", "");
  lines.push(`| model | type | threads | prompt | ${others.map((e) => `pp vs ${e} | tg vs ${e}`).join(" | ")} |`);
  lines.push(`|---|---|---|---|${others.map(() => "---|---|").join("")}`);
  for (const g of vsConfigs(r)) {
    const lb = g.find((x) => x.engine === LOWBIT_ENGINE);
    if (!lb) continue;
    const cells = others.map((e) => {
      const o = g.find((x) => x.engine === e);
      if (!o) return "- | -";
      const s = speedRatio(lb, o);
      return `${fmt(s.pp, 2)}x | ${fmt(s.tg, 2)}x`;
    });
    lines.push(`| ${lb.model} | ${lb.ggufType} | ${lb.threads} | ${promptCell(lb)} | ${cells.join(" | ")} |`);
  }
  lines.push(...prefillGopsMarkdown(r));
  if (r.rechecks?.length) lines.push("", repeatChecksMarkdown(r.rechecks));
  const notes = [...(r.notes ?? []), ...vsNotes(r)];
  lines.push("", ...notes.map((n) => `Note: ${n}`));
  return lines.join("\n");
}

/** Prefill GOP/s of a row: 2 x the file's matmul weights x prompt tokens / median TTFT (attention aside). */
export function prefillGops(x: VsRow): number | undefined {
  return x.matmulParams ? (2 * x.matmulParams * x.promptTokens) / x.ttftMs.median / 1e6 : undefined;
}

/**
 * Every engine's prefill GOP/s per configuration, each against the same run's int8 peak at its
 * thread count (the GGUF types' kernels multiply int8 codes); nothing for reports without the
 * weight count or the peak.
 */
function prefillGopsMarkdown(r: VsReport): string[] {
  const peak = r.computePeak?.find((p) => p.kind === "int8" && p.isa !== "none");
  if (!peak || !r.rows.some((x) => x.matmulParams)) return [];
  const lines = [
    "",
    `Prefill GOP/s = 2 x the file's matrix-multiplication weights x prompt tokens / median TTFT (attention aside), and its share of the same run's int8 peak (${peak.isa}: ${Object.entries(peak.gops).map(([t, g]) => `${t} thread${t === "1" ? "" : "s"} ${fmt(g, 0)}`).join(", ")} GOP/s):`,
    "",
    `| model | type | threads | prompt | ${r.engines.join(" | ")} |`,
    `|---|---|---|---|${r.engines.map(() => "---|").join("")}`,
  ];
  for (const g of vsConfigs(r)) {
    const x0 = g[0]!;
    const p = peak.gops[x0.threads];
    const cells = r.engines.map((e) => {
      const x = g.find((y) => y.engine === e);
      const v = x && prefillGops(x);
      return v === undefined ? "-" : `${fmt(v, 0)}${p ? ` (${fmt((v / p) * 100, 0)}%)` : ""}`;
    });
    lines.push(`| ${x0.model} | ${x0.ggufType} | ${x0.threads} | ${promptCell(x0)} | ${cells.join(" | ")} |`);
  }
  return lines;
}

/** What a reader needs to know to trust (or not) the comparison. */
export function vsNotes(r: VsReport): string[] {
  const native = r.engines.includes(NATIVE_ENGINE);
  const node = r.engines.some((e) => e !== LOWBIT_ENGINE && e !== NATIVE_ENGINE);
  const s = r.llamaCpp.find((x) => x.uvThreadpoolSize !== NATIVE_UV);
  return [
    "Both engines run the same GGUF file at the same thread count; within every repetition each prompt runs on every engine in turn (the order rotating per repetition). " +
      "TTFT = prompt evaluation up to the first generated token (cache cleared before, not timed); TPOT = mean time per generated token after the first; greedy; " +
      "each measured in the process that runs the model. pp tok/s = prompt tokens / median TTFT, tg tok/s = 1000 / median TPOT (llama-bench's pp and tg; llama-bench " +
      "times prompt processing without sampling and generation from an empty prompt, so its numbers are not the same measurement).",
    ...(native
      ? [
          `${NATIVE_ENGINE}: llama.cpp's own llama-server, built from the llama.cpp source node-llama-cpp ships with GGML_NATIVE=ON (scripts/build-llamacpp.sh: this CPU's best kernels), ` +
            `one process per file and thread count, one slot, its defaults (${r.lowbitKvType && r.lowbitKvType !== "f32" ? `the ${r.lowbitKvType} KV cache lowbit runs (-ctk/-ctv)` : "F16 KV cache"}, flash attention auto, batch 2048 / ubatch 512); each run is one /completion request of the prompt's ids ` +
            "(cache_prompt off, greedy, ignore_eos), timed by the server: TTFT = its prompt_ms, TPOT = predicted_ms / (predicted_n - 1); " +
            "a context past the model's trained one is given to it as <arch>.context_length overridden (llama-server caps a slot there; lowbit and node-llama-cpp take the context asked for).",
        ]
      : []),
    ...(node
      ? [
          "llama.cpp (node-llama-cpp): its prebuilt CPU binaries in a child Node process per setting (Node's default libuv pool, 4 threads; UV_THREADPOOL_SIZE=1 where listed). " +
            (s ? `Context settings: batch ${s.batchSize}, flash attention ${String(s.flashAttention)}, ${s.threads} threads; ` : "") +
            "KV cache F16 (llama.cpp's default).",
        ]
      : []),
    `lowbit's KV cache: ${r.lowbitKvType ?? "f32"}.`,
    "weights GB/s = matrix weight bytes per decode step (lowbit's count for this file) / median TPOT; same greedy tokens = mean over prompts of the leading generated tokens identical to lowbit's (first repetition; " +
      `the engines' KV caches differ (${r.lowbitKvType && r.lowbitKvType !== "f32" ? `both ${r.lowbitKvType}, with their own kernels` : "F16 against lowbit's f32"}), so long generations part where two tokens' logits are close, most of all on random weights).`,
  ];
}
