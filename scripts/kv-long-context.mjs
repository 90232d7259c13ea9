#!/usr/bin/env node
// Decode speed by KV-cache type at long context (issue 23): for each context length, each KV type
// (models loaded side by side, alternated round by round) is fed a prompt of that many random ids,
// then decodes `gen` greedy tokens (after a warm-up at the longest context; the order rotates each round); prints the median time per token and the KV bytes a decode
// step reads at that context beside the weights'.
//
//   node scripts/kv-long-context.mjs FILE.gguf|DIR|synthetic:<shape> [contexts=512,2048,4096] [types=f32,f16,q8_0] [gen=32] [rounds=3] [threads=2]
import { LLM } from "../dist/src/index.js";

const [model, ctxArg = "512,2048,4096", typesArg = "f32,f16,q8_0", genArg = "32", roundsArg = "3", threadsArg = "2"] = process.argv.slice(2);
if (!model) {
  console.error("usage: node scripts/kv-long-context.mjs MODEL [contexts=512,2048,4096] [types=f32,f16,q8_0] [gen=32] [rounds=3] [threads=2]");
  process.exit(2);
}
const contexts = ctxArg.split(",").map(Number), types = typesArg.split(","), gen = Number(genArg), rounds = Number(roundsArg), threads = Number(threadsArg);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const ctxLen = Math.max(...contexts) + gen + 16;
const models = [];
for (const kvType of types) models.push(await LLM.load(model, { threads, kvType, contextLength: ctxLen }));
const vocab = models[0].vocabSize;
let seed = 7;
const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
// a warm-up at the longest context: every model's cache pages touched before any timing
{
  const warm = [1, ...Array.from({ length: Math.max(...contexts) - 1 }, (_, i) => 3 + (i % (vocab - 3)))];
  for (const m of models) await m.generate(warm, { maxNewTokens: gen, temperature: 0, stopAtEos: false });
}
const rows = [];
for (const n of contexts) {
  const prompt = [1, ...Array.from({ length: n - 1 }, () => 3 + Math.floor(rand() * (vocab - 3)))];
  const tpot = types.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < models.length; j++) {
      const i = (j + r) % models.length; // the order rotates round by round
      models[i].resetCache();
      const res = await models[i].generate(prompt, { maxNewTokens: gen, temperature: 0, stopAtEos: false });
      tpot[i].push(res.timings.tpotMs);
    }
  }
  types.forEach((t, i) => {
    const info = models[i].info();
    // cache bytes of one cell (every layer, K and V) x the cells a step reads
    const kvRead = (info.cacheBytes / info.nCtx) * (n + gen / 2);
    const row = { context: n, kvType: t, tpotMs: median(tpot[i]), tpotAll: tpot[i], kvMBPerToken: kvRead / 1e6, weightMBPerToken: models[i].decodeWeightBytes / 1e6 };
    rows.push(row);
    console.log(JSON.stringify(row));
  });
}
console.log(`\n| context | ${types.map((t) => `${t} TPOT ms`).join(" | ")} | ${types.slice(1).map((t) => `${t} vs ${types[0]}`).join(" | ")} | ${types.map((t) => `${t} KV MB read/token`).join(" | ")} |`);
console.log(`|${"---|".repeat(1 + types.length * 2 + types.length - 1)}`);
for (const n of contexts) {
  const r = types.map((t) => rows.find((x) => x.context === n && x.kvType === t));
  console.log(`| ${n} | ${r.map((x) => x.tpotMs.toFixed(2)).join(" | ")} | ${r.slice(1).map((x) => `${(r[0].tpotMs / x.tpotMs).toFixed(2)}x`).join(" | ")} | ${r.map((x) => x.kvMBPerToken.toFixed(1)).join(" | ")} |`);
}
console.log(`\nweights read per token: ${rows[0].weightMBPerToken.toFixed(1)} MB`);
for (const m of models) await m.dispose();
