/**
 * JSON text from model files (config.json, tokenizer.json, a safetensors
 * header) parsed with a bound on nesting depth. The depth is found by a cheap
 * linear scan of the text before JSON.parse, so nothing recursive (parsing,
 * JSON.stringify in a message, a library walking the object) ever runs on a
 * hostile file nested thousands deep; real model files nest less than 10 deep.
 */

/** Deepest nesting of arrays and objects accepted in a model's JSON file. */
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

/**
 * One linear pass over `text`, strings skipped: the deepest nesting of arrays
 * and objects, stopping at the first bracket that nests deeper than
 * `stopAbove` (its offset in `at`; -1 when none does). Malformed text is left
 * to JSON.parse.
 */
function scanDepth(text: string, stopAbove: number): { deepest: number; at: number } {
  let depth = 0, deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(text, i);
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > deepest && (deepest = depth) > stopAbove) return { deepest, at: i };
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return { deepest, at: -1 };
}

/** The character offset where `text` first nests deeper than `max` arrays and objects, or -1 when it never does. */
export function jsonDepthExceeded(text: string, max: number): number {
  return scanDepth(text, max).at;
}

/** The deepest nesting of arrays and objects in a JSON text, stopping once it passes `stopAbove`. */
export function jsonDepth(text: string, stopAbove = Infinity): number {
  return scanDepth(text, stopAbove).deepest;
}

/**
 * JSON.parse of `text`, after the depth check. Any failure becomes
 * `fail(message, cause)` (the caller's typed error); `what` names the file.
 */
export function parseJsonText(text: string, what: string, fail: (message: string, cause?: unknown) => Error): unknown {
  const at = jsonDepthExceeded(text, MAX_JSON_DEPTH);
  if (at >= 0) throw fail(`${what}: JSON nested more than ${MAX_JSON_DEPTH} deep (at character ${at})`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw fail(`${what}: invalid JSON: ${(e as Error).message}`, e);
  }
}

/** A short description of a JSON value for an error message (never recursive). */
export function shownJson(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v);
  if (v === null || typeof v !== "object") return String(v);
  return Array.isArray(v) ? `an array of ${v.length}` : "an object";
}
