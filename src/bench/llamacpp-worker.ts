/**
 * llama.cpp (node-llama-cpp) in a child process, for the side-by-side
 * benchmark: a process of its own so that it can be measured under a chosen
 * libuv pool size (UV_THREADPOOL_SIZE is read once, when a process starts).
 *
 * Protocol: one JSON object per line on stdin, one reply per line on stdout.
 *   {"cmd":"load","path":F,"threads":T,"contextSize":C,"batchSize":B}
 *       -> {"ok":true,"uvThreadpoolSize":..,"threads":..,"batchSize":..,"flashAttention":..}
 *   {"cmd":"run","promptIds":[...],"gen":N}
 *       -> {"ok":true,"ttftMs":..,"tpotMs":..,"ids":[...]}
 *   {"cmd":"exit"} -> {"ok":true}, then the process ends
 *   any failure -> {"ok":false,"error":"message"}
 *
 * Timing, as lowbit's generate() measures itself: TTFT from the start of the
 * evaluation of the prompt (history cleared before, not timed) to the first
 * generated token; TPOT = (time of the last token - time of the first) / (N - 1).
 * Greedy (temperature 0); node-llama-cpp's default F16 KV cache.
 */
import { createInterface } from "node:readline";
import { LlamaCppModel } from "../llamacpp/oracle.js";

interface LoadMsg {
  cmd: "load";
  path: string;
  threads: number;
  contextSize: number;
  batchSize: number;
}
interface RunMsg {
  cmd: "run";
  promptIds: number[];
  gen: number;
}
type Msg = LoadMsg | RunMsg | { cmd: "exit" };

let model: LlamaCppModel | undefined;

/** One timed greedy generation of `gen` tokens after `promptIds`, from an empty cache. */
async function run(m: LlamaCppModel, promptIds: number[], gen: number): Promise<{ ttftMs: number; tpotMs: number; ids: number[] }> {
  const seq = m.sequence();
  await seq.clearHistory();
  const ids: number[] = [];
  const t0 = performance.now();
  let tFirst = NaN;
  let tEnd = NaN;
  for await (const tok of seq.evaluate(promptIds as never, { temperature: 0 })) {
    tEnd = performance.now();
    if (ids.length === 0) tFirst = tEnd;
    ids.push(tok as number);
    if (ids.length >= gen) break;
  }
  return { ttftMs: tFirst - t0, tpotMs: ids.length > 1 ? (tEnd - tFirst) / (ids.length - 1) : NaN, ids };
}

async function handle(msg: Msg): Promise<Record<string, unknown>> {
  if (msg.cmd === "load") {
    if (model) throw new Error("a model is already loaded");
    model = await LlamaCppModel.load(msg.path, { threads: msg.threads, contextSize: msg.contextSize, batchSize: msg.batchSize, exactThreads: true });
    return { uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? "default", ...model.settings() };
  }
  if (msg.cmd === "run") {
    if (!model) throw new Error("no model loaded");
    return run(model, msg.promptIds, msg.gen);
  }
  if (msg.cmd === "exit") return {};
  throw new Error(`unknown command ${JSON.stringify((msg as { cmd?: unknown }).cmd)}`);
}

const send = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + "\n");

async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    let msg: Msg;
    try {
      msg = JSON.parse(line) as Msg;
    } catch {
      send({ ok: false, error: `not JSON: ${line.slice(0, 80)}` });
      continue;
    }
    try {
      send({ ok: true, ...(await handle(msg)) });
    } catch (e) {
      send({ ok: false, error: e instanceof Error ? e.message : String(e) });
    }
    if (msg.cmd === "exit") break;
  }
  await model?.dispose();
  lines.close();
}

main().catch((e) => {
  process.stderr.write(`llamacpp-worker: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
