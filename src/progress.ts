/** LoadOptions.progress: a bar on stderr while a long load step (SmoothQuant calibration) runs. */
import cliProgress from "cli-progress";

/** Runs fn with a progress callback that draws a bar (format: cli-progress tokens) when `show`, or does nothing. */
export async function withProgressBar<T>(show: boolean, format: string, fn: (onProgress?: (done: number, total: number) => void) => Promise<T>): Promise<T> {
  if (!show) return fn(undefined);
  const bar = new cliProgress.SingleBar({ stream: process.stderr, format, clearOnComplete: true }, cliProgress.Presets.shades_classic);
  let started = false;
  try {
    return await fn((done, total) => {
      if (!started) bar.start(total, done);
      else bar.update(done);
      started = true;
    });
  } finally {
    if (started) bar.stop();
  }
}
