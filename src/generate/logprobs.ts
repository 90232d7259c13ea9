/**
 * Log-probabilities of generated tokens (GenerateOptions.logprobs): for each new token, its
 * log-probability and the `k` most likely tokens at that step, from the model's raw logits
 * (before the repetition penalty, temperature and truncation the sampler applies: the model's own
 * distribution, as OpenAI and llama.cpp report it). A stable log-softmax: the max is subtracted
 * before exp and the sum is taken in float64, so huge or tiny logits neither overflow nor vanish.
 */

export interface TokenAlternative {
  id: number;
  /** the token's text (the tokenizer's decoding of it alone) */
  token: string;
  /** natural log of its probability */
  logprob: number;
}

/** A generated token's log-probability and the step's `top` most likely tokens, most likely first. */
export interface TokenLogprob extends TokenAlternative {
  top: TokenAlternative[];
}

/** The most alternatives a step may report (OpenAI's top_logprobs bound). */
export const MAX_TOP_LOGPROBS = 20;

/** The max m and log(sum(exp(logits - m))): log p(i) = (logits[i] - m) - logZ, exact even where m + logZ would round. */
function normalizer(logits: ArrayLike<number>): { m: number; logZ: number } {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > m) m = logits[i]!;
  if (m === -Infinity || !Number.isFinite(m)) return { m, logZ: 0 };
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += Math.exp(logits[i]! - m);
  return { m, logZ: Math.log(s) };
}

/** log(sum(exp(logits))), stably; -Infinity when nothing is finite. */
export function logSumExp(logits: ArrayLike<number>): number {
  const { m, logZ } = normalizer(logits);
  return m + logZ;
}

/** The chosen id's log-probability and the k largest (lower id first on ties), without texts. */
export function stepLogprobs(logits: ArrayLike<number>, chosen: number, k: number): { id: number; logprob: number; top: { id: number; logprob: number }[] } {
  const { m, logZ } = normalizer(logits);
  const lp = (id: number) => logits[id]! - m - logZ;
  // the k best ids, kept sorted by (logit desc, id asc)
  const best: number[] = [];
  for (let i = 0; i < logits.length && k > 0; i++) {
    const x = logits[i]!;
    if (Number.isNaN(x)) continue;
    if (best.length === k && !(x > logits[best[k - 1]!]!)) continue;
    let j = best.length === k ? k - 1 : best.length;
    while (j > 0 && x > logits[best[j - 1]!]!) j--;
    best.splice(j, 0, i);
    if (best.length > k) best.pop();
  }
  return { id: chosen, logprob: lp(chosen), top: best.map((id) => ({ id, logprob: lp(id) })) };
}
