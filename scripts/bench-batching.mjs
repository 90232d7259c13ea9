#!/usr/bin/env node
// Continuous batching against llama-server (issue 23): N streams started at once, each a
// different 32-token prompt of random ids and `gen` greedy tokens (EOS ignored), on lowbit (one
// model loaded with parallel = the largest N, concurrent LLM.generate calls in this process) and on
// the native llama-server (-np N, started per N, requests over HTTP), engines alternated round by
// round. Aggregate tokens/s = N x gen / wall time from the first request to the last answer
// (prompts included). Prints one JSON line per (engine, N) and a markdown table.
//
//   node scripts/bench-batching.mjs FILE.gguf [streams=1,4,16,64] [gen=128] [rounds=3] [threads=2] [engines=lowbit,llama]
//
// Needs `npm run build` and, for the llama.cpp column, scripts/build-llamacpp.sh (else lowbit only).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LLM } from "../dist/src/index.js";
import { LlamaServer } from "../dist/src/bench/llama-server.js";
import { nativeLlamaCppTool } from "../dist/src/llamacpp/native-bin.js";
import { measureBandwidth } from "../dist/src/bench/core.js";

const [file, streamsArg = "1,4,16,64", genArg = "128", roundsArg = "3", threadsArg = "2", enginesArg = "lowbit,llama"] = process.argv.slice(2);
if (!file) {
  console.error("usage: node scripts/bench-batching.mjs FILE.gguf [streams=1,4,16,64] [gen=128] [rounds=3] [threads=2] [engines=lowbit,llama]");
  process.exit(2);
}
const streams = streamsArg.split(",").map(Number);
const gen = Number(genArg), rounds = Number(roundsArg), threads = Number(threadsArg);
const PROMPT = 32;
const ctx = PROMPT + gen + 16;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

// seeded prompts: stream i of every N gets the same ids on both engines
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const maxN = Math.max(...streams);

const llm = await LLM.load(file, { threads, parallel: maxN, contextLength: ctx });
const vocab = llm.vocabSize;
const prompts = Array.from({ length: maxN }, () => [1, ...Array.from({ length: PROMPT - 1 }, () => 3 + Math.floor(rand() * (vocab - 3)))]);
const bin = nativeLlamaCppTool("llama-server");
const haveLlama = enginesArg.split(",").includes("llama") && bin && existsSync(bin);
const bw = measureBandwidth(threads);
console.error(`${file}: ${llm.decodeWeightBytes} weight bytes per decode step; read bandwidth ${bw.toFixed(1)} GB/s on ${threads} threads; llama-server: ${haveLlama ? bin : "not built"}`);

const lowbitRun = async (n) => {
  const t0 = performance.now();
  const rs = await Promise.all(prompts.slice(0, n).map((p) => llm.generate(p, { maxNewTokens: gen, temperature: 0, stopAtEos: false })));
  const ms = performance.now() - t0;
  if (rs.some((r) => r.ids.length !== gen)) throw new Error("a lowbit stream ended early");
  return { ms, ids: rs.map((r) => r.ids) };
};

const rows = [];
for (const n of streams) {
  const server = haveLlama ? await LlamaServer.start({ binary: bin, path: file, threads, contextSize: ctx, parallel: n, label: `llama-server -np ${n}` }) : null;
  try {
    // one warm-up each, then rounds alternated
    await lowbitRun(n);
    if (server) await server.runConcurrent(prompts.slice(0, n), gen);
    const times = { lowbit: [], llama: [] };
    for (let r = 0; r < rounds; r++) {
      const lb = await lowbitRun(n);
      times.lowbit.push(lb.ms);
      if (server) {
        const t0 = performance.now();
        const ids = await server.runConcurrent(prompts.slice(0, n), gen);
        times.llama.push(performance.now() - t0);
        if (ids.some((x) => x.length !== gen)) throw new Error("a llama-server stream ended early");
      }
    }
    const rate = (ms) => (n * gen * 1000) / ms;
    const row = { streams: n, gen, prompt: PROMPT, threads, lowbit: rate(median(times.lowbit)), llama: server ? rate(median(times.llama)) : null, lowbitMs: times.lowbit, llamaMs: times.llama };
    rows.push(row);
    console.log(JSON.stringify(row));
  } finally {
    await server?.close();
  }
}
const one = rows.find((r) => r.streams === 1);
console.log("\n| streams | lowbit tok/s | x 1 stream | llama-server tok/s | x 1 stream | lowbit / llama-server |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  const f = (x) => (x == null ? "-" : x.toFixed(1));
  const x1 = (x, b) => (x == null || b == null ? "-" : `${(x / b).toFixed(2)}x`);
  console.log(`| ${r.streams} | ${f(r.lowbit)} | ${x1(r.lowbit, one?.lowbit)} | ${f(r.llama)} | ${x1(r.llama, one?.llama)} | ${x1(r.lowbit, r.llama)} |`);
}
await llm.dispose();
