#!/usr/bin/env node
// Prefill (and decode) speed of one model under several kernel variants, alternated in one run:
// the model is loaded once per variant (same file, same quant, same threads); each round times
// every variant's pp (PP prompt tokens from an empty cache) and tg (TG greedy tokens after a
// 1-token prompt), in turn. Prints every round, then the medians and the ratios to the first.
//   node scripts/kernels-ab.mjs MODEL --kernels avx512,amx [--quant w8a8] [--threads N]
//        [--reps 5] [--pp 512] [--tg 0]
// MODEL: a GGUF file or a Hugging Face directory (anything LLM.load takes).
import { LLM } from "../dist/src/index.js";
import { cliFlags } from "./cli-flags.mjs";

const { args, flag } = cliFlags();
const model = args[0];
if (!model || model.startsWith("--")) {
  console.error("usage: node scripts/kernels-ab.mjs MODEL --kernels A,B [--quant Q] [--threads N] [--reps 5] [--pp 512] [--tg 0]");
  process.exit(2);
}
const kernels = flag("kernels", "avx512,amx").split(",");
const quant = flag("quant", undefined);
const threads = flag("threads", undefined) === undefined ? undefined : Number(flag("threads"));
const reps = Number(flag("reps", "5")), pp = Number(flag("pp", "512")), tg = Number(flag("tg", "0"));
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

const models = [];
for (const k of kernels) models.push(await LLM.load(model, { kernels: k, quant, threads, contextLength: pp + tg + 8 }));
const ids = Array.from({ length: pp }, (_, i) => 100 + ((i * 7919) % 10000));
async function round(m) {
  m.resetCache();
  const t0 = performance.now();
  await m.logits(ids);
  const ppRate = pp / ((performance.now() - t0) / 1000);
  let tgRate = NaN;
  if (tg > 0) {
    m.resetCache();
    const r = await m.generate([ids[0]], { maxNewTokens: tg + 1, temperature: 0, stopAtEos: false });
    tgRate = 1000 / r.timings.tpotMs;
  }
  return { pp: ppRate, tg: tgRate };
}
for (const m of models) await round(m); // warm-up
const res = models.map(() => []);
for (let r = 0; r < reps; r++) {
  const line = [];
  for (let v = 0; v < models.length; v++) {
    res[v].push(await round(models[v]));
    line.push(`${kernels[v]} pp${pp} ${res[v][r].pp.toFixed(1)}${tg > 0 ? ` tg${tg} ${res[v][r].tg.toFixed(1)}` : ""}`);
  }
  console.log(`round ${r + 1}: ${line.join(" | ")} tok/s`);
}
const out = kernels.map((k, v) => ({ kernels: k, actual: models[v].info().kernels, pp: median(res[v].map((x) => x.pp)), tg: median(res[v].map((x) => x.tg)) }));
for (const o of out) o.ppRatio = o.pp / out[0].pp;
console.log(JSON.stringify({ model, quant: quant ?? null, threads: models[0].info().threads, pp, tg, reps, weightBytes: models[0].info().weightBytes, results: out }));
for (const m of models) await m.dispose();
