/**
 * lowbit and llama.cpp side by side on the same GGUF file (`lowbit bench
 * --vs-llamacpp`). For every model and GGUF type the file is written once
 * (gguf-cache.ts), lowbit loads it (LLM.load) and llama.cpp loads it in child
 * processes (llamacpp-worker.ts), one per libuv pool setting; all stay loaded
 * while their configurations run. Within every repetition each prompt runs on
 * every engine in turn, the engine order rotating from one repetition to the
 * next, so drift of a shared machine hits all engines alike.
 *
 * TTFT and TPOT are defined alike on both sides (prompt evaluation to the
 * first generated token; mean time per token after it, greedy), timed inside
 * the process that runs the model.
 */
import { measureComputePeaks, type ComputePeak } from "./peak.js";
import { statSync } from "node:fs";
import type { GgufOutType } from "../formats/gguf-export.js";
import { LLM } from "../llm.js";
import { openGguf } from "../formats/gguf.js";
import type { KvType } from "../load-options.js";
import { addon } from "../native.js";
import { InvalidOptionError } from "../errors.js";
import type { BenchModel } from "./core.js";
import { clock, measureBandwidth } from "./core.js";
import { alternate, type TimedEngine } from "./alternate.js";
import { ensureGguf } from "./gguf-cache.js";
import { LlamaCppWorker, type LlamaCppSettings } from "./llamacpp-client.js";
import { LlamaServer } from "./llama-server.js";
import { nativeLlamaCppBinDir, nativeLlamaCppTool } from "../llamacpp/native-bin.js";
import { caseIds, maxPromptTokens, mean, type PromptCase } from "./prompts.js";
import { checkRepeat, type RepeatCheck } from "./soundness.js";
import { summarize, type Summary } from "./stats.js";

/**
 * A llama.cpp engine: node-llama-cpp in a child Node process (Node's default libuv pool, or
 * UV_THREADPOOL_SIZE=n), or native llama.cpp's llama-server (`server`: its binary; llama-server.ts).
 */
export interface LlamaCppVariant {
  engine: string;
  uvThreadpoolSize?: number;
  server?: string;
}

export const LOWBIT_ENGINE = "lowbit";
export const NATIVE_ENGINE = "llama.cpp native";
export const DEFAULT_LLAMACPP_VARIANTS: LlamaCppVariant[] = [
  { engine: "llama.cpp" },
  { engine: "llama.cpp UV_THREADPOOL_SIZE=1", uvThreadpoolSize: 1 },
];
/** The engines `--llamacpp-engines` names: native (llama-server of scripts/build-llamacpp.sh), node, node-uv1. */
export const LLAMACPP_ENGINE_NAMES = ["native", "node", "node-uv1"] as const;

/**
 * The llama.cpp engines of a list of LLAMACPP_ENGINE_NAMES; undefined: native when it is built,
 * then node and node-uv1. Naming native when it is not built is an InvalidOptionError.
 */
export function llamaCppVariants(names?: readonly string[]): LlamaCppVariant[] {
  const server = nativeLlamaCppTool("llama-server");
  const list = names ?? [...(server ? ["native"] : []), "node", "node-uv1"];
  return list.map((n) => {
    if (n === "node") return DEFAULT_LLAMACPP_VARIANTS[0]!;
    if (n === "node-uv1") return DEFAULT_LLAMACPP_VARIANTS[1]!;
    if (n !== "native") throw new InvalidOptionError(`--llamacpp-engines: ${JSON.stringify(n)} is not one of ${LLAMACPP_ENGINE_NAMES.join(", ")}`);
    if (!server) throw new InvalidOptionError(`--llamacpp-engines native: no llama-server in ${nativeLlamaCppBinDir()} (build it with scripts/build-llamacpp.sh, or set LOWBIT_LLAMACPP_BIN)`);
    return { engine: NATIVE_ENGINE, server };
  });
}

export interface VsOptions {
  models: BenchModel[];
  ggufTypes: GgufOutType[];
  threads: number[];
  prompts: PromptCase[];
  genTokens: number;
  reps: number;
  /** unmeasured runs of each engine before each prompt setting (its first prompt) */
  warmupRuns: number;
  /** where the GGUF files are cached */
  cacheDir: string;
  variants?: LlamaCppVariant[];
  /** lowbit's context (LoadOptions.contextLength; default the model's): prompts past a model's trained context need it */
  contextLength?: number;
  /** lowbit's KV cache type (LoadOptions.kvType; default f32); f16 is llama.cpp's default */
  kvType?: KvType;
  /**
   * soundness.ts: a second, independent set of engines (lowbit loaded again, new llama.cpp processes)
   * measures the first configuration, alternating with the first set in one rotation
   */
  recheck?: boolean;
  notes?: string[];
  onProgress?: (label: string, done: number, total: number) => void;
}

export interface VsRow {
  model: string;
  ggufType: GgufOutType;
  threads: number;
  engine: string;
  prompt: string;
  /** mean prompt tokens over the setting's prompts */
  promptTokens: number;
  genTokens: number;
  /** per repetition: the mean over the setting's prompts */
  ttftMs: Summary;
  tpotMs: Summary;
  /** prompt tokens / median TTFT (llama-bench's pp) */
  ppTokPerS: number;
  /** 1 / median TPOT (llama-bench's tg) */
  tgTokPerS: number;
  /** matrix weight bytes read per decode step (lowbit's count, the same file for every engine) */
  weightBytesPerToken: number;
  /** mean over prompts of the greedy tokens equal to lowbit's before the first difference (first measured repetition) */
  sameGreedyTokens: number;
  /** weights of the file's matrix multiplications per token (matmulParams; absent in older reports) */
  matmulParams?: number;
}

/** The context a run needs for prompts of `longest` tokens and `genTokens` generated: every engine's (a margin of 16). */
export function runContext(longest: number, genTokens: number): number {
  return longest + genTokens + 16;
}

/**
 * Weights a token meets in the GGUF file's matrix multiplications: every 2-D tensor but the token
 * embedding (a lookup), which counts once as the output head when the file has no output.weight
 * (a tied head). Prefill does 2 x this many operations per prompt token, attention aside.
 */
export function ggufMatmulParams(path: string): number {
  const g = openGguf(path);
  let n = 0, embd = 0, head = false;
  for (const t of g.tensors.values()) {
    if (t.dims.length !== 2) continue;
    const size = t.dims[0]! * t.dims[1]!;
    if (t.name === "token_embd.weight") embd = size;
    else n += size;
    if (t.name === "output.weight") head = true;
  }
  return head ? n : n + embd;
}

export interface VsFile {
  model: string;
  ggufType: GgufOutType;
  path: string;
  bytes: number;
  made: boolean;
}

export interface VsReport {
  date: string;
  cpu: ReturnType<ReturnType<typeof addon>["cpuInfo"]>;
  node: string;
  engines: string[];
  llamaCpp: LlamaCppSettings[];
  files: VsFile[];
  rows: VsRow[];
  /** lowbit's KV cache type (absent in older reports: f32) */
  lowbitKvType?: KvType;
  /** the machine's read bandwidth (GB/s per thread count) and compute peak, measured in the same run (absent in older reports) */
  bandwidthGBs?: Record<number, number>;
  computePeak?: ComputePeak[];
  rechecks?: RepeatCheck[];
  notes?: string[];
}

/** Generations a run makes (progress bar). */
export function vsTotal(o: VsOptions): number {
  const e = 1 + (o.variants ?? DEFAULT_LLAMACPP_VARIANTS).length;
  const perGroup = o.prompts.reduce((a, c) => a + e * (o.warmupRuns + c.count * o.reps), 0);
  const recheck = o.recheck ? e * (o.warmupRuns + o.prompts[0]!.count * o.reps) : 0;
  return o.models.length * o.ggufTypes.length * o.threads.length * perGroup + recheck;
}

/** lowbit and every llama.cpp worker on one file; `close` ends them all. */
async function startEngines(o: VsOptions, path: string, threads: number, contextSize: (lowbit: LLM) => number, say: (what: string) => void, settings: LlamaCppSettings[], closers: (() => Promise<void>)[]): Promise<{ lowbit: LLM; engines: TimedEngine[] }> {
  const variants = o.variants ?? DEFAULT_LLAMACPP_VARIANTS;
  say("loading lowbit");
  const lowbit = await LLM.load(path, { threads, ...(o.contextLength !== undefined ? { contextLength: o.contextLength } : {}), ...(o.kvType ? { kvType: o.kvType } : {}) });
  closers.push(() => lowbit.dispose());
  const n = contextSize(lowbit);
  const engines: TimedEngine[] = [
    {
      name: LOWBIT_ENGINE,
      run: async (ids, gen) => {
        lowbit.resetCache();
        const g = await lowbit.generate(ids, { maxNewTokens: gen, temperature: 0, stopAtEos: false });
        return { ttftMs: g.timings.ttftMs, tpotMs: g.timings.tpotMs, ids: g.ids };
      },
    },
  ];
  for (const v of variants) {
    say(`loading ${v.engine}`);
    if (v.server) {
      // a KV type named for lowbit: the native server runs the same (node-llama-cpp keeps its F16 default)
      const srv = await LlamaServer.start({ binary: v.server, path, threads, contextSize: n, label: v.engine, ...(o.kvType ? { kvType: o.kvType } : {}) });
      closers.push(() => srv.close());
      settings.push(srv.settings());
      engines.push({ name: v.engine, run: (ids, gen) => srv.run(ids, gen) });
      continue;
    }
    const w = LlamaCppWorker.start({ label: v.engine, ...(v.uvThreadpoolSize !== undefined ? { uvThreadpoolSize: v.uvThreadpoolSize } : {}) });
    closers.push(() => w.close());
    // node-llama-cpp's default batch (512 = llama.cpp's default ubatch); context for the longest run
    settings.push(await w.load({ path, threads, contextSize: n, batchSize: 512 }));
    engines.push({ name: v.engine, run: (ids, gen) => w.run(ids, gen) });
  }
  return { lowbit, engines };
}

const SECOND = "second run: ";

/**
 * Every prompt setting of one file at one thread count, all engines alternating. With `again`,
 * every engine is started a second time (lowbit loads the file again, new llama.cpp processes)
 * and the first prompt setting is measured by both sets of engines, alternating in the rotation;
 * the second set's rows go into `again`.
 */
async function runGroup(o: VsOptions, m: BenchModel, type: GgufOutType, path: string, threads: number, cases: PromptCase[], tick: (label: string, counts?: boolean) => void, settings: LlamaCppSettings[], again?: VsRow[]): Promise<VsRow[]> {
  const where = `${m.name} ${type} t=${threads}`;
  const closers: (() => Promise<void>)[] = [];
  try {
    let prepared: { c: PromptCase; ids: number[][] }[] = [];
    // the prompts are tokenized once, by the first lowbit (the second set's context is the same)
    const contextSize = (lowbit: LLM) => {
      if (prepared.length === 0) prepared = cases.map((c) => ({ c, ids: caseIds(c, (t) => lowbit.encode(t)) }));
      const longest = Math.max(...prepared.map((p) => maxPromptTokens(p.ids)));
      if (longest + o.genTokens > lowbit.contextLength) {
        throw new InvalidOptionError(`${m.name}: prompts of ${longest} tokens + ${o.genTokens} generated exceed its context of ${lowbit.contextLength} tokens`);
      }
      return runContext(longest, o.genTokens);
    };
    const params = ggufMatmulParams(path);
    const first = await startEngines(o, path, threads, contextSize, (x) => tick(`${where} ${x}`), settings, closers);
    const second = again ? await startEngines(o, path, threads, contextSize, (x) => tick(`${SECOND}${where} ${x}`), [], closers) : undefined;
    const rows: VsRow[] = [];
    for (const [ci, { c, ids }] of prepared.entries()) {
      const n = first.engines.length;
      const engines = ci === 0 && second ? [...first.engines, ...second.engines] : first.engines;
      const res = await alternate(engines, ids, {
        reps: o.reps,
        warmupRuns: o.warmupRuns,
        genTokens: o.genTokens,
        onRun: (x) => tick(`${x.index >= n ? SECOND : ""}${where} prompt ${c.label} ${x.warmup ? "warm-up" : `run ${x.rep}/${o.reps}`}${ids.length > 1 && !x.warmup ? ` #${x.prompt + 1}` : ""} ${x.engine}`, true),
      });
      const tokens = mean(ids.map((x) => x.length));
      engines.forEach((e, k) => {
        const tt = summarize(res.ttftMs[k]!), tp = summarize(res.tpotMs[k]!);
        (k < n ? rows : again!).push({
          model: m.name, ggufType: type, threads, engine: e.name, prompt: c.label, promptTokens: tokens, genTokens: o.genTokens,
          ttftMs: tt, tpotMs: tp, ppTokPerS: (tokens / tt.median) * 1000, tgTokPerS: 1000 / tp.median,
          weightBytesPerToken: first.lowbit.decodeWeightBytes, sameGreedyTokens: mean(res.sameTokens[k]!), matmulParams: params,
        });
      });
    }
    return rows;
  } finally {
    await Promise.all(closers.map((c) => c()));
  }
}

export async function runVsLlamaCpp(o: VsOptions): Promise<VsReport> {
  const total = vsTotal(o);
  const t0 = performance.now();
  let done = 0;
  const say = (label: string) => o.onProgress?.(`[${clock(performance.now() - t0)}] ${label}`, done, total);
  const tick = (label: string, counts = false) => {
    if (counts) done++;
    say(label);
  };
  const files: VsFile[] = [];
  const rows: VsRow[] = [];
  const settings: LlamaCppSettings[] = [];
  const again: VsRow[] = [];
  say("bandwidth and compute-peak probes");
  const bandwidthGBs: Record<number, number> = {};
  for (const t of o.threads) bandwidthGBs[t] = measureBandwidth(t);
  const computePeak = measureComputePeaks(o.threads);
  for (const m of o.models)
    for (const type of o.ggufTypes) {
      say(`${m.name} ${type}: GGUF file`);
      const f = ensureGguf(o.cacheDir, m.dir, m.name, type, { onTensor: (i, n) => say(`${m.name}: writing ${type} GGUF, tensor ${i + 1}/${n}`) });
      files.push({ model: m.name, ggufType: type, path: f.path, bytes: statSync(f.path).size, made: f.made });
      for (const threads of o.threads) {
        const paired = o.recheck && files.length === 1 && threads === o.threads[0];
        rows.push(...(await runGroup(o, m, type, f.path, threads, o.prompts, tick, settings, paired ? again : undefined)));
      }
    }
  const rechecks: RepeatCheck[] | undefined = again.length
    ? again.flatMap((a) => {
        const r = rows.find((x) => x.model === a.model && x.ggufType === a.ggufType && x.threads === a.threads && x.prompt === a.prompt && x.engine === a.engine)!;
        const label = `${a.model} ${a.ggufType} t=${a.threads} prompt ${a.prompt}, ${a.engine}`;
        return [checkRepeat(label, "ttftMs", r.ttftMs, a.ttftMs), checkRepeat(label, "tpotMs", r.tpotMs, a.tpotMs)];
      })
    : undefined;
  return {
    date: new Date().toISOString(),
    cpu: addon().cpuInfo(),
    node: process.version,
    engines: [LOWBIT_ENGINE, ...(o.variants ?? DEFAULT_LLAMACPP_VARIANTS).map((v) => v.engine)],
    llamaCpp: settings.filter((s, i) => settings.findIndex((t) => JSON.stringify(t) === JSON.stringify(s)) === i),
    files,
    rows,
    lowbitKvType: o.kvType ?? "f32",
    bandwidthGBs,
    computePeak,
    ...(rechecks ? { rechecks } : {}),
    ...(o.notes?.length ? { notes: o.notes } : {}),
  };
}
