/**
 * Token sampling with HF-transformers semantics: repetition penalty, then greedy
 * (temperature 0) or temperature -> top-k -> top-p -> min-p -> seeded draw.
 */
import { getRandomValues } from "node:crypto";
import { checkGenerationNumbers, SAMPLING_KEYS } from "./config.js";
import { addon } from "../native.js";

export interface SamplingOptions {
  /** 0 or undefined = greedy argmax. */
  temperature?: number;
  /** Keep the k highest logits (ties with the k-th kept); 0 = off. */
  topK?: number;
  /** Nucleus sampling: smallest set with cumulative prob >= topP; 1 = off. */
  topP?: number;
  /** Drop tokens with prob < minP * maxProb; 0 = off. */
  minP?: number;
  /** CTRL-style penalty for ids in the history; 1 = off. */
  repetitionPenalty?: number;
  /** PRNG seed (safe integer); random when omitted. */
  seed?: number;
}

/** Throws InvalidOptionError naming the first out-of-range option (the ranges: generate/config.ts). */
export function validateSamplingOptions(o: SamplingOptions): void {
  checkGenerationNumbers(o, SAMPLING_KEYS);
}

/** murmur3 finalizer: a good 32-bit mixer, used to expand the seed. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** xoshiro128** PRNG; 53-bit floats in [0, 1). */
export class Xoshiro128 {
  private s = new Uint32Array(4);

  constructor(seed?: number) {
    if (seed === undefined) {
      getRandomValues(this.s);
    } else {
      const lo = seed >>> 0;
      const hi = Math.floor(seed / 4294967296) >>> 0; // two's complement high word for negatives
      let x = lo;
      for (let i = 0; i < 4; i++) {
        x = (x + 0x9e3779b9) >>> 0; // splitmix-style increment
        this.s[i] = fmix32(x ^ fmix32(hi + i));
      }
    }
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }

  nextU32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }

  nextFloat(): number {
    return ((this.nextU32() >>> 5) * 67108864 + (this.nextU32() >>> 6)) / 9007199254740992;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Index of the largest value (lowest index on ties; NaN never wins unless all are NaN). */
export function argmax(x: ArrayLike<number>): number {
  // Float32Array logits (the per-token hot path of greedy decoding) use the
  // native loop, the same semantics as argmaxAny.
  return x instanceof Float32Array ? addon().argmax(x) : argmaxAny(x);
}

function argmaxAny(x: ArrayLike<number>): number {
  let best = 0;
  let bv = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (x[i]! > bv) {
      bv = x[i]!;
      best = i;
    }
  }
  return best;
}

/** k-th largest finite value of x via a size-k min-heap: O(V log k). */
function kthLargest(x: Float32Array, k: number): number {
  const heap = new Float64Array(k);
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (!(v > -Infinity)) continue; // skips -Infinity and NaN
    if (n < k) {
      let c = n++; // sift up
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (heap[p] <= v) break;
        heap[c] = heap[p];
        c = p;
      }
      heap[c] = v;
    } else if (v > heap[0]) {
      let c = 0; // replace root, sift down
      for (;;) {
        let m = 2 * c + 1;
        if (m >= k) break;
        if (m + 1 < k && heap[m + 1] < heap[m]) m++;
        if (heap[m] >= v) break;
        heap[c] = heap[m];
        c = m;
      }
      heap[c] = v;
    }
  }
  return n === 0 ? -Infinity : heap[0];
}

/** A sampling distribution over a subset of the vocabulary: p[j] is the probability of ids[j]. */
export interface Dist {
  ids: Int32Array;
  p: Float64Array;
}

export class Sampler {
  private readonly opts: SamplingOptions;
  private readonly rng: Xoshiro128;
  private idx = new Int32Array(0);
  private w = new Float64Array(0);
  private tmp = new Float64Array(0);
  private pen = new Float32Array(0);

  constructor(opts: SamplingOptions) {
    validateSamplingOptions(opts);
    this.opts = { ...opts };
    this.rng = new Xoshiro128(opts.seed);
  }

  /** Choose the next id. `logits` is not modified; `history` feeds the repetition penalty. */
  sample(logits: Float32Array, history: ArrayLike<number>): number {
    const c = this.candidates(logits, history);
    if (typeof c === "number") return c;
    const [n, z] = c;
    const idx = this.idx;
    const w = this.w;
    let r = this.rng.nextFloat() * z;
    for (let j = 0; j < n; j++) {
      r -= w[j];
      if (r < 0) return idx[j];
    }
    return idx[n - 1]; // rounding: r landed on the total
  }

  /**
   * The distribution `sample` draws from, as (ids, probabilities summing to 1); greedy
   * (temperature 0) is the one-hot distribution of the argmax. For assisted generation's
   * speculative sampling (assisted.ts). Consumes no random numbers.
   */
  dist(logits: Float32Array, history: ArrayLike<number>): Dist {
    const c = this.candidates(logits, history);
    if (typeof c === "number") return { ids: Int32Array.of(c), p: Float64Array.of(1) };
    const [n, z] = c;
    const p = new Float64Array(n);
    for (let j = 0; j < n; j++) p[j] = this.w[j] / z;
    return { ids: this.idx.slice(0, n), p };
  }

  /** Whether draws need random numbers (temperature > 0). */
  get stochastic(): boolean {
    return !!this.opts.temperature;
  }

  /**
   * Whether draws are truncated (topK, topP < 1 or minP): without truncation, drawing from all
   * logits and redrawing from a masked copy when the draw falls outside the mask gives exactly the
   * masked distribution (p(t) + (1 - p(A)) p(t) / p(A) = p(t) / p(A)), which grammars use.
   */
  get truncates(): boolean {
    const { topK, topP, minP } = this.opts;
    return !!topK || (topP !== undefined && topP < 1) || !!minP;
  }

  /** A uniform number in [0, 1) from this sampler's seeded generator. */
  uniform(): number {
    return this.rng.nextFloat();
  }

  /** Draws from (ids, weights) with this sampler's generator (weights need not sum to 1). */
  draw(ids: ArrayLike<number>, w: ArrayLike<number>): number {
    let z = 0;
    for (let j = 0; j < w.length; j++) z += w[j];
    let r = this.rng.nextFloat() * z;
    let last = -1;
    for (let j = 0; j < w.length; j++) {
      if (!(w[j] > 0)) continue;
      last = ids[j];
      r -= w[j];
      if (r < 0) return ids[j];
    }
    return last;
  }

  /** Greedy id (a number), or the candidate count and total weight in this.idx / this.w. */
  private candidates(logits: Float32Array, history: ArrayLike<number>): number | [number, number] {
    const { temperature, topK, topP, minP, repetitionPenalty: rp } = this.opts;
    const V = logits.length;
    let x = logits;
    if (rp !== undefined && rp !== 1 && history.length > 0) {
      if (this.pen.length !== V) this.pen = new Float32Array(V);
      x = this.pen;
      x.set(logits);
      for (let j = 0; j < history.length; j++) {
        const id = history[j];
        if (!(id >= 0 && id < V)) continue;
        const l = logits[id]; // from the original, so repeated ids are penalized once
        x[id] = l > 0 ? l / rp : l * rp;
      }
    }
    if (!temperature) return argmax(x);

    // Candidates: finite logits (>= k-th largest when topK is on), weights exp((x - max) / T).
    const maxV = x[argmax(x)];
    if (!(maxV > -Infinity) || maxV === Infinity) return argmax(x); // nothing finite to weigh
    const floorV = topK && topK < V ? kthLargest(x, topK) : -Infinity;
    if (this.idx.length < V) {
      this.idx = new Int32Array(V);
      this.w = new Float64Array(V);
    }
    const idx = this.idx;
    const w = this.w;
    // Weights below e^-40 (total < V * 4e-18 of the mass) are dropped without calling exp.
    const lowV = Math.max(floorV, maxV - 40 * temperature);
    let n = 0;
    let z = 0;
    for (let i = 0; i < V; i++) {
      const v = x[i];
      if (v >= lowV && v > -Infinity) {
        const e = Math.exp((v - maxV) / temperature);
        idx[n] = i;
        w[n++] = e;
        z += e;
      }
    }
    if (topP !== undefined && topP < 1) [n, z] = this.topP(n, z, topP);
    if (minP) {
      // The max token has weight exactly 1, so the threshold minP * maxProb is minP in weight units.
      let m = 0;
      z = 0;
      for (let j = 0; j < n; j++) {
        if (w[j] >= minP) {
          idx[m] = idx[j];
          w[m++] = w[j];
          z += w[j];
        }
      }
      n = m;
    }
    return [n, z];
  }

  /**
   * Keep the smallest highest-prob set with cumulative prob >= p (at least one token).
   * Finds the cut weight by quickselect on cumulative mass (3-way partitions of a copy
   * of the weights): expected O(n), no full sort. Ties at the cut keep the lowest ids.
   */
  private topP(n: number, z: number, p: number): [number, number] {
    const idx = this.idx;
    const w = this.w;
    if (this.tmp.length < n) this.tmp = new Float64Array(this.w.length);
    const a = this.tmp;
    a.set(w.subarray(0, n));
    let need = p * z; // mass still to cover from a[lo..hi)
    let lo = 0;
    let hi = n;
    let cut = -1;
    let ties = 0;
    while (cut < 0 && hi - lo > 32) {
      const x = a[lo], y = a[(lo + hi) >> 1], q = a[hi - 1];
      const pv = Math.max(Math.min(x, y), Math.min(Math.max(x, y), q)); // median of three
      let gt = lo, i = lo, lt = hi; // [lo,gt) > pv, [gt,i) == pv, [lt,hi) < pv
      let sumGt = 0;
      while (i < lt) {
        const v = a[i];
        if (v > pv) {
          a[i++] = a[gt];
          a[gt++] = v;
          sumGt += v;
        } else if (v < pv) {
          a[i] = a[--lt];
          a[lt] = v;
        } else i++;
      }
      if (sumGt >= need) hi = gt;
      else if (sumGt + (lt - gt) * pv >= need) {
        cut = pv;
        for (let rest = need - sumGt; ties < lt - gt && rest > 0; ties++) rest -= pv;
      } else {
        need -= sumGt + (lt - gt) * pv;
        lo = lt;
      }
    }
    if (cut < 0) {
      const seg = a.subarray(lo, hi).sort(); // ascending: walk from the top
      let k = seg.length - 1;
      for (; k > 0; k--) if ((need -= seg[k]) <= 0) break;
      cut = seg[k];
      for (let q = k; q < seg.length && seg[q] === cut; q++) ties++;
    }
    let m = 0;
    z = 0;
    for (let j = 0; j < n; j++) {
      const v = w[j];
      if (v > cut || (v === cut && ties-- > 0)) {
        idx[m] = idx[j];
        w[m++] = v;
        z += v;
      }
    }
    return [m, z];
  }
}
