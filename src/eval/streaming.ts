/**
 * Streaming perplexity, the StreamingLLM paper's language-modelling test
 * (Xiao et al. 2023, section 4.1): a token stream far longer than the cache is
 * fed through a KV cache of `cache` cells, token by token (or `chunk` tokens per
 * step), and every next token is scored as it comes.
 *
 * Methods compared (the paper's Figure 3):
 *   - window attention: nKeep 0; when the cache is full the oldest tokens go;
 *   - StreamingLLM: nKeep attention sinks (the first tokens of the stream) stay,
 *     the oldest tokens after them go; in both, the kept keys are re-rotated to
 *     their new positions (shift-RoPE, context-shift.ts), nothing is recomputed;
 *   - sliding window with re-computation (the oracle): each block of `stride`
 *     tokens is scored from a fresh cache holding the tokens just before it,
 *     cache tokens in all (`recomputeNll`); quadratic in the window, no state.
 *
 * nll[i] = -log p(ids[i + 1] | what the method keeps of ids[0..i]).
 */
import { InvalidOptionError } from "../errors.js";
import { resolveContextShift } from "../generate/context-shift.js";
import type { LLM } from "../llm.js";

export interface StreamingOptions {
  /** KV cells the stream may use (at most the model's context length). */
  cache: number;
  /** Attention sinks kept at the start (StreamingLLM: 4; 0 = window attention). */
  nKeep: number;
  /** Tokens dropped each time the cache is full (default 1: the window slides token by token, as in the paper). */
  nDiscard?: number;
  /** Tokens fed per forward step (default 1). */
  chunk?: number;
  /** after each step: (tokens scored, tokens to score) */
  onProgress?: (done: number, total: number) => void;
}

export interface StreamNll {
  /** [ids.length - 1] */
  nll: Float32Array;
  /** times the cache was shifted */
  shifts: number;
  seconds: number;
}

function checkStream(llm: LLM, ids: number[], cache: number): void {
  if (ids.length < 2) throw new InvalidOptionError("a stream needs at least 2 tokens");
  if (!Number.isSafeInteger(cache) || cache < 2 || cache > llm.contextLength) throw new InvalidOptionError(`cache must be an integer in [2, ${llm.contextLength}] (the context length), got ${String(cache)}`);
}

/** Window attention (nKeep 0) or StreamingLLM (nKeep > 0) over the whole stream. */
export async function streamingNll(llm: LLM, ids: number[], o: StreamingOptions): Promise<StreamNll> {
  checkStream(llm, ids, o.cache);
  const cs = resolveContextShift({ nKeep: o.nKeep, nDiscard: o.nDiscard ?? 1 }, o.cache, "streaming");
  const chunk = o.chunk ?? 1;
  if (!Number.isSafeInteger(chunk) || chunk < 1) throw new InvalidOptionError(`chunk must be an integer >= 1, got ${String(chunk)}`);
  const total = ids.length - 1;
  return llm.withStepper(async (s) => {
    const t0 = performance.now();
    const nll = new Float32Array(total);
    let cells = 0, shifts = 0;
    s.clear();
    try {
      for (let i = 0; i < total; ) {
        if (cells === o.cache) {
          s.shift(cs.nKeep, cs.nDiscard);
          cells -= cs.nDiscard;
          shifts++;
        }
        const n = Math.min(chunk, o.cache - cells, total - i);
        // ids[i, i + n) at positions cells.., each scored on the id after it
        const r = await s.stepNll(ids.slice(i, i + n), cells, ids.slice(i + 1, i + n + 1));
        nll.set(r.nll, i);
        cells += n;
        i += n;
        o.onProgress?.(i, total);
      }
    } finally {
      s.clear();
    }
    return { nll, shifts, seconds: (performance.now() - t0) / 1000 };
  });
}

/**
 * Sliding window with re-computation: tokens scored `stride` at a time, each block
 * from a fresh cache of the (up to) `cache` tokens ending just before its last target.
 */
export async function recomputeNll(llm: LLM, ids: number[], cache: number, stride: number, onProgress?: (done: number, total: number) => void): Promise<StreamNll> {
  checkStream(llm, ids, cache);
  if (!Number.isSafeInteger(stride) || stride < 1 || stride > cache) throw new InvalidOptionError(`stride must be an integer in [1, ${cache}] (the cache), got ${String(stride)}`);
  const t0 = performance.now();
  const total = ids.length - 1;
  const nll = new Float32Array(total);
  for (let i = 0; i < total; i += stride) {
    const n = Math.min(stride, total - i);
    const start = Math.max(0, i + n - cache);
    // feeds ids[start, i + n): i + n - start <= cache tokens; keeps the scores of ids[i + 1 .. i + n]
    const r = await llm.nll(ids.slice(start, i + n + 1));
    nll.set(r.subarray(i - start), i);
    onProgress?.(i + n, total);
  }
  return { nll, shifts: 0, seconds: (performance.now() - t0) / 1000 };
}

/** exp(mean nll[from..]): the perplexity of the predictions from index `from` on. */
export function pplFrom(nll: Float32Array, from = 0): number {
  let s = 0;
  for (let i = from; i < nll.length; i++) s += nll[i]!;
  return Math.exp(s / (nll.length - from));
}
