/** The fuzzer's primitives shared by every target's mutator: a mutant, its seeded PRNG, interesting integers, byte damage. */

export interface Mutant {
  /** what was changed, for reproducing a failure by hand */
  desc: string;
  /** writes the mutant into the empty directory `dir`; returns the path to give LLM.load */
  write(dir: string): string;
}

/** Base files shared by every mutant: the GGUF exports live in `dir`. */
export interface FuzzBases {
  dir: string;
}

/** A small fast PRNG (mulberry32) for one mutant's choices. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** an integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  /** a key of `weights` chosen in proportion to its weight */
  weighted<K extends string>(weights: Record<K, number>): K {
    const entries = Object.entries(weights) as [K, number][];
    let r = this.next() * entries.reduce((a, [, w]) => a + w, 0);
    for (const [k, w] of entries) if ((r -= w) < 0) return k;
    return entries[entries.length - 1]![0];
  }
}

/** Integers a parser is likely to mishandle, around `v` and at the type limits. */
export function interestingInt(rng: Rng, v: number | bigint): bigint {
  const b = BigInt(v);
  return rng.pick([
    0n, 1n, 2n, 3n, b - 1n, b + 1n, b * 2n, b / 2n, b * 1000n, 0x7fn, 0xffn, 0x7fffn, 0xffffn, 0xffffffn,
    0x7fffffffn, 0xffffffffn, 1n << 32n, 1000000000n, (1n << 53n) + 1n, 1n << 63n, (1n << 64n) - 1n,
    BigInt(rng.int(2 ** 32)),
  ]);
}

/** Byte-level damage shared by the targets: bit flips, a truncation, inserted or deleted bytes. */
export function damageBytes(rng: Rng, buf: Buffer, lo: number, hi: number): { out: Buffer; desc: string } {
  const at = lo + rng.int(Math.max(1, hi - lo));
  switch (rng.pick(["flip", "flip", "truncate", "insert", "delete"] as const)) {
    case "flip": {
      const out = Buffer.from(buf);
      const n = 1 + rng.int(4);
      const bits: string[] = [];
      for (let i = 0; i < n; i++) {
        const p = lo + rng.int(Math.max(1, hi - lo)), bit = rng.int(8);
        out[p] = out[p]! ^ (1 << bit);
        bits.push(`${p}.${bit}`);
      }
      return { out, desc: `bit flips at byte.bit ${bits.join(" ")}` };
    }
    case "truncate": return { out: buf.subarray(0, at), desc: `truncated to ${at} bytes` };
    case "insert": {
      const n = 1 + rng.int(8);
      return { out: Buffer.concat([buf.subarray(0, at), Buffer.alloc(n, rng.int(256)), buf.subarray(at)]), desc: `${n} bytes inserted at ${at}` };
    }
    case "delete": {
      const n = 1 + rng.int(8);
      return { out: Buffer.concat([buf.subarray(0, at), buf.subarray(at + n)]), desc: `${n} bytes deleted at ${at}` };
    }
  }
}
