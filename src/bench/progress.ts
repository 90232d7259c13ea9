/**
 * The progress bar a benchmark shows on stderr (cli-progress): generations
 * done of the total, elapsed time, and what runs now. Without a terminal it
 * prints nothing (or, with `lines`, one line per new label every few seconds).
 */
import cliProgress from "cli-progress";

export interface BenchProgress {
  update: (label: string, done: number, total: number) => void;
  stop: () => void;
}

export function benchProgress(opts: { tty: boolean; stream?: NodeJS.WriteStream; lines?: boolean }): BenchProgress {
  const stream = opts.stream ?? process.stderr;
  if (!opts.tty) {
    let last = 0;
    return {
      update: (label, done, total) => {
        if (!opts.lines || performance.now() - last < 5000) return;
        last = performance.now();
        stream.write(`${done}/${total} ${label}\n`);
      },
      stop: () => {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { stream, format: "bench |{bar}| {value}/{total} runs | {duration_formatted} | {label}", hideCursor: true, clearOnComplete: true, barsize: 24, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (label, done, total) => {
      if (!started) {
        bar.start(total, done, { label });
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, { label });
      }
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
