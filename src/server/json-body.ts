/**
 * A request's JSON body: read up to a byte limit (413 past it), then parsed with its nesting
 * depth bounded. JSON.parse itself copes with any depth, but every later walk over the value
 * (JSON.stringify of a bad field for its error message, the chat template, structured clone
 * to the prompt worker) recurses, and 100,000 levels overflow the stack: a 500 where a 400 is
 * due. So the text is scanned first, brackets counted outside strings, and a body nested
 * deeper than the bound is a RequestError (400) before anything parses it.
 */
import type { IncomingMessage } from "node:http";
import { RequestError } from "../errors.js";

/** Deepest nesting a request body may have: OpenAI's bodies need 5 (messages[i].content[j]). */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22, BACKSLASH = 0x5c, OPEN_ARRAY = 0x5b, CLOSE_ARRAY = 0x5d, OPEN_OBJECT = 0x7b, CLOSE_OBJECT = 0x7d;

/** The index of the quote closing the string opened at `open` (text.length if none): indexOf runs long strings natively. */
function stringEnd(text: string, open: number): number {
  for (let q = open; ; ) {
    q = text.indexOf('"', q + 1);
    if (q < 0) return text.length;
    let b = q - 1;
    while (text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q; // an even run of backslashes escapes each other, not the quote
  }
}

/** The deepest nesting of arrays and objects in a JSON text, stopping once it passes `stopAbove`. */
export function jsonDepth(text: string, stopAbove = Infinity): number {
  let depth = 0, deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(text, i);
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > deepest && (deepest = depth) > stopAbove) return deepest;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return deepest;
}

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
