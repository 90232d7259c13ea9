/**
 * Assisted generation (speculative decoding): a small draft model proposes K
 * tokens one step at a time; the target model scores all of them in one
 * forward step over K + 1 positions; the longest acceptable prefix is kept,
 * plus one token from the target, and both KV caches roll back what was not
 * kept.
 *
 * Acceptance is speculative sampling (Leviathan et al. 2023; Chen et al. 2023):
 * draft token d drawn from the draft's distribution q is kept with probability
 * min(1, p(d) / q(d)) under the target's distribution p; at the first
 * rejection the target's token is drawn from max(0, p - q) renormalised; when
 * all K are kept a bonus token is drawn from p at the last position. Output
 * tokens are then distributed exactly as the target's own samples. Both
 * distributions are the sampler's (temperature, top-k/p, min-p, repetition
 * penalty over the history including the drafted tokens). Greedy (temperature
 * 0) makes p and q one-hot: a draft token is kept iff it is the target's
 * argmax, and the output is the target's greedy output.
 *
 * With a confidence threshold (draftConfidence, llama.cpp's --draft-p-min) the
 * draft stops before a token whose probability under its softmax (its most
 * likely token's) is below it, so K varies per round, 0 included (then the
 * round is a plain target step).
 *
 * Cache bookkeeping, with seq = prompt + tokens so far (length L; the target
 * has cached seq[0, L-1), the draft seq[0, dc)):
 *   draft:  feeds seq[dc, L) then d1..d(K-1)  -> caches L + K - 1, proposes d1..dK
 *           (L + K when it stopped early: it fed dK and then lost confidence)
 *   target: feeds seq[L-1], d1..dK at L-1..  -> caches L + K, logits rows 0..K
 *   a kept (0..K), one more token t: seq grows by a + 1;
 *   target rolls back K - a (caches L + a = new L - 1);
 *   draft keeps min(L + a, what it cached).
 *
 * With a context shift (context-shift.ts) both caches hold the same view of seq:
 * its first nKeep tokens, then seq[nKeep + shifted, ..) at positions nKeep..;
 * L above counts that view. The target's cache is shifted when it is full, at
 * the same points as in plain decoding (a round's K shrinks to the room left),
 * so every target row sees the cache plain decoding would: greedy output is
 * plain decoding's with the same contextShift. The draft drops the same tokens
 * at the same time: before a shift it reads the one or two tokens it lags
 * by, and it reads a prompt longer than the context in the target's chunks,
 * so that both caches hold keys and values computed with the same tokens in
 * view (a draft with the target's weights then proposes exactly the target's
 * tokens). With nDiscard <= K, the room left after a shift is nDiscard - 1
 * tokens, so rounds shrink (nDiscard = 1, the token-by-token window, leaves
 * none: plain decoding); the default nDiscard, half the cache, leaves full
 * rounds. The draft's context must be at least the target's (LLM checks it).
 */
import { feedPrompt, type AssistedStats, type BatchStepper, type Producer, type Stepper } from "./generate.js";
import type { ContextShift } from "./context-shift.js";
import type { Dist, Sampler } from "./sampler.js";
import { addon } from "../native.js";

function probOf(d: Dist, id: number): number {
  for (let j = 0; j < d.ids.length; j++) if (d.ids[j] === id) return d.p[j]!;
  return 0;
}

/**
 * One verification: the kept draft tokens and the target's token after them.
 * `p[i]`: the target's distribution at row i (i = 0..K); `q[i]`: the draft's for d[i].
 */
export function acceptDrafts(sampler: Sampler, d: number[], q: Dist[], p: Dist[]): number[] {
  for (let i = 0; i < d.length; i++) {
    const pd = probOf(p[i]!, d[i]!), qd = probOf(q[i]!, d[i]!);
    const keep = pd >= qd || (sampler.stochastic && sampler.uniform() * qd < pd);
    if (keep) continue;
    // rejected: draw from max(0, p - q)
    const ids = p[i]!.ids, w = new Float64Array(ids.length);
    let z = 0;
    for (let j = 0; j < ids.length; j++) z += w[j] = Math.max(0, p[i]!.p[j]! - probOf(q[i]!, ids[j]!));
    const t = z > 0 ? sampler.draw(ids, w) : sampler.draw(ids, p[i]!.p);
    return [...d.slice(0, i), t];
  }
  return [...d, sampler.draw(p[d.length]!.ids, p[d.length]!.p)];
}

/** At most `tokens` drafted per round, fewer where the draft's confidence falls below `confidence`. */
export interface DraftPlan {
  tokens: number;
  confidence: number;
}

/** The producer of runGeneration for a target and a draft stepper (with `cs`, shifting both caches). */
export function assistedProducer(target: BatchStepper, draft: BatchStepper, sampler: Sampler, seq: number[], plan: DraftPlan, cs?: ContextShift): Producer {
  const promptIds = seq.slice();
  const { tokens: draftTokens, confidence } = plan;
  const stats: AssistedStats = { draftTokens, draftConfidence: confidence, rounds: 0, proposed: 0, accepted: 0 };
  let dc = 0; // tokens of the cached view the draft holds
  const V = target.vocabSize;
  /** The cached view of seq from index `from` (positions from..): seq with the shifted-out tokens left out. */
  const view = (from: number): number[] => {
    const s = p.shifted, k = cs?.nKeep ?? 0;
    return s === 0 || from >= k ? seq.slice(from + s) : [...seq.slice(from, k), ...seq.slice(k + s)];
  };
  /** Drops the same tokens from both caches (the draft has caught up: it holds the target's cells); returns the cells freed. */
  const shiftBoth = (c: ContextShift): number => {
    target.shift(c.nKeep, c.nDiscard);
    draft.shift(c.nKeep, c.nDiscard);
    p.shifted += c.nDiscard;
    dc -= c.nDiscard;
    return c.nDiscard;
  };
  /** The target, with the draft fed the same cells before each of its steps. */
  const lockstep: Stepper = {
    ...target,
    step: async (ids, pos) => {
      if (dc > pos) {
        draft.rollback(dc - pos);
        dc = pos;
      }
      const end = pos + ids.length;
      if (end > dc) {
        await draft.step(view(dc).slice(0, end - dc), dc);
        dc = end; // after the prompt's last chunk the draft lags by the first new token only
      }
      return target.step(ids, pos);
    },
  };
  const p: Producer = {
    decodeNativeMs: 0,
    prefillTokens: 0,
    shifted: 0,
    stats,
    async first() {
      dc = draft.reuse(promptIds);
      const cached = target.reuse(promptIds);
      p.prefillTokens = promptIds.length - cached;
      // A prompt that does not fit is read in chunks with shifts between them; the draft reads the
      // same chunks, so that its cache holds what the target's does (keys and values computed with
      // the same tokens in view). A prompt that fits, the draft reads in the first round.
      const fits = promptIds.length <= target.contextLength;
      const { logits } = await feedPrompt(fits || !cs ? target : lockstep, promptIds, cached, target.contextLength, cs && (() => shiftBoth(cs)));
      return sampler.sample(logits, seq);
    },
    async next(max: number) {
      // L: the view's length; the target has cached L - 1 tokens and feeds seq's last at L - 1
      if (cs && seq.length - p.shifted - 1 >= target.contextLength) {
        // the draft first reads the tokens it lags by, so that both caches drop and keep the same
        // cells, computed with the same tokens in view
        const tc = seq.length - p.shifted - 1;
        if (dc < tc) {
          p.decodeNativeMs += (await draft.step(view(dc).slice(0, tc - dc), dc)).nativeMs;
          dc = tc;
        }
        shiftBoth(cs);
      }
      const L = seq.length - p.shifted;
      const maxK = Math.min(draftTokens, max - 1, target.contextLength - L, draft.contextLength - L + 1);
      // the draft proposes d[0..K), K <= maxK: it stops before a token it is not confident of
      const d: number[] = [], q: Dist[] = [];
      const hist = seq.slice();
      let feed = view(dc), pos = dc;
      while (d.length < maxK) {
        const r = await draft.step(feed, pos);
        p.decodeNativeMs += r.nativeMs;
        pos += feed.length;
        if (confidence > 0 && !(addon().topProb(r.logits) >= confidence)) break;
        const qi = sampler.dist(r.logits, hist);
        const di = sampler.stochastic ? sampler.draw(qi.ids, qi.p) : qi.ids[0]!;
        q.push(qi);
        d.push(di);
        hist.push(di);
        feed = [di];
      }
      dc = pos; // the draft has cached the view and the proposals it fed
      const K = d.length;
      if (K === 0) {
        const { logits, nativeMs } = await target.step([seq[seq.length - 1]!], L - 1);
        p.decodeNativeMs += nativeMs;
        return [sampler.sample(logits, seq)];
      }
      // the target scores seq's last token, d[0..K) in one step: rows 0..K
      const v = await target.stepAll([seq[seq.length - 1]!, ...d], L - 1);
      p.decodeNativeMs += v.nativeMs;
      const dists: Dist[] = [];
      for (let i = 0; i <= K; i++) dists.push(sampler.dist(v.logits.subarray(i * V, (i + 1) * V), [...seq, ...d.slice(0, i)]));
      const out = acceptDrafts(sampler, d, q, dists);
      const a = out.length - 1;
      target.rollback(K - a);
      // the draft keeps what it cached of seq[0, L) and the accepted proposals (it fed d[0..K-1), or d[0..K) when it stopped early)
      const keep = Math.min(L + a, pos);
      draft.rollback(pos - keep);
      dc = keep;
      stats.rounds++;
      stats.proposed += K;
      stats.accepted += a;
      return out;
    },
  };
  return p;
}
