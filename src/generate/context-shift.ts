/**
 * StreamingLLM-style context shift (Xiao et al. 2023, "Efficient Streaming
 * Language Models with Attention Sinks"; llama.cpp's --keep / context shift).
 *
 * When the KV cache is full, the first `nKeep` cached tokens (the attention
 * sinks: the first tokens of the stream, which attention leans on whatever
 * they hold) stay, the next `nDiscard` are dropped, and the rest move down
 * by nDiscard positions: their cached keys are re-rotated by -nDiscard
 * (shift-RoPE, native/src/kvcache.cc) instead of being recomputed, so
 * positions stay inside [0, context) and decoding goes on indefinitely.
 *
 *   cache before:  [ s0 .. s(k-1) | d0 .. d(n-1) | r0 .. r(m-1) ]   positions 0 .. C-1
 *   cache after:   [ s0 .. s(k-1) | r0 .. r(m-1) ]                  positions 0 .. C-n-1
 *
 * The relative distances among the kept non-sink tokens are unchanged (RoPE
 * scores depend on q - k only), so nothing but the sinks' distance to them
 * changes: the same cache as if the dropped cells had been masked out.
 */
import { InvalidOptionError } from "../errors.js";

export interface ContextShiftOptions {
  /** Tokens kept at the start of the cache (attention sinks). Default 4, StreamingLLM's choice; 0 = window attention. */
  nKeep?: number;
  /** Tokens dropped after them when the cache is full. Default: half of the rest, (context - nKeep) / 2, as llama.cpp. */
  nDiscard?: number;
}

export interface ContextShift {
  nKeep: number;
  nDiscard: number;
}

export const DEFAULT_N_KEEP = 4;

/** The option's shape alone (no context length needed): non-negative integers, nDiscard >= 1. */
export function validateContextShift(o: ContextShiftOptions | undefined, what = "contextShift"): void {
  if (o === undefined) return;
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw new InvalidOptionError(`${what} must be an object { nKeep?, nDiscard? }`);
  const { nKeep, nDiscard } = o;
  if (nKeep !== undefined && (!Number.isSafeInteger(nKeep) || nKeep < 0)) throw new InvalidOptionError(`${what}.nKeep must be an integer >= 0, got ${String(nKeep)}`);
  if (nDiscard !== undefined && (!Number.isSafeInteger(nDiscard) || nDiscard < 1)) throw new InvalidOptionError(`${what}.nDiscard must be an integer >= 1, got ${String(nDiscard)}`);
}

/** Defaults filled in for a cache of `cells` tokens; the kept and dropped tokens must fit in it. */
export function resolveContextShift(o: ContextShiftOptions, cells: number, what = "contextShift"): ContextShift {
  validateContextShift(o, what);
  const nKeep = o.nKeep ?? Math.min(DEFAULT_N_KEEP, cells - 1);
  if (nKeep >= cells) throw new InvalidOptionError(`${what}.nKeep (${nKeep}) must be below the cache size (${cells} tokens)`);
  const nDiscard = o.nDiscard ?? Math.max(1, Math.floor((cells - nKeep) / 2));
  if (nKeep + nDiscard > cells) throw new InvalidOptionError(`${what}: nKeep + nDiscard (${nKeep} + ${nDiscard}) exceed the cache size (${cells} tokens)`);
  return { nKeep, nDiscard };
}
