/**
 * A request's JSON body: read up to a byte limit (413 past it), then parsed with its nesting
 * depth bounded. JSON.parse itself copes with any depth, but every later walk over the value
 * (JSON.stringify of a bad field for its error message, the chat template, structured clone
 * to the prompt worker) recurses, and 100,000 levels overflow the stack: a 500 where a 400 is
 * due. So the text is scanned first (json-text.ts's jsonDepth, the scan model files get too), and a body nested
 * deeper than the bound is a RequestError (400) before anything parses it.
 */
import type { IncomingMessage } from "node:http";
import { RequestError } from "../errors.js";
import { jsonDepth } from "../json-text.js";

/** Deepest nesting a request body may have: OpenAI's bodies need 5 (messages[i].content[j]). */
export const MAX_JSON_DEPTH = 64;

/** JSON.parse with the nesting bounded; a RequestError (400) for either failure. */
export function parseJsonBody(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (jsonDepth(text, maxDepth) > maxDepth) throw new RequestError(`the request body nests deeper than ${maxDepth} levels`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RequestError(`the request body is not valid JSON: ${(e as Error).message}`);
  }
}

/** Bodies from this size on go to `parseLarge` (the prompt worker) when there is one. */
export const LARGE_BODY_BYTES = 64 * 1024;

/**
 * Reads and parses a request body of at most `limit` bytes (RequestError 413 past it); one of
 * LARGE_BODY_BYTES or more by `parseLarge` when given (the same parse, on another thread).
 */
export function readJsonBody(req: IncomingMessage, limit: number, parseLarge?: (bytes: Buffer, maxDepth: number) => Promise<unknown>, maxDepth = MAX_JSON_DEPTH): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (b: Buffer) => {
      size += b.length;
      if (size > limit) {
        reject(new RequestError(`the request body exceeds ${limit} bytes`, null, 413));
        req.removeAllListeners("data");
        req.resume(); // drain the rest unread
        return;
      }
      parts.push(b);
    });
    req.on("error", reject);
    req.on("end", () => {
      if (size > limit) return; // refused already
      try {
        const bytes = Buffer.concat(parts);
        resolve(parseLarge && bytes.length >= LARGE_BODY_BYTES ? parseLarge(bytes, maxDepth) : parseJsonBody(bytes.toString("utf8"), maxDepth));
      } catch (e) {
        reject(e);
      }
    });
  });
}
