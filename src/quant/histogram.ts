/**
 * Histograms of |x| as native calibration records them (native/src/act_stats.h):
 * bin b holds the values whose f32 bits (sign cleared) >> 16 equal b, i.e.
 * [lo(b), hi(b)) with hi / lo <= 1 + 2^-7. From such a histogram: the
 * expected squared error of symmetric int8 quantization at a given scale
 * (values taken as uniform within their bin), the scale minimizing it
 * (MSE-optimal clipping), and percentiles.
 */
export const HIST_BINS = 1 << 15;

const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);

/** lower edge of bin b */
export function binLo(b: number): number {
  u32[0] = b << 16;
  return f32[0]!;
}

/** upper edge of bin b (lower edge of b + 1) */
export function binHi(b: number): number {
  return binLo(b + 1);
}

/** the bin of |x| (as the native code computes it) */
export function binOf(x: number): number {
  f32[0] = x;
  return (u32[0]! & 0x7fffffff) >>> 16;
}

/** A histogram of |x| over `values` (what native collects for one matmul input). */
export function histogramOf(values: ArrayLike<number>): Float64Array {
  const h = new Float64Array(HIST_BINS);
  for (let i = 0; i < values.length; i++) h[binOf(values[i]!)]! += 1;
  return h;
}

/** bins holding finite values (inf and NaN land at 0x7f80 and above) */
const FINITE_BINS = 0x7f80;

/**
 * integral over [0, x] of e(t)^2, e(t) = t - step * min(round(t / step), qmax):
 * the squared error of the symmetric quantizer (codes -qmax..qmax) at scale step
 */
function sqErrIntegral(x: number, step: number, qmax: number): number {
  const x0 = (qmax + 0.5) * step;
  const periodic = (v: number): number => {
    const u = v / step;
    if (u < 0.5) return (v * v * v) / 3;
    const k = Math.floor(u + 0.5), d = u - k;
    return step * step * step * ((k - 0.5) / 12 + (d * d * d + 0.125) / 3);
  };
  if (x <= x0) return periodic(x);
  const c = qmax * step, a = x0 - c, b = x - c;
  return periodic(x0) + (b * b * b - a * a * a) / 3;
}

/** Expected sum of squared errors over the histogram's values, quantized at scale `step` (|q| <= qmax). */
export function histSquaredError(hist: Float64Array, step: number, qmax = 127): number {
  let s = 0;
  for (let b = 0; b < FINITE_BINS; b++) {
    const n = hist[b]!;
    if (!n) continue;
    const lo = binLo(b), hi = binHi(b);
    s += (n * (sqErrIntegral(hi, step, qmax) - sqErrIntegral(lo, step, qmax))) / (hi - lo);
  }
  return s;
}

/** largest finite value's bin upper edge (0 for an empty histogram) */
export function histMax(hist: Float64Array): number {
  for (let b = FINITE_BINS - 1; b >= 0; b--) if (hist[b]) return binHi(b);
  return 0;
}

/** sum of x^2 over the histogram's values (uniform within bins) */
export function histSumSquares(hist: Float64Array): number {
  let s = 0;
  for (let b = 0; b < FINITE_BINS; b++) {
    const n = hist[b]!;
    if (!n) continue;
    const lo = binLo(b), hi = binHi(b);
    s += (n * (hi * hi + hi * lo + lo * lo)) / 3;
  }
  return s;
}

/**
 * The value below which a fraction p of the histogram's values lie (interpolated
 * linearly within the bin where the cumulative count crosses p).
 */
export function histPercentile(hist: Float64Array, p: number): number {
  let total = 0;
  for (let b = 0; b < FINITE_BINS; b++) total += hist[b]!;
  if (!total) return 0;
  const want = p * total;
  let acc = 0;
  for (let b = 0; b < FINITE_BINS; b++) {
    const n = hist[b]!;
    if (!n) continue;
    if (acc + n >= want) return binLo(b) + ((want - acc) / n) * (binHi(b) - binLo(b));
    acc += n;
  }
  return histMax(hist);
}

/**
 * The int8 scale (clip / qmax) minimizing histSquaredError: clip thresholds on a
 * geometric grid of ratio 2^-7 from the largest value down to 1/4096 of it.
 */
export function mseOptimalScale(hist: Float64Array, qmax = 127): { scale: number; error: number } {
  const top = histMax(hist);
  if (!(top > 0)) return { scale: 1 / qmax, error: 0 };
  let best = { scale: top / qmax, error: histSquaredError(hist, top / qmax, qmax) };
  for (let c = top * (1 - 2 ** -7); c > top / 4096; c *= 1 - 2 ** -7) {
    const e = histSquaredError(hist, c / qmax, qmax);
    if (e < best.error) best = { scale: c / qmax, error: e };
  }
  return best;
}

/** Fraction of the histogram's values above `clip` (a bin straddling it counts by its overlap). */
export function histFractionAbove(hist: Float64Array, clip: number): number {
  let above = 0, total = 0;
  for (let b = 0; b < FINITE_BINS; b++) {
    const n = hist[b]!;
    if (!n) continue;
    total += n;
    const lo = binLo(b), hi = binHi(b);
    if (hi > clip) above += n * (lo >= clip ? 1 : (hi - clip) / (hi - lo));
  }
  return total ? above / total : 0;
}
