#!/usr/bin/env node
// Peak RSS of one rank (or of one process) loading a model and decoding a few
// tokens: docs/PARALLEL.md's memory figures.
//   node scripts/tp-rss.mjs synthetic:tinyllama-1.1b            (one process)
//   mpirun -np 2 node scripts/tp-rss.mjs synthetic:tinyllama-1.1b tp   (each rank prints its own)
import { LLM } from "../dist/src/index.js";

const [model = "synthetic:tinyllama-1.1b", mode] = process.argv.slice(2);
const m = await LLM.load(model, { threads: 1, dtype: "bf16", contextLength: 256, ...(mode === "tp" ? { tp: true } : {}) });
const rank = m.tp?.rank ?? 0;
const weights = m.info().weightBytes;
if (m.tp && rank > 0) await m.follow();
else await m.generate([1, 2, 3, 4], { maxNewTokens: 4, temperature: 0, stopAtEos: false });
await m.dispose();
// resourceUsage().maxRSS is in KiB
const peak = process.resourceUsage().maxRSS * 1024;
console.log(JSON.stringify({ model, rank, ranks: m.tp?.size ?? 1, weightMiB: +(weights / 2 ** 20).toFixed(1), peakRssMiB: +(peak / 2 ** 20).toFixed(1) }));
