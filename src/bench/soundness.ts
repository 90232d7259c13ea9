/**
 * Soundness of a benchmark run: the same configuration measured again later
 * (the first configuration once more at the end of a run) should land inside
 * the spread it showed the first time. When its median falls outside the
 * earlier min-max, the machine drifted (other load, thermal, frequency) or the
 * spread understates the noise, and every comparison in the run deserves
 * suspicion; the report says so.
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

/** Markdown: one line per check, and a verdict. */
export function repeatChecksMarkdown(checks: RepeatCheck[]): string {
  if (checks.length === 0) return "";
  const judged = checks.filter((c) => c.meaningful);
  const bad = judged.filter((c) => !c.within);
  const lines = [
    "Soundness: the first setting measured again at the end of the run, in the same setup (median of the repeat vs min-max of the first measurement):",
    "",
    "| configuration | metric | first: median (min-max) | again: median (min-max) | drift of median | within first min-max |",
    "|---|---|---|---|---|---|",
    ...checks.map(
      (c) =>
        `| ${c.label} | ${c.metric === "ttftMs" ? "TTFT ms" : "TPOT ms"} | ${fmtSummary(c.first, 2)} | ${fmtSummary(c.again, 2)} | ${c.drift >= 0 ? "+" : ""}${fmt(c.drift * 100, 1)}% | ${!c.meaningful ? `n/a (${c.first.n} rep${c.first.n === 1 ? "" : "s"})` : c.within ? "yes" : "**NO**"} |`,
    ),
    "",
    judged.length === 0
      ? `No verdict: fewer than ${MIN_REPS_FOR_CHECK} repetitions give no meaningful min-max.`
      : bad.length === 0
      ? "All repeats fall within the first measurement's min-max."
      : `WARNING: ${bad.length} of ${judged.length} repeats fall outside the first measurement's min-max: the machine's speed changed during the run; treat small differences in this report as noise.`,
  ];
  return lines.join("\n");
}
