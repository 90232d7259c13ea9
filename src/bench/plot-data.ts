/**
 * Benchmark reports as charts (plot.ts): per model, one panel of prompt
 * tokens/s (pp) and one of generation tokens/s (tg), higher is better; bars
 * are the engines (--vs-llamacpp) or the formats (plain bench), whiskers the
 * slowest and fastest repetition.
 */
import type { CoreBenchRow, CoreBenchReport } from "./core.js";
import type { ChartGroup, ChartPanel, ChartSpec } from "./plot.js";
import type { Summary } from "./stats.js";
import type { VsReport } from "./vs-llamacpp.js";

/** tok/s from a time summary: value at the median, whiskers at the slowest and fastest repetition. */
export function rateBar(series: string, perTokens: number, ms: Summary): { series: string; value: number; lo: number; hi: number } {
  return { series, value: (perTokens / ms.median) * 1000, lo: (perTokens / ms.max) * 1000, hi: (perTokens / ms.min) * 1000 };
}

const day = (iso: string) => iso.slice(0, 10);
const machine = (r: Pick<CoreBenchReport, "cpu" | "node" | "date">) => `${r.cpu.physicalCores} cores (${r.cpu.kernels}), Node ${r.node}, ${day(r.date)}`;

interface Row {
  model: string;
  threads: number;
  prompt: string;
  promptTokens: number;
  ttftMs: Summary;
  tpotMs: Summary;
}

function panels<R extends Row>(rows: R[], seriesOf: (r: R) => string, groupOf: (r: R) => string): ChartPanel[] {
  const out: ChartPanel[] = [];
  for (const model of [...new Set(rows.map((r) => r.model))]) {
    const mine = rows.filter((r) => r.model === model);
    const groups = [...new Set(mine.map(groupOf))];
    const build = (bar: (r: R) => ChartGroup["bars"][number]): ChartGroup[] =>
      groups.map((label) => ({ label, bars: mine.filter((r) => groupOf(r) === label).map(bar) }));
    out.push({ title: `${model}: prompt processing`, yLabel: "prompt tokens/s (pp)", groups: build((r) => rateBar(seriesOf(r), r.promptTokens, r.ttftMs)) });
    out.push({ title: `${model}: generation`, yLabel: "generated tokens/s (tg)", groups: build((r) => rateBar(seriesOf(r), 1, r.tpotMs)) });
  }
  return out;
}

const promptLabel = (r: Row) => (/^\d+$/.test(r.prompt) ? `prompt ${r.prompt}` : r.prompt);

export function vsChart(r: VsReport, opts: { preliminary?: boolean } = {}): ChartSpec {
  const manyThreads = new Set(r.rows.map((x) => x.threads)).size > 1;
  const reps = r.rows[0]?.ttftMs.n ?? 0;
  const gen = r.rows[0]?.genTokens ?? 0;
  return {
    title: `lowbit vs llama.cpp, same GGUF file: ${machine(r)}${opts.preliminary ? " (preliminary)" : ""}`,
    subtitle: `tokens per second, higher is better; bars: median of ${reps} alternating repetitions, whiskers: slowest-fastest; ${gen} generated tokens`,
    series: r.engines,
    panels: panels(r.rows, (x) => x.engine, (x) => `${x.ggufType}\n${promptLabel(x)}${manyThreads ? `, t=${x.threads}` : ""}`),
    footnote: "pp = prompt tokens / TTFT; tg = 1 / TPOT (after the first token). llama.cpp = node-llama-cpp's prebuilt CPU build, F16 KV cache.",
  };
}

/** a format, or "w8a8-sq + draft" for its assisted-generation rows */
const seriesName = (x: CoreBenchRow): string => (x.draft ? `${x.format} + ${x.draft.lookup ? "lookup" : "draft"}` : x.format);

export function coreChart(r: CoreBenchReport, opts: { preliminary?: boolean } = {}): ChartSpec {
  const manyThreads = new Set(r.rows.map((x) => x.threads)).size > 1;
  const reps = r.rows[0]?.ttftMs.n ?? 0;
  return {
    title: `lowbit formats: ${machine(r)}${opts.preliminary ? " (preliminary)" : ""}`,
    subtitle: `tokens per second, higher is better; bars: median of ${reps} repetitions, whiskers: slowest-fastest`,
    series: [...new Set(r.rows.map(seriesName))],
    panels: panels(
      r.rows.map((x) => ({ ...x, prompt: x.prompt ?? String(x.promptTokens) })),
      seriesName,
      (x) => `${promptLabel(x)}${manyThreads ? `\nt=${x.threads}` : ""}`,
    ),
  };
}
