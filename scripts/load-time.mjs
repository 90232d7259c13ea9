#!/usr/bin/env node
// Time from process start to the first generated token of a GGUF file:
// lowbit (copying, its default, and mapped: --mmap) against llama.cpp's llama-simple, each a
// whole process (what a user waits for), alternated run by run; warm page
// cache, and cold (the page cache dropped before every run: needs root).
//   node scripts/load-time.mjs FILE.gguf [REPS] [--cold] [--llama DIR]
// Prints a JSON line per run and a summary of medians (docs/GGUF.md, "Load time").
// One run of lowbit alone: node scripts/load-time.mjs --one FILE.gguf [mmap]
// Decode speed mapped vs copied (both loaded, alternated): node scripts/load-time.mjs --decode FILE.gguf [REPS]
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

const args = process.argv.slice(2);
if (args[0] === "--one") {
  const { LLM } = await import("../dist/src/index.js");
  const t0 = performance.now();
  const m = await LLM.load(args[1], { threads: 2, mmap: args[2] === "mmap" });
  const t1 = performance.now();
  await m.generate([1, 100, 200, 300], { maxNewTokens: 1, temperature: 0, stopAtEos: false });
  const t2 = performance.now();
  console.log(JSON.stringify({ loadMs: Math.round(t1 - t0), firstTokenMs: Math.round(t2 - t1), mappedBytes: m.info().mappedBytes }));
  await m.dispose();
} else if (args[0] === "--decode") {
  const { LLM } = await import("../dist/src/index.js");
  const reps = Number(args[2] ?? 5);
  const models = { mmap: await LLM.load(args[1], { threads: 2, mmap: true }), "no-mmap": await LLM.load(args[1], { threads: 2 }) };
  const tpot = { mmap: [], "no-mmap": [] };
  for (let r = 0; r < reps; r++) {
    for (const [k, m] of Object.entries(models)) {
      const res = await m.generate([1, 100, 200, 300], { maxNewTokens: 64, temperature: 0, stopAtEos: false });
      tpot[k].push(res.timings.tpotMs);
    }
  }
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(JSON.stringify({ file: args[1], reps, decodeTokS: Object.fromEntries(Object.entries(tpot).map(([k, v]) => [k, +(1000 / med(v)).toFixed(2)])) }));
  for (const m of Object.values(models)) await m.dispose();
} else if (args.length === 0) {
  console.log("usage: node scripts/load-time.mjs FILE.gguf [REPS] [--cold] [--llama DIR]");
} else {
  const file = args[0];
  const reps = Number(args.find((a, i) => i > 0 && /^\d+$/.test(a)) ?? 5);
  const cold = args.includes("--cold");
  const li = args.indexOf("--llama");
  const llamaDir = li >= 0 ? args[li + 1] : join(homedir(), ".cache", "lowbit", "llama.cpp", "build-native", "bin");
  const simple = join(llamaDir, "llama-simple");
  const engines = {
    "lowbit": ["node", [process.argv[1], "--one", file]],
    "lowbit --mmap": ["node", [process.argv[1], "--one", file, "mmap"]],
    ...(existsSync(simple) ? { "llama.cpp": [simple, ["-m", file, "-n", "1", "def"]] } : {}),
  };
  const times = Object.fromEntries(Object.keys(engines).map((k) => [k, []]));
  for (let r = 0; r < reps; r++) {
    for (const [name, [cmd, argv]] of Object.entries(engines)) {
      if (cold) {
        spawnSync("sync");
        writeFileSync("/proc/sys/vm/drop_caches", "3\n");
      }
      const t0 = performance.now();
      const p = spawnSync(cmd, argv, { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "2" } });
      const ms = performance.now() - t0;
      if (p.status !== 0) throw new Error(`${name} failed: ${p.stderr.slice(-2000)}`);
      times[name].push(ms);
      console.log(JSON.stringify({ rep: r, engine: name, wallMs: Math.round(ms), ...(name.startsWith("lowbit") ? JSON.parse(p.stdout.trim().split("\n").pop()) : {}) }));
    }
  }
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const summary = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.round(med(v))]));
  const base = summary["llama.cpp"];
  console.log(JSON.stringify({ file, cache: cold ? "cold" : "warm", reps, medianWallMs: summary, ...(base ? { vsLlamaCpp: Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, +(v / base).toFixed(2)])) } : {}) }));
}
