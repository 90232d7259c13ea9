/**
 * Continuous batching against llama-server (issue 23; `npm run results -- --only batching`):
 * N streams started at once, each its own prompt of random ids and `gen` greedy tokens (EOS
 * ignored), on lowbit (one model loaded with parallel = the largest N, concurrent LLM.generate
 * calls in this process: runtime/batch.ts) and on the native llama-server (-np N, started for each
 * N, the requests over HTTP), the engines alternated round by round after one warm-up each.
 * Aggregate tokens/s = N x gen / the wall time from the first request to the last answer
 * (prompts included); TPOT per stream = the median over streams of (its end - its first token) /
 * (gen - 1), lowbit only (llama-server's own timings are per request, taken the same way).
 */
import { LLM } from "../llm.js";
import { addon } from "../native.js";
import { NativeError } from "../errors.js";
import { LlamaServer } from "./llama-server.js";
import { nativeLlamaCppTool } from "../llamacpp/native-bin.js";
import { measureBandwidth } from "./core.js";
import { fmt, summarize } from "./stats.js";
import { machineLine } from "./report.js";

export interface BatchingRow {
  streams: number;
  /** aggregate generated tokens per second: median over rounds */
  lowbit: number;
  llama: number | null;
  /** wall ms of each round */
  lowbitMs: number[];
  llamaMs: number[];
  /** lowbit: median over rounds of the median over streams of each stream's ms per token after its first */
  lowbitTpotMs: number;
  /** lowbit: median over rounds of the median over streams of each stream's time to first token */
  lowbitTtftMs: number;
  /** native steps lowbit ran for the N streams in one round (the most of the rounds), and the most sequences one carried */
  lowbitSteps: number;
  lowbitMaxSequences: number;
}

export interface BatchingReport {
  model: string;
  file: string;
  threads: number;
  promptTokens: number;
  genTokens: number;
  rounds: number;
  batchTokens: number;
  bandwidthGBs: number;
  decodeWeightBytes: number;
  llamaServer: string | null;
  cpu: ReturnType<ReturnType<typeof addon>["cpuInfo"]>;
  node: string;
  date: string;
  rows: BatchingRow[];
  /** what a reader of this run must know beside the table */
  notes?: string[];
}

export interface BatchingOptions {
  /** the GGUF file both engines load, and its name in the report */
  file: string;
  model: string;
  streams: number[];
  threads: number;
  promptTokens?: number;
  genTokens?: number;
  rounds?: number;
  /** compare with the native llama-server when built (default true) */
  llama?: boolean;
  onProgress?: (line: string) => void;
}

// the bench's median (stats.ts: of an even count, the mean of the middle two)
const median = (xs: number[]) => summarize(xs).median;

/** Seeded prompts of random ids (id 1 first, as a BOS): stream i gets the same ids on both engines. */
function prompts(count: number, length: number, vocab: number): number[][] {
  let seed = 12345;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  return Array.from({ length: count }, () => [1, ...Array.from({ length: length - 1 }, () => 3 + Math.floor(rand() * (vocab - 3)))]);
}

export async function runBatching(o: BatchingOptions): Promise<BatchingReport> {
  const promptTokens = o.promptTokens ?? 32, gen = o.genTokens ?? 128, rounds = o.rounds ?? 3;
  if (!o.streams.length || o.streams.some((n) => !Number.isInteger(n) || n < 1)) throw new NativeError("streams must be integers >= 1");
  const maxN = Math.max(...o.streams);
  const ctx = promptTokens + gen + 16;
  const say = o.onProgress ?? (() => {});
  const llm = await LLM.load(o.file, { threads: o.threads, parallel: maxN, contextLength: ctx });
  try {
    const ids = prompts(maxN, promptTokens, llm.vocabSize);
    const bin = o.llama === false ? undefined : nativeLlamaCppTool("llama-server");
    const bandwidthGBs = measureBandwidth(o.threads);
    const lowbitRound = async (n: number) => {
      llm.resetCache(); // every round computes its prompts (llama-server: cache_prompt false)
      const before = llm.batchStats!;
      const t0 = performance.now();
      const rs = await Promise.all(ids.slice(0, n).map((p) => llm.generate(p, { maxNewTokens: gen, temperature: 0, stopAtEos: false })));
      const ms = performance.now() - t0;
      if (rs.some((r) => r.ids.length !== gen)) throw new NativeError("a lowbit stream ended early");
      const after = llm.batchStats!;
      return { ms, tpot: median(rs.map((r) => r.timings.tpotMs)), ttft: median(rs.map((r) => r.timings.ttftMs)), steps: after.steps - before.steps, maxSeq: after.maxSequences };
    };
    const rows: BatchingRow[] = [];
    for (const n of o.streams) {
      say(`${n} stream${n === 1 ? "" : "s"}: ${bin ? "starting llama-server" : "lowbit"}`);
      const server = bin ? await LlamaServer.start({ binary: bin, path: o.file, threads: o.threads, contextSize: ctx, parallel: n, label: `llama-server -np ${n}` }) : null;
      try {
        await lowbitRound(n);
        if (server) await server.runConcurrent(ids.slice(0, n), gen);
        const lb: Awaited<ReturnType<typeof lowbitRound>>[] = [];
        const lm: number[] = [];
        for (let r = 0; r < rounds; r++) {
          say(`${n} streams: round ${r + 1}/${rounds}`);
          lb.push(await lowbitRound(n));
          if (server) {
            const t0 = performance.now();
            const out = await server.runConcurrent(ids.slice(0, n), gen);
            lm.push(performance.now() - t0);
            if (out.some((x) => x.length !== gen)) throw new NativeError("a llama-server stream ended early");
          }
        }
        const rate = (ms: number) => (n * gen * 1000) / ms;
        rows.push({
          streams: n,
          lowbit: rate(median(lb.map((x) => x.ms))),
          llama: server ? rate(median(lm)) : null,
          lowbitMs: lb.map((x) => x.ms),
          llamaMs: lm,
          lowbitTpotMs: median(lb.map((x) => x.tpot)),
          lowbitTtftMs: median(lb.map((x) => x.ttft)),
          lowbitSteps: Math.max(...lb.map((x) => x.steps)),
          lowbitMaxSequences: Math.max(...lb.map((x) => x.maxSeq)),
        });
      } finally {
        await server?.close();
      }
    }
    return {
      model: o.model, file: o.file, threads: o.threads, promptTokens, genTokens: gen, rounds, batchTokens: 512,
      bandwidthGBs, decodeWeightBytes: llm.decodeWeightBytes, llamaServer: bin ?? null,
      cpu: addon().cpuInfo(), node: process.version, date: new Date().toISOString(), rows,
    };
  } finally {
    await llm.dispose();
  }
}

export function batchingMarkdown(r: BatchingReport): string {
  const one = r.rows.find((x) => x.streams === 1);
  const x1 = (x: number | null, b: number | null | undefined) => (x == null || b == null ? "-" : `${fmt(x / b, 2)}x`);
  const lines = [
    machineLine(r) + `; ${r.threads} threads; read bandwidth ${fmt(r.bandwidthGBs)} GB/s (same run)`,
    "",
    `${r.model} (${r.file.split("/").pop()}), ${r.promptTokens}-token prompts, ${r.genTokens} greedy tokens per stream (EOS ignored), ${r.rounds} round${r.rounds === 1 ? "" : "s"} alternated after a warm-up, prompts computed every round (no prompt cache); llama-server: ${r.llamaServer ? "native build (`scripts/build-llamacpp.sh`), `-np N`, `-c N x context`, its defaults otherwise" : "not built (lowbit only)"}.`,
    "",
    "| streams | lowbit tok/s (all streams) | x 1 stream | llama-server tok/s | x 1 stream | lowbit / llama-server | lowbit TTFT ms (median stream) | lowbit TPOT ms (median stream) | lowbit decode tok/s (streams / TPOT) | x 1 stream | lowbit native steps (most sequences in one) |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const x of r.rows) {
    const decode = (r: BatchingRow) => (1000 * r.streams) / r.lowbitTpotMs;
    lines.push(`| ${x.streams} | ${fmt(x.lowbit, 1)} | ${x1(x.lowbit, one?.lowbit)} | ${x.llama == null ? "-" : fmt(x.llama, 1)} | ${x1(x.llama, one?.llama)} | ${x1(x.lowbit, x.llama)} | ${fmt(x.lowbitTtftMs, 0)} | ${fmt(x.lowbitTpotMs, 1)} | ${fmt(decode(x), 1)} | ${x1(decode(x), one ? decode(one) : null)} | ${x.lowbitSteps} (${x.lowbitMaxSequences}) |`);
  }
  lines.push(
    "",
    "Aggregate tok/s: streams x generated tokens / the wall time from the first request to the last answer (the prompts' prefill included), median of the rounds. lowbit runs the streams as concurrent `LLM.generate` calls on one model loaded with `parallel` = the most streams (runtime/batch.ts: every decode step of every stream in one native step, prompts in chunks of at most 512 tokens beside them); llama-server gets them as concurrent HTTP requests to `/completion`. Decode tok/s: the rate once every stream has its first token (streams / the median stream's time per token after its first), which leaves the prompts out.",
    ...(r.notes ?? []).map((n) => `\nNote: ${n}`),
  );
  return lines.join("\n");
}
