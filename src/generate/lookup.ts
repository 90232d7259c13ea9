/**
 * Prompt-lookup decoding (HF transformers' `prompt_lookup_num_tokens`,
 * llama.cpp's lookup decoding): no draft model. The drafted tokens are what
 * followed the latest earlier occurrence of the sequence's last n tokens
 * (n = ngram down to 1, the longest that occurs), in the prompt or in what
 * has been generated; the target scores them in one forward step over K + 1
 * positions, as assisted generation does (assisted.ts), and keeps the longest
 * acceptable prefix plus one token of its own.
 *
 * The drafts are deterministic, so their draft distribution q is one-hot:
 * speculative sampling keeps d with probability p(d) and, at a rejection, draws
 * from p with d removed, which leaves the output distributed exactly as the
 * target's own samples; greedy keeps d iff it is the argmax, so the output is
 * plain greedy decoding's token for token, up to the rounding of a batched step
 * (its kernels may sum in another order than one-row steps: a near-tie can flip).
 *
 * HF takes the first occurrence in the sequence; lowbit the latest (the
 * nearest context, which for code is the most likely to continue the same
 * way), and stops a draft at the sequence's end.
 *
 * The draft length adapts as HF's "heuristic" assistant schedule: it starts at
 * the plan's tokens, grows by 2 after a draft accepted whole and shrinks by 1
 * after any rejection, within [1, tokens]. A verification row costs compute
 * even when memory-bound decode hides part of it, so long drafts from weak
 * (often 1-token) matches cost more than they return (docs/ASSISTED.md).
 */
import { acceptDrafts } from "./assisted.js";
import type { ContextShift } from "./context-shift.js";
import { type BatchStepper, type Producer, plainProducer } from "./generate.js";
import type { Dist, Sampler } from "./sampler.js";

/** At most `tokens` drafted per round, matching n-grams of at most `ngram` tokens. */
export interface LookupPlan {
  tokens: number;
  ngram: number;
}

/**
 * The up to k tokens that followed the latest earlier occurrence of seq's last n tokens,
 * for the largest n <= ngram that has one; [] when none does.
 */
export function lookupDraft(seq: ArrayLike<number>, ngram: number, k: number): number[] {
  const L = seq.length;
  for (let n = Math.min(ngram, L - 1); n >= 1; n--) {
    // an occurrence ending at i (i < L - 1: not the suffix itself) is followed by seq[i + 1 ..]
    for (let i = L - 2; i >= n - 1; i--) {
      let j = 0;
      while (j < n && seq[i - j] === seq[L - 1 - j]) j++;
      if (j < n) continue;
      const out: number[] = [];
      for (let t = i + 1; t < L && out.length < k; t++) out.push(seq[t]!);
      return out;
    }
  }
  return [];
}

/** The next round's draft length after `accepted` of `drafted` tokens were kept (HF's heuristic schedule). */
export function nextDraftLength(current: number, drafted: number, accepted: number, max: number): number {
  return accepted === drafted ? Math.min(max, current + 2) : Math.max(1, current - 1);
}

/** The producer of runGeneration that drafts by prompt lookup (`cs`: shifting the cache when full, as plain decoding). */
export function lookupProducer(m: BatchStepper, sampler: Sampler, seq: number[], plan: LookupPlan, cs?: ContextShift): Producer {
  // plain decoding's producer (prompt, context shift, counts), its next() replaced by drafted rounds
  const p = plainProducer(m, sampler, seq, cs);
  const plainNext = p.next.bind(p);
  const V = m.vocabSize;
  const stats = { draftTokens: plan.tokens, draftConfidence: 0, rounds: 0, proposed: 0, accepted: 0 };
  p.stats = stats;
  let draftLength = plan.tokens;
  p.next = async (max: number) => {
    // the cache holds seq[0, L - 1) (its view after shifts); seq's last token goes at L - 1
    const pos = seq.length - 1 - p.shifted;
    const K = Math.min(draftLength, max - 1, m.contextLength - 1 - pos);
    const d = K > 0 ? lookupDraft(seq, plan.ngram, K) : [];
    // nothing to draft (or no room before a shift): a plain step, which shifts a full cache
    if (d.length === 0) return plainNext(max);
    const v = await m.stepAll([seq[seq.length - 1]!, ...d], pos);
    p.decodeNativeMs += v.nativeMs;
    const dists: Dist[] = [];
    for (let i = 0; i <= d.length; i++) dists.push(sampler.dist(v.logits.subarray(i * V, (i + 1) * V), [...seq, ...d.slice(0, i)]));
    const q = d.map((id): Dist => ({ ids: Int32Array.of(id), p: Float64Array.of(1) }));
    const out = acceptDrafts(sampler, d, q, dists);
    const a = out.length - 1;
    m.rollback(d.length - a);
    draftLength = nextDraftLength(draftLength, d.length, a, plan.tokens);
    stats.rounds++;
    stats.proposed += d.length;
    stats.accepted += a;
    return out;
  };
  return p;
}
