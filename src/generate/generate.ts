/**
 * The generation loop: prefill, then one native decode step per token, with
 * sampling, stop conditions, streaming text and timings.
 */
import { AbortError, InvalidOptionError } from "../errors.js";
import type { Tokenizer } from "../tokenizer.js";
import { StreamDecoder } from "../tokenizer.js";
import { Sampler, type SamplingOptions } from "./sampler.js";
import { checkGenerationNumbers, SAMPLING_KEYS } from "./config.js";
import { StopMatcher } from "./stop.js";
import { stepLogprobs, type TokenLogprob } from "./logprobs.js";
import { checkConstraint, TokenConstraint, type ConstraintOptions } from "../grammar/constraint.js";
import { resolveContextShift, validateContextShift, type ContextShift, type ContextShiftOptions } from "./context-shift.js";

export interface GenerateOptions extends SamplingOptions, ConstraintOptions {
  /** Maximum number of new tokens (default 128). */
  maxNewTokens?: number;
  /** Stop strings: generation ends when the text contains one (it is not part of `text`). */
  stop?: string[];
  /** Stop when the model emits an EOS token (default true). */
  stopAtEos?: boolean;
  /** Aborts generation with an AbortError. */
  signal?: AbortSignal;
  /**
   * Assisted generation: a smaller model with the same vocabulary proposes
   * `draftTokens` tokens and this model verifies them in one forward step
   * (assisted.ts). Greedy output is that of the model alone; sampled output
   * has the same distribution (speculative sampling).
   */
  draft?: DraftModel;
  /** Tokens the draft proposes per verification (default 5); with draftConfidence, the most it proposes. */
  draftTokens?: number;
  /**
   * The draft stops proposing at a token whose probability under its softmax is below this
   * (its most likely token's; llama.cpp's --draft-p-min, transformers' assistant_confidence_threshold).
   * In [0, 1); default 0: always draftTokens.
   */
  draftConfidence?: number;
  /**
   * Prompt-lookup decoding (lookup.ts; HF's prompt_lookup_num_tokens): up to this many tokens
   * (1 to 64) are drafted per step from what followed the latest earlier occurrence of the last
   * n-gram in the prompt and output, and verified in one forward step. No draft model; greedy
   * output is that of plain decoding, sampled output has the same distribution.
   */
  promptLookup?: number;
  /** With promptLookup: the longest n-gram matched, 1 to 16 (default 2, HF's max_matching_ngram_size); shorter ones are tried after it. */
  promptLookupNgram?: number;
  /**
   * StreamingLLM: when the context is full, keep the first nKeep cached tokens
   * (attention sinks), drop the next nDiscard, shift the rest down (their keys
   * re-rotated, not recomputed) and go on (context-shift.ts). A prompt longer
   * than the context is fed in chunks the same way. Without it generation ends
   * with finishReason "context" and a prompt must fit the context.
   */
  contextShift?: ContextShiftOptions;
  /**
   * Report each new token's log-probability and the `logprobs` most likely tokens at its step
   * (0 to 20; 0: the token's own only), from the raw logits (logprobs.ts). Not with a draft model.
   */
  logprobs?: number;
  // ConstraintOptions (grammar/constraint.ts): `responseFormat` ({ type: "json_object" } or
  // { type: "json_schema", json_schema: { schema } }) or `grammar` (GBNF text) constrain the
  // output; generation then ends (finishReason "eos") where the grammar is complete.
}

/** What assisted generation needs of a draft model (LLM implements it). */
export interface DraftModel {
  /** Runs fn with a stepper over the draft's KV cache, exclusively. */
  withStepper<T>(fn: (s: BatchStepper) => Promise<T>): Promise<T>;
  readonly vocabSize: number;
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
  /** with a draft model */
  assisted?: AssistedStats;
  /** with contextShift: how many times the cache was shifted */
  contextShifts?: number;
  /** with the logprobs option: one entry per id of `ids` */
  logprobs?: TokenLogprob[];
  /** with a grammar or responseFormat: ms spent masking logits and advancing the grammar */
  grammarMs?: number;
}

/** What the loop needs from a model: one forward step returning last-row logits. */
export interface Stepper {
  readonly contextLength: number;
  readonly eosTokenIds: number[];
  /** Prepares the cache for `promptIds`; returns how many leading ids are already cached. */
  reuse(promptIds: number[]): number;
  step(ids: number[], firstPos: number): Promise<{ logits: Float32Array; nativeMs: number }>;
  /** Drops cached tokens [keep, keep + discard) and moves the rest down by `discard` positions (context-shift.ts). */
  shift?(keep: number, discard: number): void;
  /** Clock for the timings, ms (default performance.now; tests use a fake one). */
  now?: () => number;
}

/** A stepper that can also return every fed position's logits and forget cached tokens. */
export interface BatchStepper extends Stepper {
  readonly vocabSize: number;
  /** Logits [ids.length, vocabSize] of every fed position. */
  stepAll(ids: number[], firstPos: number): Promise<{ logits: Float32Array; nativeMs: number }>;
  /** Negative log-likelihoods of targets[i] after ids[0..i] (targets: the next ids), as stepAll caches them. */
  stepNll(ids: number[], firstPos: number, targets: number[]): Promise<{ nll: Float32Array; nativeMs: number }>;
  /** Drops the last n cached tokens. */
  rollback(n: number): void;
  /** Empties the cache. */
  clear(): void;
  shift(keep: number, discard: number): void;
}

/** Assisted generation's counts: tokens proposed by the draft and accepted by the target. */
export interface AssistedStats {
  draftTokens: number;
  draftConfidence: number;
  rounds: number;
  proposed: number;
  accepted: number;
}

export function validateGenerateOptions(o: GenerateOptions): void {
  checkGenerationNumbers(o, ["maxNewTokens", ...SAMPLING_KEYS, "draftTokens", "draftConfidence", "logprobs", "promptLookup", "promptLookupNgram"]);
  if (o.logprobs !== undefined && o.draft !== undefined) throw new InvalidOptionError("logprobs with a draft model is not supported");
  if (o.logprobs !== undefined && o.promptLookup !== undefined) throw new InvalidOptionError("logprobs with promptLookup is not supported");
  if (o.promptLookup !== undefined && o.draft !== undefined) throw new InvalidOptionError("use either a draft model or promptLookup, not both");
  if (o.promptLookupNgram !== undefined && o.promptLookup === undefined) throw new InvalidOptionError("promptLookupNgram needs promptLookup");
  if (o.stop !== undefined && !Array.isArray(o.stop)) throw new InvalidOptionError("stop must be an array of strings");
  if (o.draftTokens !== undefined && o.draft === undefined) throw new InvalidOptionError("draftTokens needs a draft model");
  if (o.draftConfidence !== undefined && o.draft === undefined) throw new InvalidOptionError("draftConfidence needs a draft model");
  validateContextShift(o.contextShift);
  const constrained = checkConstraint(o);
  if (constrained && o.draft !== undefined) throw new InvalidOptionError("grammar or responseFormat with a draft model is not supported");
  if (constrained && o.promptLookup !== undefined) throw new InvalidOptionError("grammar or responseFormat with promptLookup is not supported");
}

/**
 * Produces the new tokens of one generation: `first` after the prompt, then
 * `next` one or more at a time (at most `max`). Plain decoding makes one per
 * step; assisted generation (assisted.ts) up to draftTokens + 1.
 */
export interface Producer {
  first(): Promise<number>;
  next(max: number): Promise<number[]>;
  /** native ms of the steps after the first token */
  decodeNativeMs: number;
  prefillTokens: number;
  stats?: AssistedStats;
  /** positions dropped by context shifts so far: seq[i] (i >= nKeep) sits at position i - shifted */
  shifted: number;
}

/**
 * Feeds ids[from..] into m's cache, which holds `from` tokens and at most `contextLength`.
 * With `shift` (context shift: it frees cells of a full cache and returns how many) a prompt
 * longer than the room left goes in chunks that fill the cache, shifted between them; without
 * it the prompt must fit. Returns the last row's logits.
 */
export async function feedPrompt(m: Stepper, ids: number[], from: number, contextLength: number, shift?: () => number): Promise<{ logits: Float32Array; nativeMs: number }> {
  // ids[i] goes to cell `cells`
  let i = from, cells = from;
  while (shift && cells + ids.length - i > contextLength) {
    if (cells === contextLength) {
      cells -= shift();
      continue; // the rest may fit now
    }
    const n = contextLength - cells;
    await m.step(ids.slice(i, i + n), cells);
    i += n;
    cells += n;
  }
  return m.step(ids.slice(i), cells);
}

/**
 * One target step per token. `seq` is the prompt followed by the tokens produced so far.
 * With `cs`, a full cache is shifted before the next step: a prompt longer than the context goes
 * in chunks that fill the cache, and decoding goes on past it.
 */
export function plainProducer(m: Stepper, sampler: Sampler, seq: number[], cs?: ContextShift): Producer {
  const promptIds = seq.slice();
  /** Shifts the full cache (context-shift.ts); returns the cells it freed. */
  const shift = (c: ContextShift): number => {
    m.shift!(c.nKeep, c.nDiscard);
    p.shifted += c.nDiscard;
    return c.nDiscard;
  };
  const p: Producer = {
    decodeNativeMs: 0,
    prefillTokens: 0,
    shifted: 0,
    async first() {
      const cached = m.reuse(promptIds);
      p.prefillTokens = promptIds.length - cached;
      const { logits } = await feedPrompt(m, promptIds, cached, m.contextLength, cs && (() => shift(cs)));
      return sampler.sample(logits, seq);
    },
    async next() {
      let pos = seq.length - 1 - p.shifted;
      if (cs && pos >= m.contextLength) pos -= shift(cs);
      const { logits, nativeMs } = await m.step([seq[seq.length - 1]!], pos);
      p.decodeNativeMs += nativeMs;
      return [sampler.sample(logits, seq)];
    },
  };
  return p;
}

/** A text event; with the logprobs option, the entries of the tokens consumed since the previous one. */
export type GenEvent = { type: "text"; text: string; logprobs?: TokenLogprob[] } | { type: "done"; result: GenerateResult };

const defaultNow = () => performance.now();

/** Runs generation, yielding text chunks as they become final, then the result. */
export async function* runGeneration(
  m: Stepper,
  tok: Tokenizer,
  promptIds: number[],
  opts: GenerateOptions,
  makeProducer: (sampler: Sampler, seq: number[], cs?: ContextShift) => Producer = (sampler, seq, cs) => plainProducer(m, sampler, seq, cs),
): AsyncGenerator<GenEvent> {
  const now = m.now ?? defaultNow;
  const maxNew = opts.maxNewTokens ?? 128;
  const stopAtEos = opts.stopAtEos ?? true;
  const sampler = new Sampler(opts);
  // a grammar (responseFormat / grammar): the sampler draws from the masked logits
  let constraint: TokenConstraint | null = null;
  if (opts.grammar !== undefined || opts.responseFormat !== undefined) {
    const plain = sampler.sample.bind(sampler);
    let made = false;
    sampler.sample = (logits, history) => {
      if (!made) {
        constraint = TokenConstraint.of(opts, tok, logits.length, m.eosTokenIds);
        made = true;
      }
      const c = constraint;
      if (!c) return plain(logits, history);
      // the unconstrained choice, when allowed, is the constrained one: greedy, it is the masked
      // argmax; sampled without truncation, accepting it or else drawing from the masked logits
      // is the masked distribution (Sampler.truncates)
      if (!sampler.stochastic || !sampler.truncates) {
        const id = plain(logits, history);
        if (c.allows(id)) {
          c.accept(id);
          return id;
        }
      }
      const id = plain(c.mask(logits), history);
      c.accept(id);
      return id;
    };
  }
  // logprobs: each sampled token's, from the logits it was sampled from (before the next step reuses them)
  const steps: ReturnType<typeof stepLogprobs>[] = [];
  if (opts.logprobs !== undefined) {
    const k = opts.logprobs, sample = sampler.sample.bind(sampler);
    sampler.sample = (logits, history) => {
      const id = sample(logits, history);
      steps.push(stepLogprobs(logits, id, k));
      return id;
    };
  }
  const stops = new StopMatcher(opts.stop ?? []);
  const cs = opts.contextShift ? resolveContextShift(opts.contextShift, m.contextLength) : undefined;
  if (cs && !m.shift) throw new InvalidOptionError("this model cannot shift its context");
  const decoder = new StreamDecoder(tok);
  const signal = opts.signal;
  const checkAbort = () => {
    if (signal?.aborted) throw new AbortError();
  };
  checkAbort();

  const history = promptIds.slice(); // the prompt, then every new token (the sampler's history)
  const ids: number[] = [];
  let text = "";
  let finish: FinishReason = "length";
  let stopHit: string | undefined;
  const t0 = now();
  let tFirst = t0;
  const producer = makeProducer(sampler, history, cs);

  const named = (st: ReturnType<typeof stepLogprobs>): TokenLogprob => ({
    id: st.id, token: tok.decode([st.id]), logprob: st.logprob,
    top: st.top.map((t) => ({ id: t.id, token: tok.decode([t.id]), logprob: t.logprob })),
  });
  // logprobs entries already attached to text events; an EOS that ends the answer gets none
  let lpSent = 0;
  const pending = (): { logprobs?: TokenLogprob[] } => {
    if (opts.logprobs === undefined) return {};
    const end = finish === "eos" ? ids.length - 1 : ids.length;
    const out = steps.slice(lpSent, Math.max(lpSent, end)).map(named);
    lpSent = Math.max(lpSent, end);
    return { logprobs: out };
  };

  const emit = function* (chunk: string): Generator<GenEvent> {
    const r = stops.push(chunk);
    if (r.emit) {
      text += r.emit;
      yield { type: "text", text: r.emit, ...pending() };
    }
    if (r.stopped) {
      finish = "stop";
      stopHit = r.stop;
    }
  };

  if (maxNew > 0) {
    let batch = [await producer.first()];
    tFirst = now();
    outer: while (true) {
      checkAbort();
      for (const next of batch) {
        ids.push(next);
        history.push(next);
        if ((stopAtEos || constraint) && m.eosTokenIds.includes(next)) {
          finish = "eos";
          break outer;
        }
        yield* emit(decoder.push(next));
        if (stops.stopped) break outer;
        if ((constraint as TokenConstraint | null)?.complete) {
          finish = "eos";
          break outer;
        }
        if (ids.length >= maxNew) break outer;
        // the next step feeds this token at position history.length - 1; with
        // contextShift the producer shifts the full cache first
        if (!cs && history.length - 1 >= m.contextLength) {
          finish = "context";
          break outer;
        }
      }
      batch = await producer.next(maxNew - ids.length);
    }
  }
  if (!stops.stopped) {
    yield* emit(decoder.flush());
    if (!stops.stopped) {
      const rest = stops.flush();
      if (rest) {
        text += rest;
        yield { type: "text", text: rest, ...pending() };
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
        prefillTokens: producer.prefillTokens,
        generatedTokens: ids.length,
        promptTokensPerSec: (producer.prefillTokens / ttftMs) * 1000,
        genTokensPerSec: 1000 / tpotMs,
        totalMs: tEnd - t0,
        // everything between two tokens that is not the native forward
        overheadMsPerToken: ids.length > 1 ? (tEnd - tFirst - producer.decodeNativeMs) / (ids.length - 1) : NaN,
      },
      ...(producer.stats ? { assisted: { ...producer.stats } } : {}),
      ...(cs ? { contextShifts: producer.shifted / cs.nDiscard } : {}),
      ...(constraint ? { grammarMs: (constraint as TokenConstraint).ms } : {}),
      ...(opts.logprobs !== undefined
        ? {
            logprobs: steps.slice(0, ids.length).map(named),
          }
        : {}),
    },
  };
}
