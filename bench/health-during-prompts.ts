/**
 * node dist/bench/health-during-prompts.js [serve flags]
 *
 * /health latency while `lowbit serve` (a child process, 127.0.0.1) handles large prompts:
 * 1 MiB of `x` and of `é` (refused by size), 65,536 characters of `x` (tokenized on the prompt
 * worker, then refused: too many tokens), a 2,000-token prompt (prefill). The large requests
 * go from a worker thread of this process, the probes (every 10 ms) from its main thread, so a
 * probe never waits on this side's upload. docs/SERVER.md, "Long prompts", records the output.
 */
import { loadavg } from "node:os";
import { Worker } from "node:worker_threads";
import { percentiles } from "./server-load.js";
import { serveChild } from "./serve-child.js";

const PHASES: Array<[name: string, unit: string, reps: number, requests: number]> = [
  ["1 MiB of x (refused by size)", "x", (1 << 20) - 100, 5],
  ["1 MiB of é (512 Ki characters, refused by size)", "é", (1 << 19) - 100, 5],
  ["65,536 characters of x (tokenized on the prompt worker, then refused)", "x", 65_536, 3],
  ["a 2,000-token prompt (prefill, 1 new token)", "x = 1\n", 500, 3],
];

/** The sending thread: builds its bodies (each different, so the KV cache reuses nothing), says "start", sends them in turn. */
const SENDER = `
const { parentPort, workerData: { url, unit, reps, n } } = require("node:worker_threads");
(async () => {
  const text = unit.repeat(reps);
  const bodies = Array.from({ length: n }, (_, i) => Buffer.from(JSON.stringify({ prompt: (i + " " + text).slice(0, text.length), max_tokens: 1, temperature: 0 })));
  parentPort.postMessage("start");
  const out = [];
  for (const body of bodies) {
    const t0 = performance.now();
    const r = await fetch(url + "/v1/completions", { method: "POST", body });
    await r.text();
    out.push([r.status, performance.now() - t0]);
  }
  parentPort.postMessage(out);
})();`;

const srv = await serveChild(process.argv.slice(2).length ? process.argv.slice(2) : ["--threads", "1"]);
try {
  for (const [name, unit, reps, n] of PHASES) {
    const w = new Worker(SENDER, { eval: true, workerData: { url: srv.url, unit, reps, n } });
    await new Promise((r) => w.once("message", r));
    let done = false;
    const sent = new Promise<Array<[number, number]>>((r) => w.once("message", (m: Array<[number, number]>) => ((done = true), r(m))));
    const health: number[] = [];
    while (!done) {
      const t0 = performance.now();
      await (await fetch(`${srv.url}/health`)).text();
      health.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 10));
    }
    const p = percentiles(health);
    const reqs = (await sent).map(([s, ms]) => `${s} in ${ms.toFixed(0)} ms`).join(", ");
    console.log(`${name}: ${reqs}; /health n ${p.n}, p50 ${p.p50.toFixed(1)} / p99 ${p.p99.toFixed(1)} / max ${p.max.toFixed(1)} ms; server RSS ${((srv.rss() ?? NaN) / 2 ** 20).toFixed(0)} MB; load average ${loadavg()[0]!.toFixed(1)}`);
  }
} finally {
  await srv.stop();
}
