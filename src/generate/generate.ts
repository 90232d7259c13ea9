/**
 * The generation loop: prefill, then one native decode step per token, with
 * sampling, stop conditions, streaming text and timings.
 */
import { AbortError, InvalidOptionError } from "../errors.js";
import type { Tokenizer } from "../tokenizer.js";
import { StreamDecoder } from "../tokenizer.js";
import { Sampler, validateSamplingOptions, type SamplingOptions } from "./sampler.js";
import { StopMatcher } from "./stop.js";

export interface GenerateOptions extends SamplingOptions {
  /** Maximum number of new tokens (default 128). */
  maxNewTokens?: number;
  /** Stop strings: generation ends when the text contains one (it is not part of `text`). */
  stop?: string[];
  /** Stop when the model emits an EOS token (default true). */
  stopAtEos?: boolean;
  /** Aborts generation with an AbortError. */
  signal?: AbortSignal;
}

export type FinishReason = "eos" | "stop" | "length" | "context";

export interface Timings {
  /** ms from prompt ids ready to the first new token */
  ttftMs: number;
  /** ms per new token after the first (NaN with fewer than 2 tokens) */
  tpotMs: number;
  promptTokens: number;
  /** prompt tokens actually computed (fewer when a cached prefix was reused) */
  prefillTokens: number;
  generatedTokens: number;
  promptTokensPerSec: number;
  genTokensPerSec: number;
  totalMs: number;
  /** ms per decode step spent outside the native forward (JS sampling, N-API, scheduling) */
  overheadMsPerToken: number;
}

export interface GenerateResult {
  text: string;
  /** new token ids */
  ids: number[];
  promptIds: number[];
  finishReason: FinishReason;
  stop?: string;
  timings: Timings;
}

/** What the loop needs from a model: one forward step returning last-row logits. */
export interface Stepper {
  readonly contextLength: number;
  readonly eosTokenIds: number[];
  /** Prepares the cache for `promptIds`; returns how many leading ids are already cached. */
  reuse(promptIds: number[]): number;
  step(ids: number[], firstPos: number): Promise<{ logits: Float32Array; nativeMs: number }>;
  /** Clock for the timings, ms (default performance.now; tests use a fake one). */
  now?: () => number;
}

export function validateGenerateOptions(o: GenerateOptions): void {
  validateSamplingOptions(o);
  const m = o.maxNewTokens;
  if (m !== undefined && (!Number.isSafeInteger(m) || m < 0)) {
    throw new InvalidOptionError(`maxNewTokens must be an integer >= 0, got ${String(m)}`);
  }
  if (o.stop !== undefined && !Array.isArray(o.stop)) throw new InvalidOptionError("stop must be an array of strings");
}

export type GenEvent = { type: "text"; text: string } | { type: "done"; result: GenerateResult };

const defaultNow = () => performance.now();

/** Runs generation, yielding text chunks as they become final, then the result. */
export async function* runGeneration(
  m: Stepper,
  tok: Tokenizer,
  promptIds: number[],
  opts: GenerateOptions,
): AsyncGenerator<GenEvent> {
  const now = m.now ?? defaultNow;
  const maxNew = opts.maxNewTokens ?? 128;
  const stopAtEos = opts.stopAtEos ?? true;
  const sampler = new Sampler(opts);
  const stops = new StopMatcher(opts.stop ?? []);
  const decoder = new StreamDecoder(tok);
  const signal = opts.signal;
  const checkAbort = () => {
    if (signal?.aborted) throw new AbortError();
  };
  checkAbort();

  const history = promptIds.slice();
  const ids: number[] = [];
  let text = "";
  let finish: FinishReason = "length";
  let stopHit: string | undefined;
  const t0 = now();
  let tFirst = t0;
  let decodeNative = 0;
  let prefillTokens = 0;

  const emit = function* (chunk: string): Generator<GenEvent> {
    const r = stops.push(chunk);
    if (r.emit) {
      text += r.emit;
      yield { type: "text", text: r.emit };
    }
    if (r.stopped) {
      finish = "stop";
      stopHit = r.stop;
    }
  };

  if (maxNew > 0) {
    const cached = m.reuse(promptIds);
    let feed = promptIds.slice(cached);
    let pos = cached;
    prefillTokens = feed.length;
    while (true) {
      const { logits, nativeMs } = await m.step(feed, pos);
      if (ids.length > 0) decodeNative += nativeMs;
      pos += feed.length;
      checkAbort();
      const next = sampler.sample(logits, history);
      if (ids.length === 0) tFirst = now();
      ids.push(next);
      history.push(next);
      if (stopAtEos && m.eosTokenIds.includes(next)) {
        finish = "eos";
        break;
      }
      yield* emit(decoder.push(next));
      if (stops.stopped) break;
      if (ids.length >= maxNew) break;
      if (pos >= m.contextLength) {
        finish = "context";
        break;
      }
      feed = [next];
    }
  }
  if (!stops.stopped) {
    yield* emit(decoder.flush());
    if (!stops.stopped) {
      const rest = stops.flush();
      if (rest) {
        text += rest;
        yield { type: "text", text: rest };
      }
    }
  }
  const tEnd = now();
  const ttftMs = ids.length ? tFirst - t0 : NaN;
  const tpotMs = ids.length > 1 ? (tEnd - tFirst) / (ids.length - 1) : NaN;
  yield {
    type: "done",
    result: {
      text,
      ids,
      promptIds,
      finishReason: finish,
      ...(stopHit !== undefined ? { stop: stopHit } : {}),
      timings: {
        ttftMs,
        tpotMs,
        promptTokens: promptIds.length,
        prefillTokens,
        generatedTokens: ids.length,
        promptTokensPerSec: (prefillTokens / ttftMs) * 1000,
        genTokensPerSec: 1000 / tpotMs,
        totalMs: tEnd - t0,
        // everything between two tokens that is not the native forward
        overheadMsPerToken: ids.length > 1 ? (tEnd - tFirst - decodeNative) / (ids.length - 1) : NaN,
      },
    },
  };
}
