/** The commands' progress bar: on stderr when it is a terminal and the output is not JSON. */
import cliProgress from "cli-progress";
import type { CliIO } from "./options.js";

/** A bar with this format (cli-progress tokens: {bar} {value} {total} ...), or null when there is none to draw. */
export function cliBar(io: CliIO, json: boolean | undefined, format: string): cliProgress.SingleBar | null {
  if (json || !io.errIsTTY) return null;
  return new cliProgress.SingleBar({ stream: process.stderr, format, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
}
