/**
 * The check of a downloaded file against the Hub's listing: its size, and its
 * LFS sha256 (large files) or else its git blob id (sha1 of "blob <size>\0" +
 * content, what the listing's `oid` is for small files). Fed incrementally, so a
 * resumed download hashes the kept part once and then the new bytes as they come.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { HubFile } from "./select.js";

export class FileDigest {
  readonly algorithm: "sha256" | "git-sha1" | "size";
  readonly expected: string | undefined;
  private readonly hash: Hash | undefined;
  bytes = 0;

  constructor(readonly file: HubFile) {
    if (file.sha256) {
      this.algorithm = "sha256";
      this.expected = file.sha256.toLowerCase();
      this.hash = createHash("sha256");
    } else if (file.gitSha1) {
      this.algorithm = "git-sha1";
      this.expected = file.gitSha1.toLowerCase();
      this.hash = createHash("sha1").update(`blob ${file.size}\0`);
    } else {
      this.algorithm = "size";
      this.expected = undefined;
      this.hash = undefined;
    }
  }

  update(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    this.hash?.update(chunk);
  }

  /** Feeds the first `length` bytes of a file (the kept part of a partial download). */
  async updateFromFile(path: string, length: number): Promise<void> {
    if (length === 0) return;
    for await (const chunk of createReadStream(path, { start: 0, end: length - 1 })) this.update(chunk as Buffer);
  }

  /** null when the bytes are the listed file; else what differs. */
  mismatch(): string | null {
    if (this.bytes !== this.file.size) return `${this.bytes} bytes, the Hub lists ${this.file.size}`;
    if (!this.hash) return null;
    const got = this.hash.digest("hex");
    return got === this.expected ? null : `${this.algorithm} ${got}, the Hub lists ${this.expected}`;
  }
}
