#!/usr/bin/env node
// lowbit and native llama.cpp's llama-bench on the same GGUF file, measured
// alternately in one run (REPS rounds: lowbit then llama-bench, each round
// one pp and one tg measurement per engine), at the same thread count:
//   pp = PP prompt tokens evaluated from an empty cache / seconds (llama-bench -p PP)
//   tg = TG tokens generated one at a time after a 1-token prompt / seconds
//        (llama-bench -n TG; lowbit's greedy decode without sampling cost beyond argmax)
// Prints the medians and every round.
//   node scripts/bench-gguf-vs-llamabench.mjs MODEL.gguf [threads=2] [reps=5] [pp=512] [tg=128]
// LLAMA_BENCH overrides ~/.cache/lowbit/llama.cpp/build-native/bin/llama-bench.
import { spawnSync } from "node:child_process";
import { homedir } from "node:os";
import { join } from "node:path";
import { LLM } from "../dist/src/index.js";

const [model, tArg, rArg, ppArg, tgArg] = process.argv.slice(2);
if (!model) {
  console.error("usage: bench-gguf-vs-llamabench.mjs MODEL.gguf [threads] [reps] [pp] [tg]");
  process.exit(2);
}
const threads = Number(tArg ?? 2), reps = Number(rArg ?? 5), pp = Number(ppArg ?? 512), tg = Number(tgArg ?? 128);
const bench = process.env.LLAMA_BENCH ?? join(homedir(), ".cache", "lowbit", "llama.cpp", "build-native", "bin", "llama-bench");
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

const m = await LLM.load(model, { threads, contextLength: pp + tg + 8 });
const info = m.info();
const ids = Array.from({ length: pp }, (_, i) => 100 + ((i * 7919) % 10000));
async function lowbitRound() {
  m.resetCache();
  let t0 = performance.now();
  await m.logits(ids);
  const ppRate = pp / ((performance.now() - t0) / 1000);
  m.resetCache();
  const r = await m.generate([ids[0]], { maxNewTokens: tg + 1, temperature: 0, stopAtEos: false });
  // the first new token comes with the 1-token prompt; tg = 1000 / (ms per token after it)
  const tgRate = 1000 / r.timings.tpotMs;
  return { pp: ppRate, tg: tgRate };
}
function llamaRound() {
  const r = spawnSync(bench, ["-m", model, "-t", String(threads), "-p", String(pp), "-n", String(tg), "-r", "1", "-o", "json"], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0)
    throw new Error(`llama-bench failed (${bench}: status ${r.status}, signal ${r.signal}${r.error ? `, ${r.error.message}` : ""}): ${r.stderr.slice(-2000)}${r.stdout.slice(-500)}`);
  const rows = JSON.parse(r.stdout);
  return { pp: rows.find((x) => x.n_prompt > 0).avg_ts, tg: rows.find((x) => x.n_gen > 0).avg_ts };
}
await lowbitRound(); // warm-up (page cache, thread pool)
const L = [], C = [];
for (let i = 0; i < reps; i++) {
  L.push(await lowbitRound());
  C.push(llamaRound());
  console.log(`round ${i + 1}: lowbit pp${pp} ${L[i].pp.toFixed(1)} tg${tg} ${L[i].tg.toFixed(1)} | llama-bench pp${pp} ${C[i].pp.toFixed(1)} tg${tg} ${C[i].tg.toFixed(1)} tok/s`);
}
console.log(JSON.stringify({
  model, threads, reps, weightBytes: info.weightBytes, kernels: info.kernels,
  lowbit: { pp: median(L.map((x) => x.pp)), tg: median(L.map((x) => x.tg)) },
  llamaBench: { pp: median(C.map((x) => x.pp)), tg: median(C.map((x) => x.tg)) },
}));
await m.dispose();
