/** Stop-string matching over streamed text. */
import { InvalidOptionError } from "../errors.js";

export interface StopResult {
  /** Text that is safe to show now. */
  emit: string;
  /** True once a stop string matched; emit then excludes the stop and everything after. */
  stopped: boolean;
  /** The stop string that matched. */
  stop?: string;
}

/** Streams text through, holding back any tail that could be the start of a stop string. */
export class StopMatcher {
  private readonly stops: string[];
  private held = "";
  private done = false;

  constructor(stops: string[]) {
    if (!Array.isArray(stops)) throw new InvalidOptionError("stop must be an array of strings");
    for (const s of stops) {
      if (typeof s !== "string" || s.length === 0) {
        throw new InvalidOptionError(`stop strings must be non-empty strings, got ${JSON.stringify(s)}`);
      }
    }
    this.stops = [...new Set(stops)];
  }

  /** True once a stop string has matched. */
  get stopped(): boolean {
    return this.done;
  }

  /** Feed more text. After a match, further pushes emit nothing. */
  push(text: string): StopResult {
    if (this.done) return { emit: "", stopped: true };
    const buf = this.held + text;
    // Earliest complete match wins; on equal positions the longer stop string.
    let at = -1;
    let hit: string | undefined;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at || (i === at && s.length > hit!.length))) {
        at = i;
        hit = s;
      }
    }
    if (hit !== undefined) {
      this.done = true;
      this.held = "";
      return { emit: buf.slice(0, at), stopped: true, stop: hit };
    }
    const keep = this.partialTail(buf);
    this.held = buf.slice(buf.length - keep);
    return { emit: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** Held-back text at the end of the stream ("" if a stop matched). */
  flush(): string {
    const out = this.done ? "" : this.held;
    this.held = "";
    return out;
  }

  /** Length of the longest suffix of buf that is a proper prefix of some stop string. */
  private partialTail(buf: string): number {
    let best = 0;
    for (const s of this.stops) {
      for (let l = Math.min(s.length - 1, buf.length); l > best; l--) {
        if (buf.endsWith(s.slice(0, l))) {
          best = l;
          break;
        }
      }
    }
    return best;
  }
}
