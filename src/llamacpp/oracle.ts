/**
 * llama.cpp through node-llama-cpp (a devDependency: its prebuilt CPU
 * binaries, nothing compiled or downloaded), for the GGUF agreement tests and
 * the side-by-side benchmark. Imported dynamically: lowbit itself runs
 * without it, and a missing package is a clear LowbitError.
 */
import { NativeError } from "../errors.js";

type NodeLlamaCpp = typeof import("node-llama-cpp");
type Llama = Awaited<ReturnType<NodeLlamaCpp["getLlama"]>>;
type LlamaModel = Awaited<ReturnType<Llama["loadModel"]>>;

let llamaPromise: Promise<Llama> | undefined;

/** The shared llama.cpp instance (CPU only, prebuilt binaries only). */
export async function llamaCpp(): Promise<Llama> {
  llamaPromise ??= (async () => {
    let mod: NodeLlamaCpp;
    try {
      mod = await import("node-llama-cpp");
    } catch (e) {
      throw new NativeError(`node-llama-cpp is not installed (npm install --save-dev node-llama-cpp): ${(e as Error).message}`, { cause: e });
    }
    return mod.getLlama({ build: "never", gpu: false, logLevel: mod.LlamaLogLevel.error });
  })();
  return llamaPromise;
}

export interface LlamaCppRun {
  /**
   * greedy continuation; shorter than asked when llama.cpp sampled an
   * end-of-generation token (node-llama-cpp stops there without yielding it)
   */
  ids: number[];
  /**
   * next-token probabilities after the prompt (the full softmax, temperature
   * 1, as node-llama-cpp normalizes it: an f32 sum over the vocabulary in
   * logit order, so every probability carries its relative rounding error)
   */
  probs: Map<number, number>;
  /** llama.cpp's raw next-token logits after the prompt (f32 values, the whole vocabulary) */
  logits: Map<number, number>;
}

/** A GGUF model loaded in llama.cpp with one sequence of `contextSize` tokens. */
export class LlamaCppModel {
  private constructor(readonly model: LlamaModel, private readonly ctx: Awaited<ReturnType<LlamaModel["createContext"]>>) {}

  /**
   * `kvCache`: "F32" keeps keys and values in f32 like lowbit's cache (for
   * agreement tests); llama.cpp's default is F16 (for benchmarks).
   */
  static async load(path: string, opts: { threads: number; contextSize?: number; batchSize?: number; kvCache?: "F32" | "F16"; exactThreads?: boolean }): Promise<LlamaCppModel> {
    const llama = await llamaCpp();
    const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
    const ctx = await model.createContext({
      contextSize: opts.contextSize ?? 512,
      // exactThreads: never fewer (node-llama-cpp may otherwise lower a context's threads when others run)
      threads: opts.exactThreads ? { ideal: opts.threads, min: opts.threads } : opts.threads,
      ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
      ...(opts.kvCache ? { experimentalKvCacheKeyType: opts.kvCache, experimentalKvCacheValueType: opts.kvCache } : {}),
      ...(opts.kvCache === "F32" ? { flashAttention: false } : {}),
    });
    return new LlamaCppModel(model, ctx);
  }

  /** The context's settings as node-llama-cpp resolved them (for benchmark notes). */
  settings(): { threads: number; batchSize: number; contextSize: number; flashAttention: "auto" | boolean } {
    return { threads: this.ctx.idealThreads, batchSize: this.ctx.batchSize, contextSize: this.ctx.contextSize, flashAttention: this.ctx.flashAttention };
  }

  private seq: ReturnType<Awaited<ReturnType<LlamaModel["createContext"]>>["getSequence"]> | undefined;

  /** The context's one sequence, kept across calls (benchmarks clear its history before each run). */
  sequence() {
    this.seq ??= this.ctx.getSequence();
    return this.seq;
  }

  tokenize(text: string): number[] {
    return [...this.model.tokenize(text, false)];
  }

  /**
   * Greedy continuation of `ids` for `n` tokens from an empty cache. An
   * end-of-generation token is returned like any other and decoding goes on
   * past it (as lowbit's generate with stopAtEos: false), so a prompt whose
   * most likely next token is EOS still has its probabilities.
   */
  async greedy(ids: readonly number[], n: number): Promise<LlamaCppRun> {
    const seq = this.ctx.getSequence();
    try {
      const out: number[] = [];
      // the prompt, its last token with the next token, probabilities and logits (Maps over the vocabulary)
      const last = [ids.at(-1)!, { generateNext: { token: true, probabilities: true, logits: true, options: { temperature: 0 } } }] as const;
      const res = (await seq.controlledEvaluate([...ids.slice(0, -1), last] as never))[ids.length - 1]?.next;
      if (res?.token === undefined || !res.probabilities || !res.logits) throw new NativeError("llama.cpp returned no next token for the prompt");
      const probs = res.probabilities as Map<number, number>, logits = res.logits as Map<number, number>;
      if (res.token !== null) out.push(res.token as number);
      if (n > 1 && out.length) {
        for await (const tok of seq.evaluate([out[0]!] as never, { temperature: 0, yieldEogToken: true })) {
          out.push(tok as number);
          if (out.length >= n) break;
        }
      }
      return { ids: out.slice(0, n), probs, logits };
    } finally {
      seq.dispose();
    }
  }

  async dispose(): Promise<void> {
    this.seq?.dispose();
    await this.ctx.dispose();
    await this.model.dispose();
  }
}
