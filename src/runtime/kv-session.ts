/**
 * One model's KV-cache session: which token ids the native cache holds (so a
 * prompt that extends them reuses the prefix), the queue that serialises every
 * call using the cache, and the steppers the generation loop drives
 * (generate/generate.ts). LLM owns one; it knows nothing of weights or formats.
 */
import { nativeError, type ForwardResult, type NativeModel } from "../native.js";
import type { BatchStepper } from "../generate/generate.js";
import type { LlamaConfig } from "../config.js";

export class KvSession {
  /**
   * Token ids whose K/V are in the cache, at positions 0..n-1; -1 for a cell a
   * context shift moved (computed with dropped tokens in view, never reused).
   */
  private cached: number[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private running = 0;

  /** Whether a call that uses the cache is running now. */
  get busy(): boolean {
    return this.running > 0;
  }

  /** `model()` returns the native model or throws (disposed); `contextLength` is the cache's capacity. */
  constructor(
    private readonly model: () => NativeModel,
    private readonly config: Pick<LlamaConfig, "vocabSize" | "eosTokenIds">,
    readonly contextLength: number,
  ) {}

  /** Runs fn after every earlier call that uses the cache (a failure does not block the next). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const counted = async () => {
      this.running++;
      try {
        return await fn();
      } finally {
        this.running--;
      }
    };
    const run = this.queue.then(counted, counted);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every queued call has ended. */
  async idle(): Promise<void> {
    await this.queue;
  }

  /** Empties the cache (the next prompt is computed whole). */
  reset(): void {
    this.model().clearCache();
    this.cached = [];
  }

  /** Records that the cache now holds exactly `ids` (after a fresh forward from position 0). */
  holds(ids: number[]): void {
    this.cached = ids.slice();
  }

  /** Drops the last n cached cells. */
  rollback(n: number): void {
    this.model().rollback(n);
    this.cached.length -= n;
  }

  /**
   * One native forward step over `ids` at positions firstPos.. (appended to the cache); `all`:
   * logits of every row, else the last; `targets`: negative log-likelihoods instead; `out`: a
   * buffer for the last row's logits.
   */
  forward(ids: number[], firstPos: number, all = false, targets?: Int32Array, out?: Float32Array): Promise<ForwardResult> {
    const tokens = Int32Array.from(ids);
    const positions = new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) positions[i] = firstPos + i;
    return this.model().forward(tokens, positions, all, targets, out).catch((e: unknown) => {
      throw nativeError("forward", e);
    });
  }

  /** A stepper over this cache for one generation (call inside exclusive()). */
  stepper(): BatchStepper {
    // One logits buffer reused by every step of this generation (the sampler
    // reads it before the next step starts).
    const logits = new Float32Array(this.config.vocabSize);
    return {
      contextLength: this.contextLength,
      eosTokenIds: this.config.eosTokenIds,
      vocabSize: this.config.vocabSize,
      stepAll: async (ids, firstPos) => {
        const r = await this.forward(ids, firstPos, true);
        this.cached.push(...ids);
        return { logits: r.data, nativeMs: r.nativeMs };
      },
      stepNll: async (ids, firstPos, targets) => {
        const r = await this.forward(ids, firstPos, true, Int32Array.from(targets));
        this.cached.push(...ids);
        return { nll: r.data, nativeMs: r.nativeMs };
      },
      rollback: (n) => this.rollback(n),
      clear: () => this.reset(),
      shift: (keep, discard) => {
        this.model().drop(keep, discard, discard);
        this.cached.splice(keep, discard);
        this.cached.fill(-1, keep);
      },
      reuse: (ids) => {
        let n = 0;
        while (n < this.cached.length && n < ids.length - 1 && this.cached[n] === ids[n]) n++;
        this.rollback(this.cached.length - n);
        return n;
      },
      step: async (ids, firstPos) => {
        const r = await this.forward(ids, firstPos, false, undefined, logits);
        this.cached.push(...ids);
        return { logits: r.data, nativeMs: r.nativeMs };
      },
    };
  }
}
