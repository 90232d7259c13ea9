/**
 * Soundness of a benchmark run: a second, independent run of the same
 * configuration (models loaded again) should land inside the spread the first
 * run showed. The bench measures the two runs alternately, repetition by
 * repetition, so that a machine which slows down or speeds up over minutes
 * moves both alike: a second run outside the first one's min-max then points
 * at the bench or the runtime (a load that lands on slower memory, state left
 * by an earlier run, too little warm-up) or at a spread that understates the
 * noise, and every comparison in the run deserves suspicion; the report says so.
 */
import { fmt, fmtSummary, summarize, type Summary } from "./stats.js";

export interface RepeatCheck {
  /** which configuration and engine, e.g. "tinycode-7m bf16 t=2 prompt 32" */
  label: string;
  metric: "ttftMs" | "tpotMs";
  first: Summary;
  again: Summary;
  /** again.median within [first.min, first.max] */
  within: boolean;
  /** the first measurement has at least MIN_REPS_FOR_CHECK repetitions (a min-max of one or two samples says nothing) */
  meaningful: boolean;
  /** again.median / first.median - 1 */
  drift: number;
}

export const MIN_REPS_FOR_CHECK = 3;

/** Compares a repeat measurement with the first one. */
export function checkRepeat(label: string, metric: RepeatCheck["metric"], first: Summary, again: Summary): RepeatCheck {
  const within = Number.isFinite(again.median) && again.median >= first.min && again.median <= first.max;
  return { label, metric, first, again, within, meaningful: first.n >= MIN_REPS_FOR_CHECK, drift: again.median / first.median - 1 };
}

/** The check on raw samples (tests, and callers that keep samples). */
export function checkRepeatSamples(label: string, metric: RepeatCheck["metric"], first: number[], again: number[]): RepeatCheck {
  return checkRepeat(label, metric, summarize(first), summarize(again));
}

function choose(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return c;
}

/**
 * The chance that a check fails although both runs draw from the same distribution: the median
 * of `again` (an odd number of samples) below the first run's min or above its max. Any continuous
 * distribution gives the same answer, since only the order of the first + again samples matters,
 * and every interleaving of the two sets is equally likely: the median is below the first run's
 * min when the (again + 1) / 2 smallest of all samples come from the second run. NaN for an even
 * `again` (its median averages two samples, so the order alone does not decide).
 */
export function chanceOutside(first: number, again: number): number {
  if (again % 2 === 0 || first < 1) return NaN;
  const k = (again + 1) / 2;
  return (2 * choose(first + again - k, again - k)) / choose(first + again, again);
}

/** "1 in 6" for 1/6; "1 in 34" for 0.029. */
const oneIn = (p: number) => `1 in ${Math.round(1 / p)}`;

/** Markdown: one line per check, and a verdict. */
export function repeatChecksMarkdown(checks: RepeatCheck[]): string {
  if (checks.length === 0) return "";
  const judged = checks.filter((c) => c.meaningful);
  const bad = judged.filter((c) => !c.within);
  const lines = [
    "Soundness: the first setting measured by a second, independent run (its models loaded again), alternating with the first run repetition by repetition in the same setup (median of the second run vs min-max of the first):",
    "",
    "| configuration | metric | first run: median (min-max) | second run: median (min-max) | difference of medians | within first min-max |",
    "|---|---|---|---|---|---|",
    ...checks.map(
      (c) =>
        `| ${c.label} | ${c.metric === "ttftMs" ? "TTFT ms" : "TPOT ms"} | ${fmtSummary(c.first, 2)} | ${fmtSummary(c.again, 2)} | ${c.drift >= 0 ? "+" : ""}${fmt(c.drift * 100, 1)}% | ${!c.meaningful ? `n/a (${c.first.n} rep${c.first.n === 1 ? "" : "s"})` : c.within ? "yes" : "**NO**"} |`,
    ),
    "",
    judged.length === 0
      ? `No verdict: fewer than ${MIN_REPS_FOR_CHECK} repetitions give no meaningful min-max.`
      : bad.length === 0
      ? "Every second run falls within the first run's min-max."
      : `WARNING: ${bad.length} of ${judged.length} second runs fall outside the first run's min-max: the same configuration measured at the same time gave different speeds; treat small differences in this report as noise.`,
  ];
  const n = judged.length ? judged[0]!.first.n : 0;
  const p = judged.every((c) => c.first.n === n && c.again.n === n) ? chanceOutside(n, n) : NaN;
  if (Number.isFinite(p)) {
    lines.push(
      "",
      `By chance alone, with ${n} repetitions in each run, the second median falls outside the first min-max ${oneIn(p)} checks (${fmt(100 * p, 1)}%) even when both runs draw from one distribution: about ${fmt(p * judged.length, 1)} of these ${judged.length}, and all ${judged.length} within ${fmt(100 * (1 - p) ** judged.length, 0)}% of the time (if the checks were independent).`,
    );
  }
  return lines.join("\n");
}
