/**
 * npm run soak:server -- [--streams 64] [--seconds 60] [--warmup 10] [--max-tokens 8] [--rss-bound-mb 64] [serve flags after --]
 *
 * Starts `lowbit serve` on 127.0.0.1 (the embedded tinycode-7m unless serve flags say
 * otherwise, e.g. `-- --model DIR --threads 2`), runs bench/server-load.ts against it and
 * prints the figures docs/SERVER.md records, then a JSON report. Exit code 1 when the server
 * answered any 5xx, sent an ill-formed stream, died, or grew its RSS from after the warm-up
 * to the end by more than --rss-bound-mb.
 */
import { parseArgs } from "node:util";
import { runLoad, summary } from "./server-load.js";
import { serveChild } from "./serve-child.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    streams: { type: "string", default: "64" },
    seconds: { type: "string", default: "60" },
    warmup: { type: "string", default: "10" },
    "max-tokens": { type: "string", default: "8" },
    "rss-bound-mb": { type: "string", default: "64" },
  },
});
const int = (name: string, v: string, min: number) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${v}`);
  return n;
};
const streams = int("streams", values.streams, 1);
const seconds = int("seconds", values.seconds, 1);
const warmupSeconds = int("warmup", values.warmup, 0);
const maxTokens = int("max-tokens", values["max-tokens"], 1);
const boundMb = int("rss-bound-mb", values["rss-bound-mb"], 0);
if (warmupSeconds >= seconds) throw new Error("--warmup must be shorter than --seconds");

const srv = await serveChild(positionals);
process.stderr.write(`server at ${srv.url}, ${streams} streams for ${seconds} s (warm-up ${warmupSeconds} s), max_tokens ${maxTokens}\n`);
const report = await runLoad({ url: srv.url, streams, seconds, warmupSeconds, maxTokens, rss: srv.rss });
const code = await srv.stop("SIGINT");
const growth = (report.rss.end - report.rss.warm) / 2 ** 20;
console.log(summary(report));
console.log(`RSS growth after warm-up: ${growth.toFixed(1)} MB (bound ${boundMb} MB); server exit code ${code}`);
console.log(JSON.stringify(report, null, 2));
const failed = report.serverErrors > 0 || report.illFormed > 0 || !(growth <= boundMb) || code !== 0;
if (report.problems.length) console.error(report.problems.join("\n"));
process.exitCode = failed ? 1 : 0;
