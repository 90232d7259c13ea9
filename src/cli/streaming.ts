/**
 * `lowbit eval streaming`: StreamingLLM's language-modelling test (src/eval/streaming.ts):
 * perplexity over a token stream much longer than the KV cache, for window attention
 * (--keep 0), StreamingLLM (--keep 4: attention sinks) and sliding window with re-computation.
 *
 *   lowbit eval streaming [--model DIR] [--quant F] [--data TEXTS.jsonl] [--tokens 8192]
 *                         [--cache 256] [--keep 0,4] [--discard 1] [--chunk 1] [--recompute-stride 16 | 0] [--json]
 */
import type { Command } from "commander";
import { cliBar } from "./bar.js";
import { DataError, InvalidOptionError } from "../errors.js";
import { eosJoined, readJsonlTexts } from "../eval/perplexity.js";
import { HELDOUT_TEST, sharedDataFile } from "../eval/shared-data.js";
import { pplFrom, recomputeNll, streamingNll, type StreamNll } from "../eval/streaming.js";
import { LLM } from "../llm.js";
import { addModelOptions, intOpt, loadOptions, modelName, num, type CliIO, type ModelFlags } from "./options.js";

interface StreamingFlags extends ModelFlags {
  data?: string;
  tokens: string;
  cache: string;
  keep: string;
  discard: string;
  chunk: string;
  recomputeStride: string;
  json?: boolean;
}

export interface StreamingRow {
  method: "window attention" | "StreamingLLM" | "sliding window with re-computation";
  /** sinks kept (0 for window attention and re-computation) */
  nKeep: number;
  /** tokens dropped per shift (streaming methods) or scored per re-computed window */
  nDiscard?: number;
  stride?: number;
  ppl: number;
  /** perplexity of the tokens after the cache first filled (where the methods differ) */
  pplPastCache: number;
  shifts: number;
  seconds: number;
}

/** The first `n` tokens of the texts, each followed by EOS (the perplexity stream). */
function streamOf(model: LLM, texts: string[], n: number): number[] {
  const ids = eosJoined(model, texts, n);
  if (ids.length < n) throw new DataError(`the data has ${ids.length} tokens (with EOS separators); --tokens asks for ${n}`);
  return ids.slice(0, n);
}

async function runStreaming(f: StreamingFlags, io: CliIO): Promise<number> {
  const tokens = intOpt("--tokens", f.tokens, 3)!;
  const cache = intOpt("--cache", f.cache, 2)!;
  const keeps = f.keep.split(",").map((k) => intOpt("--keep", k, 0)!);
  const discard = intOpt("--discard", f.discard, 1)!;
  const chunk = intOpt("--chunk", f.chunk, 1)!;
  const stride = intOpt("--recompute-stride", f.recomputeStride, 0, cache)!;
  if (tokens <= cache) throw new InvalidOptionError(`--tokens (${tokens}) must exceed --cache (${cache}): the test is a stream longer than the cache`);
  const load = loadOptions(f);
  const data = f.data ?? sharedDataFile(HELDOUT_TEST);
  if (data === undefined) throw new DataError(`no data: pass --data TEXTS.jsonl ({text} per line); ../shared/data/${HELDOUT_TEST} was not found`);
  const texts = readJsonlTexts(data); // bad data fails before the model load
  const model = await LLM.load(f.model, { ...load, contextLength: cache });
  const name = modelName(f.model);
  const methods = keeps.length + (stride > 0 ? 1 : 0);
  const bar = cliBar(io, f.json, `streaming ${name} |{bar}| {value}/{total} tokens | {duration_formatted} | ETA {eta_formatted}`);
  try {
    const ids = streamOf(model, texts, tokens);
    bar?.start(methods * (tokens - 1), 0);
    const rows: StreamingRow[] = [];
    const row = (method: StreamingRow["method"], r: StreamNll, extra: Partial<StreamingRow>): StreamingRow =>
      ({ method, nKeep: 0, ...extra, ppl: pplFrom(r.nll), pplPastCache: pplFrom(r.nll, cache), shifts: r.shifts, seconds: r.seconds });
    for (const [m, nKeep] of keeps.entries()) {
      const r = await streamingNll(model, ids, { cache, nKeep, nDiscard: discard, chunk, onProgress: (d) => bar?.update(m * (tokens - 1) + d) });
      rows.push(row(nKeep === 0 ? "window attention" : "StreamingLLM", r, { nKeep, nDiscard: discard }));
    }
    if (stride > 0) {
      const r = await recomputeNll(model, ids, cache, stride, (d) => bar?.update(keeps.length * (tokens - 1) + d));
      rows.push(row("sliding window with re-computation", r, { stride }));
    }
    bar?.stop();
    if (f.json) {
      io.out(JSON.stringify({ model: name, dtype: model.dtype, quant: model.quant ?? null, data, tokens, cache, chunk, rows: rows.map((r) => ({ ...r, ppl: num(r.ppl), pplPastCache: num(r.pplPastCache) })) }) + "\n");
      return 0;
    }
    io.out(
      `model   ${name} (${model.dtype}${model.quant ? `, ${model.quant}` : ""}, ${model.info().threads} threads)\n` +
        `stream  ${tokens} tokens of ${data}\n` +
        `cache   ${cache} tokens; ${chunk} token${chunk === 1 ? "" : "s"} per step; ${tokens - 1 - cache} predictions after the cache first filled\n\n` +
        "| method | cache holds | ppl, all tokens | ppl past the cache | shifts | seconds |\n|---|---|---|---|---|---|\n" +
        rows.map((r) => `| ${r.method} | ${r.stride ? `the ${cache} tokens before each block of ${r.stride}` : `${r.nKeep} sink${r.nKeep === 1 ? "" : "s"} + ${cache - r.nKeep} recent (drop ${r.nDiscard} when full)`} | ${r.ppl.toFixed(3)} | ${r.pplPastCache.toFixed(3)} | ${r.shifts} | ${r.seconds.toFixed(1)} |`).join("\n") +
        "\n",
    );
  } finally {
    bar?.stop();
    await model.dispose();
  }
  return 0;
}

export function registerStreaming(program: Command, io: CliIO, setCode: (c: number) => void): void {
  const cmd = program
    .command("streaming")
    .description("StreamingLLM test: perplexity over a stream longer than the KV cache (window attention, attention sinks, re-computation)")
    .option("--data <file>", `jsonl of {"text": ...} (default ../shared/data/${HELDOUT_TEST})`)
    .option("--tokens <n>", "tokens in the stream (texts with EOS after each)", "8192")
    .option("--cache <n>", "KV-cache size in tokens", "256")
    .option("--keep <list>", "attention sinks kept, comma-separated: 0 = window attention", "0,4")
    .option("--discard <n>", "tokens dropped when the cache is full", "1")
    .option("--chunk <n>", "tokens per forward step", "1")
    .option("--recompute-stride <n>", "sliding window with re-computation scoring n tokens per window (0 = skip)", "16")
    .option("--json", "print one JSON object instead of a table");
  addModelOptions(cmd).action(async (flags: StreamingFlags) => setCode(await runStreaming(flags, io)));
}
