/**
 * Continuous batching (LoadOptions.parallel): concurrent generations each hold one KV slot of
 * the native model (slots 1..N; slot 0 stays KvSession's), and the steps they ask for are run
 * together, one native forward step for all of them (NativeModel.forwardBatch), so each weight is
 * read once per step for every stream instead of once per stream.
 *
 * A step of a stream is queued here; the scheduler takes every queued decode step and fills the
 * rest of the step's token budget (`batchTokens`, llama.cpp's ubatch) with chunks of queued
 * prompts, so a long prompt arriving beside running streams is fed over several steps and their
 * time per token stays bounded. A step resolves when its last row's logits (or every row's, for
 * stepAll) are computed. Cache edits (rollback, shift, clear) are applied between native steps.
 * Native steps run inside KvSession.exclusive, so they interleave with the model's other calls
 * (logits, perplexity, a draft-model generation) one native step at a time.
 */
import { LowbitError, StateError } from "../errors.js";
import type { BatchStepper } from "../generate/generate.js";
import { nativeError, wrapNative, type NativeModel } from "../native.js";
import type { KvSession } from "./kv-session.js";

/** Tokens of one native step at most (prompt chunks fill what decode steps leave; llama.cpp's -ub). */
export const BATCH_TOKENS = 512;

interface StepRequest {
  slot: number;
  ids: number[];
  firstPos: number;
  all: boolean;
  /** ids fed so far */
  fed: number;
  /** output rows so far (every row's when all; else the last chunk's) */
  rows: Float32Array[];
  nativeMs: number;
  resolve: (r: { logits: Float32Array; nativeMs: number }) => void;
  reject: (e: unknown) => void;
}

/** One KV slot: the ids its cells hold (-1: a cell a context shift moved) and whether a stream holds it. */
interface Slot {
  readonly index: number;
  cached: number[];
  busy: boolean;
  /** when it was last released (the least recently used free slot is reused first) */
  released: number;
}

export class BatchScheduler {
  private readonly slots: Slot[] = [];
  private readonly waiting: { prompt: number[]; take: (s: Slot) => void }[] = [];
  private queue: StepRequest[] = [];
  /** native cache edits waiting for the next step (a step may be running) */
  private edits: (() => void)[] = [];
  private scheduled = false;
  private clock = 0;
  /** native steps run and rows they carried (tests and the bench read them) */
  readonly stats = { steps: 0, rows: 0, maxSequences: 0 };

  constructor(
    private readonly model: () => NativeModel,
    private readonly session: KvSession,
    private readonly config: { vocabSize: number; eosTokenIds: number[] },
    readonly contextLength: number,
    readonly parallel: number,
    readonly batchTokens = BATCH_TOKENS,
  ) {
    wrapNative("creating KV slots", () => model().setSlots(parallel + 1));
    for (let i = 1; i <= parallel; i++) this.slots.push({ index: i, cached: [], busy: false, released: 0 });
  }

  /**
   * Runs fn with a stepper over a free slot (waiting for one), chosen to reuse the longest cached
   * prefix of `prompt`; the slot is free again when fn settles.
   */
  async withSlot<T>(prompt: number[], fn: (s: BatchStepper) => Promise<T>): Promise<T> {
    const slot = await this.acquire(prompt);
    try {
      return await fn(this.stepper(slot));
    } finally {
      slot.busy = false;
      slot.released = ++this.clock;
      this.handOver();
    }
  }

  /** Slots holding a stream now. */
  get busy(): number {
    return this.slots.filter((s) => s.busy).length;
  }

  /** Empties every free slot's cache (LLM.resetCache; a running stream keeps its own). */
  reset(): void {
    for (const s of this.slots.filter((x) => !x.busy)) {
      s.cached = [];
      const i = s.index;
      this.edit(() => this.model().clearCache(i));
    }
  }

  private acquire(prompt: number[]): Promise<Slot> {
    return new Promise((take) => {
      this.waiting.push({ prompt, take });
      this.handOver();
    });
  }

  /** Gives free slots to waiting streams, in arrival order: each the free slot sharing most of its prompt. */
  private handOver(): void {
    while (this.waiting.length) {
      const free = this.slots.filter((s) => !s.busy);
      if (!free.length) return;
      const w = this.waiting.shift()!;
      const common = (s: Slot) => {
        let n = 0;
        while (n < s.cached.length && n < w.prompt.length && s.cached[n] === w.prompt[n]) n++;
        return n;
      };
      free.sort((a, b) => common(b) - common(a) || a.released - b.released);
      const s = free[0]!;
      s.busy = true;
      w.take(s);
    }
  }

  /** A native cache edit, applied before the next native step (none may run while a step does). */
  private edit(fn: () => void): void {
    this.edits.push(fn);
    this.schedule();
  }

  private stepper(slot: Slot): BatchStepper {
    const i = slot.index;
    const submit = (ids: number[], firstPos: number, all: boolean) =>
      new Promise<{ logits: Float32Array; nativeMs: number }>((resolve, reject) => {
        if (!ids.length) throw new StateError("a step needs at least one token");
        this.queue.push({ slot: i, ids, firstPos, all, fed: 0, rows: [], nativeMs: 0, resolve, reject });
        this.schedule();
      }).then((r) => {
        slot.cached.push(...ids);
        return r;
      });
    const rollback = (n: number) => {
      if (n <= 0) return;
      slot.cached.length -= n;
      this.edit(() => this.model().rollback(n, i));
    };
    return {
      contextLength: this.contextLength,
      eosTokenIds: this.config.eosTokenIds,
      vocabSize: this.config.vocabSize,
      step: (ids, firstPos) => submit(ids, firstPos, false),
      stepAll: (ids, firstPos) => submit(ids, firstPos, true),
      stepNll: () => Promise.reject(new StateError("negative log-likelihoods are not computed in a batched slot")),
      rollback,
      clear: () => {
        slot.cached = [];
        this.edit(() => this.model().clearCache(i));
      },
      shift: (keep, discard) => {
        slot.cached.splice(keep, discard);
        slot.cached.fill(-1, keep);
        this.edit(() => this.model().drop(keep, discard, discard, i));
      },
      reuse: (ids) => {
        let n = 0;
        while (n < slot.cached.length && n < ids.length - 1 && slot.cached[n] === ids[n]) n++;
        rollback(slot.cached.length - n);
        return n;
      },
    };
  }

  /**
   * Runs a step soon: after the current macrotask, so every stream whose step just resolved has
   * sampled its token and queued its next step by then (they all join the same native step).
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      void this.session
        .exclusive(() => this.runStep())
        .catch((e: unknown) => {
          // not expected (runStep settles its requests itself): fail what waits rather than lose it
          const queued = this.queue;
          this.queue = [];
          this.edits = [];
          for (const r of queued) r.reject(e);
        })
        .finally(() => {
          this.scheduled = false;
          if (this.queue.length || this.edits.length) this.schedule();
        });
    });
  }

  /** One native step: the pending edits, then every queued decode step and prompt chunks up to the budget. */
  private async runStep(): Promise<void> {
    const edits = this.edits;
    this.edits = [];
    try {
      for (const e of edits) e();
    } catch (e) {
      // a slot edit failed (the model disposed, say): no queued step can run on these slots
      const queued = this.queue;
      this.queue = [];
      for (const r of queued) r.reject(e);
      return;
    }
    if (!this.queue.length) return;
    // decode-sized requests first (oldest first within each kind), then prompts in arrival order
    const order = [...this.queue].sort((a, b) => Number(a.ids.length - a.fed > 1) - Number(b.ids.length - b.fed > 1));
    const taken: { r: StepRequest; n: number; last: boolean }[] = [];
    let budget = this.batchTokens;
    for (const r of order) {
      const left = r.ids.length - r.fed;
      const n = Math.min(left, Math.max(budget, taken.length ? 0 : 1));
      if (n <= 0) continue;
      taken.push({ r, n, last: n === left });
      budget -= n;
    }
    const total = taken.reduce((s, t) => s + t.n, 0);
    const slots = new Int32Array(taken.length), counts = new Int32Array(taken.length), all = new Uint8Array(taken.length);
    const tokens = new Int32Array(total), positions = new Int32Array(total);
    let k = 0;
    taken.forEach((t, j) => {
      slots[j] = t.r.slot;
      counts[j] = t.n;
      all[j] = t.r.all ? 1 : 0;
      for (let q = 0; q < t.n; q++, k++) {
        tokens[k] = t.r.ids[t.r.fed + q]!;
        positions[k] = t.r.firstPos + t.r.fed + q;
      }
    });
    let res;
    try {
      res = await this.model().forwardBatch(slots, counts, all, tokens, positions);
    } catch (e) {
      // a lowbit error as it is (the model disposed: StateError); a native one typed
      const err = e instanceof LowbitError ? e : nativeError("batched forward", e);
      for (const t of taken) {
        // chunks of a prompt fed by earlier steps are in the slot; the stream never learns of them
        if (t.r.fed) this.edits.push(() => this.model().rollback(t.r.fed, t.r.slot));
        t.r.reject(err);
      }
      this.queue = this.queue.filter((r) => !taken.some((t) => t.r === r));
      return;
    }
    this.stats.steps++;
    this.stats.rows += total;
    this.stats.maxSequences = Math.max(this.stats.maxSequences, taken.length);
    const V = this.config.vocabSize;
    let row = 0;
    const done = new Set<StepRequest>();
    for (const t of taken) {
      const rows = t.r.all ? t.n : 1;
      const data = res.data.slice(row * V, (row + rows) * V);
      row += rows;
      if (t.r.all) t.r.rows.push(data);
      else t.r.rows = [data];
      t.r.fed += t.n;
      t.r.nativeMs += res.nativeMs;
      if (t.last) done.add(t.r);
    }
    this.queue = this.queue.filter((r) => !done.has(r));
    for (const r of done) {
      let logits = r.rows[0]!;
      if (r.rows.length > 1) {
        logits = new Float32Array(r.rows.reduce((s, x) => s + x.length, 0));
        let o = 0;
        for (const x of r.rows) (logits.set(x, o), (o += x.length));
      }
      r.resolve({ logits, nativeMs: r.nativeMs });
    }
  }
}
