#!/usr/bin/env node
// Prefill and decode speed of one process, or of N tensor-parallel ranks under
// mpirun: docs/PARALLEL.md's scaling figures. Rank 0 prints one JSON line.
//   node scripts/tp-bench.mjs MODEL FORMAT THREADS [tp] [PROMPT_TOKENS] [NEW_TOKENS] [REPS]
//   mpirun -np 2 node scripts/tp-bench.mjs synthetic:tinyllama-1.1b bf16 1 tp
// FORMAT is a dtype (bf16, f32) or a quant format (w8a8, w4a16-g128, ...).
// Each repetition generates NEW_TOKENS greedy tokens after a PROMPT_TOKENS-token
// prompt; pp = prompt tokens / TTFT, tg = 1 / TPOT, medians over REPS after a warm-up.
import { LLM } from "../dist/src/index.js";

const [model = "synthetic:tinyllama-1.1b", format = "bf16", threadsArg = "1", mode = "", ppArg = "128", tgArg = "32", repsArg = "3"] = process.argv.slice(2);
if (process.argv.length < 3) {
  console.log("usage: [mpirun -np N] node scripts/tp-bench.mjs MODEL FORMAT THREADS [tp|single] [PROMPT_TOKENS] [NEW_TOKENS] [REPS]");
  process.exit(0);
}
const [threads, promptTokens, newTokens, reps] = [threadsArg, ppArg, tgArg, repsArg].map(Number);
const dtypes = new Set(["f32", "bf16"]);
const opts = {
  threads,
  contextLength: promptTokens + newTokens + 8,
  ...(dtypes.has(format) ? { dtype: format } : { dtype: "bf16", quant: format }),
  ...(mode === "tp" ? { tp: true } : {}),
};
const t0 = performance.now();
const m = await LLM.load(model, opts);
const loadMs = performance.now() - t0;
const rank = m.tp?.rank ?? 0;
if (m.tp && rank > 0) {
  await m.follow(); // returns when rank 0 disposes its model
  await m.dispose();
} else {
  await run();
}
async function run() {
  // prompt ids: a fixed pattern inside the tokenizer's vocabulary, no special ids; each
  // repetition's first id differs, so no repetition reuses another's cached prefix
  const prompt = (r) => Array.from({ length: promptTokens }, (_, i) => 100 + ((i * 7919 + r * 13) % 8000));
  const gen = { maxNewTokens: newTokens, temperature: 0, stopAtEos: false };
  await m.generate(prompt(reps).slice(0, 16), { ...gen, maxNewTokens: 4 }); // warm-up
  const ttft = [], tpot = [];
  let ids;
  for (let r = 0; r < reps; r++) {
    const res = await m.generate(prompt(r), gen);
    if (res.timings.prefillTokens !== promptTokens) throw new Error(`repetition ${r} reused a cached prefix`);
    ttft.push(res.timings.ttftMs);
    tpot.push(res.timings.tpotMs);
    ids ??= res.ids;
  }
  const weightBytes = m.info().weightBytes;
  await m.dispose();
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const pp = (promptTokens / median(ttft)) * 1000, tg = 1000 / median(tpot);
  console.log(JSON.stringify({
    model, format, ranks: m.tp?.size ?? 1, threadsPerRank: threads, promptTokens, newTokens, reps,
    loadS: +(loadMs / 1000).toFixed(2), ppTokS: +pp.toFixed(1), tgTokS: +tg.toFixed(2),
    weightMiBPerRank: +(weightBytes / 2 ** 20).toFixed(1), ttftMs: ttft.map((x) => +x.toFixed(1)), tpotMs: tpot.map((x) => +x.toFixed(2)),
    firstIds: ids.slice(0, 8),
  }));
}
