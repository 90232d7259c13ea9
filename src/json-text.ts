/**
 * JSON text from model files (config.json, tokenizer.json, a safetensors
 * header) parsed with a bound on nesting depth. The depth is found by a cheap
 * linear scan of the text before JSON.parse, so nothing recursive (parsing,
 * JSON.stringify in a message, a library walking the object) ever runs on a
 * hostile file nested thousands deep; real model files nest less than 10 deep.
 */

/** Deepest nesting of arrays and objects accepted in a model's JSON file. */
export const MAX_JSON_DEPTH = 64;

/**
 * The character offset where `text` first nests deeper than `max` arrays and
 * objects (strings skipped), or -1 when it never does. Malformed text is left
 * to JSON.parse.
 */
export function jsonDepthExceeded(text: string, max: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
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
