/**
 * A bounded, buffered little-endian reader over a file descriptor, for the
 * GGUF header. It never reads past the file size taken at open time, reads the
 * file through one small window (at most 64 KiB, less for a smaller file), and
 * allocates for a string or array only after its length has been checked
 * against the bytes left in the file. Every failure is a GgufError naming the
 * file, the byte offset and what was being read.
 */
import * as fs from "node:fs";
import { GgufError } from "../errors.js";

const WINDOW = 64 * 1024;

/** Strict UTF-8 that keeps a leading U+FEFF (GGUF strings are raw text, not documents). */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export class FdCursor {
  /** absolute offset of the next byte to read */
  pos = 0;
  private readonly win: Buffer;
  private winStart = 0;
  private winLen = 0;

  constructor(readonly fd: number, readonly file: string, readonly size: number) {
    this.win = Buffer.alloc(Math.max(8, Math.min(WINDOW, size)));
  }

  /** Bytes between the cursor and the end of the file. */
  remaining(): number {
    return this.size - this.pos;
  }

  /** Throw a GgufError "<file>: at byte <at>: <msg>". */
  fail(msg: string, at = this.pos): never {
    throw new GgufError(`${this.file}: at byte ${at}: ${msg}`);
  }

  /** Fail unless `n` more bytes exist after the cursor (`what`, `index` and `suffix` name them). */
  private need(n: number, what: string, index?: number, suffix = ""): void {
    if (n > this.size - this.pos) {
      const name = label(what, index) + suffix;
      this.fail(`truncated: ${name} needs ${n} bytes but the file (${this.size} bytes) ends after ${this.size - this.pos}`);
    }
  }

  /** Read exactly `dst.length` bytes at `pos` straight from the file. */
  private readRaw(dst: Uint8Array, pos: number, what: string): void {
    let done = 0;
    while (done < dst.length) {
      let n: number;
      try {
        n = fs.readSync(this.fd, dst, done, Math.min(dst.length - done, 1 << 30), pos + done);
      } catch (e) {
        throw new GgufError(`${this.file}: at byte ${pos + done}: cannot read ${what}: ${(e as Error).message}`, { cause: e });
      }
      if (n === 0) this.fail(`file ended early while reading ${what} (did it change since it was opened?)`, pos + done);
      done += n;
    }
  }

  /** Make [pos, pos + n) available in the window (n <= window size) and return its start in the window. */
  private window(n: number, what: string, index?: number, suffix?: string): number {
    this.need(n, what, index, suffix);
    if (this.pos < this.winStart || this.pos + n > this.winStart + this.winLen) {
      const len = Math.min(this.win.length, this.size - this.pos);
      this.readRaw(this.win.subarray(0, len), this.pos, what);
      this.winStart = this.pos;
      this.winLen = len;
    }
    return this.pos - this.winStart;
  }

  u8(what: string): number {
    const o = this.window(1, what);
    this.pos += 1;
    return this.win[o]!;
  }

  u32(what: string): number {
    const o = this.window(4, what);
    this.pos += 4;
    return this.win.readUInt32LE(o);
  }

  u64(what: string): bigint {
    const o = this.window(8, what);
    this.pos += 8;
    return this.win.readBigUInt64LE(o);
  }

  /** A fixed-size scalar of 1, 2, 4 or 8 bytes, decoded by `read` from the window. */
  scalar<T>(n: 1 | 2 | 4 | 8, what: string, read: (b: Buffer, o: number) => T): T {
    const o = this.window(n, what);
    this.pos += n;
    return read(this.win, o);
  }

  /**
   * A u64 length or count (`what`, `index` and `suffix` name it) that must
   * satisfy count * unit <= bytes left, so whatever it describes fits in the
   * file; returned as a safe number.
   */
  count(what: string, unit: number, noun: string, index?: number, suffix = ""): number {
    const at = this.pos;
    const o = this.window(8, what, index, suffix);
    this.pos += 8;
    const left = this.size - this.pos;
    // Fast path (no BigInt): a high word of 0 and a product exact in doubles.
    const lo = this.win.readUInt32LE(o), hi = this.win.readUInt32LE(o + 4);
    if (hi === 0 && lo * unit <= left) return lo;
    const c = this.win.readBigUInt64LE(o);
    if (c * BigInt(unit) > BigInt(left)) {
      const each = unit === 1 ? "" : ` (at least ${unit} bytes each)`;
      this.fail(`${label(what, index)}${suffix}: ${c} ${noun}${each} cannot fit in the ${left} bytes left in the file`, at);
    }
    return Number(c);
  }

  /** Copy the next `dst.length` bytes (already checked to fit) into `dst`. */
  readInto(dst: Uint8Array, what: string): void {
    this.need(dst.length, what);
    let done = 0;
    // Whatever the window already holds, then the rest straight from the file.
    if (this.pos >= this.winStart && this.pos < this.winStart + this.winLen) {
      const o = this.pos - this.winStart;
      done = Math.min(dst.length, this.winLen - o);
      dst.set(this.win.subarray(o, o + done), 0);
    }
    if (done < dst.length) this.readRaw(dst.subarray(done), this.pos + done, what);
    this.pos += dst.length;
  }

  /**
   * A GGUF string: u64 byte length (bounded by the bytes left, and by `max` if
   * given), then UTF-8. `index`, if given, is appended to `what` in messages
   * (so reading a 150k-entry vocabulary builds no label per entry).
   */
  string(what: string, max?: number, index?: number): string {
    const at = this.pos;
    const len = this.count(what, 1, "bytes", index, " string length");
    if (max !== undefined && len > max) this.fail(`${label(what, index)} is ${len} bytes long (at most ${max} allowed)`, at);
    let bytes: Uint8Array;
    if (len <= this.win.length) {
      const o = this.window(len, what, index);
      this.pos += len;
      // ASCII (most tokens and keys): no decoder needed.
      let ascii = true;
      for (let i = o; i < o + len; i++) {
        if (this.win[i]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) return this.win.toString("latin1", o, o + len);
      bytes = new Uint8Array(this.win.buffer, this.win.byteOffset + o, len);
    } else {
      bytes = allocBytes(this, len, what);
      this.readInto(bytes, what);
    }
    try {
      return UTF8.decode(bytes);
    } catch (e) {
      if (e instanceof TypeError) this.fail(`${label(what, index)} is not valid UTF-8 (${len} bytes at byte ${at + 8})`, at);
      return this.fail(`cannot decode ${label(what, index)} (${len} bytes): ${(e as Error).message}`, at);
    }
  }
}

/** `what`, or `what[index]` for an array item. */
function label(what: string, index: number | undefined): string {
  return index === undefined ? what : `${what}[${index}]`;
}

/** Allocate `n` bytes (already bounded by the file size), as a GgufError if the JS heap refuses. */
export function allocBytes(cur: FdCursor, n: number, what: string): Uint8Array {
  try {
    return new Uint8Array(n);
  } catch (e) {
    return cur.fail(`cannot allocate ${n} bytes for ${what}: ${(e as Error).message}`);
  }
}
