/**
 * Who may call the server: API keys and CORS.
 *
 * API keys (lowbit serve --api-key KEY, repeatable, --api-key-file FILE with one key per line):
 * every route but /health (and CORS preflights) needs `Authorization: Bearer KEY`. The key sent is
 * compared with every configured key through SHA-256 digests and crypto.timingSafeEqual: equal-length
 * inputs, no early exit, so the time taken says nothing about how much of a key matched or which
 * key it was. A missing or wrong key is a 401 in OpenAI's shape (code invalid_api_key).
 *
 * CORS (--cors ORIGIN, repeatable; `*` for any): a request whose Origin is allowed gets
 * Access-Control-Allow-Origin (the origin itself, or `*`), and an OPTIONS preflight on a route is
 * answered 204 with the methods and headers allowed. Without --cors, no CORS headers are sent.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { DataError, InvalidOptionError } from "../errors.js";

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    for (const k of keys) {
      if (typeof k !== "string" || k.trim() === "" || k !== k.trim()) throw new InvalidOptionError("an API key must be a non-empty string without surrounding spaces");
    }
    this.digests = keys.map(digest);
  }

  get size(): number {
    return this.digests.length;
  }

  /** Whether `key` is one of the keys: compared with all of them in constant time. */
  accepts(key: string | null): boolean {
    const d = digest(key ?? "");
    let ok = false;
    for (const k of this.digests) ok = timingSafeEqual(d, k) || ok; // no short circuit before the comparison
    return ok && key !== null;
  }

  /** The bearer token of a request (Authorization: Bearer KEY), or null. */
  static presented(req: IncomingMessage): string | null {
    const h = req.headers.authorization;
    if (typeof h !== "string") return null;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    return m ? m[1]! : null;
  }
}

/** The keys of an --api-key-file: one per line; blank lines and lines starting with # skipped. */
export function readApiKeyFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new DataError(`--api-key-file ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "not found" : (e as Error).message}`);
  }
  const keys = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  if (keys.length === 0) throw new DataError(`--api-key-file ${file} holds no key`);
  return keys;
}

export class Cors {
  private readonly any: boolean;
  private readonly origins: Set<string>;

  constructor(origins: readonly string[]) {
    for (const o of origins) {
      if (o !== "*" && !/^https?:\/\/[^/\s]+$/.test(o)) throw new InvalidOptionError(`a CORS origin is * or scheme://host[:port] with no path, got ${JSON.stringify(o)}`);
    }
    this.any = origins.includes("*");
    this.origins = new Set(origins);
  }

  /** Sets the Access-Control-Allow-Origin of an allowed origin; whether it was. */
  apply(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    if (typeof origin !== "string") return false;
    if (this.any) {
      res.setHeader("access-control-allow-origin", "*");
      return true;
    }
    res.setHeader("vary", "Origin");
    if (!this.origins.has(origin)) return false;
    res.setHeader("access-control-allow-origin", origin);
    return true;
  }

  /** Answers an OPTIONS preflight for a route allowing `methods`. */
  preflight(req: IncomingMessage, res: ServerResponse, methods: string[]): void {
    const allowed = this.apply(req, res);
    if (allowed) {
      res.setHeader("access-control-allow-methods", [...methods, "OPTIONS"].join(", "));
      const asked = req.headers["access-control-request-headers"];
      res.setHeader("access-control-allow-headers", typeof asked === "string" && asked.trim() !== "" ? asked : "authorization, content-type");
      res.setHeader("access-control-max-age", "600");
    }
    res.writeHead(204).end();
  }
}
