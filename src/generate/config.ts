/**
 * The generation config's numeric fields, defined once: what the library
 * accepts (LLM.generate, through validateGenerateOptions), the flag that sets
 * each in the CLI (`lowbit generate --top-k 40`). The CLI and the server
 * (server/request.ts, which maps its OpenAI-style keys such as "top_k" to
 * these fields) only turn their text or JSON into numbers; the range checks
 * and the messages are these, named as the caller names the field.
 */
import { InvalidOptionError } from "../errors.js";

export type GenerationNumberKey =
  | "maxNewTokens"
  | "temperature"
  | "topK"
  | "topP"
  | "minP"
  | "repetitionPenalty"
  | "seed"
  | "draftTokens"
  | "draftConfidence"
  | "logprobs"
  | "promptLookup"
  | "promptLookupNgram";

export interface GenerationNumberField {
  key: GenerationNumberKey;
  /** must be a safe integer */
  int: boolean;
  /** the accepted range (after the integer / finiteness check) */
  ok: (x: number) => boolean;
  /** the accepted range in words, for the error message */
  want: string;
  /** the CLI flag */
  flag: string;
  /** a narrower range the OpenAI API itself documents for this key (clients validated against OpenAI expect it) */
  apiRange?: { ok: (x: number) => boolean; want: string };
}

const field = (f: GenerationNumberField) => f;

/** Every numeric generation option, in the order the CLI documents them. */
export const GENERATION_NUMBERS = {
  maxNewTokens: field({ key: "maxNewTokens", int: true, ok: (x) => x >= 0, want: "an integer >= 0", flag: "--max-new-tokens" }),
  temperature: field({
    key: "temperature", int: false, ok: (x) => x >= 0, want: "a number >= 0", flag: "--temperature",
    apiRange: { ok: (x) => x >= 0 && x <= 2, want: "a number in [0, 2]" },
  }),
  topK: field({ key: "topK", int: true, ok: (x) => x >= 0, want: "an integer >= 0", flag: "--top-k" }),
  topP: field({ key: "topP", int: false, ok: (x) => x > 0 && x <= 1, want: "a number in (0, 1]", flag: "--top-p" }),
  minP: field({ key: "minP", int: false, ok: (x) => x >= 0 && x < 1, want: "a number in [0, 1)", flag: "--min-p" }),
  repetitionPenalty: field({ key: "repetitionPenalty", int: false, ok: (x) => x > 0, want: "a number > 0", flag: "--repetition-penalty" }),
  seed: field({ key: "seed", int: true, ok: () => true, want: "an integer", flag: "--seed" }),
  draftTokens: field({ key: "draftTokens", int: true, ok: (x) => x >= 1 && x <= 64, want: "an integer in [1, 64]", flag: "--draft-tokens" }),
  draftConfidence: field({ key: "draftConfidence", int: false, ok: (x) => x >= 0 && x < 1, want: "a number in [0, 1)", flag: "--draft-confidence" }),
  // the request keys differ by endpoint (completions: logprobs; chat: top_logprobs): request.ts names them
  logprobs: field({ key: "logprobs", int: true, ok: (x) => x >= 0 && x <= 20, want: "an integer in [0, 20]", flag: "--logprobs" }),
  promptLookup: field({ key: "promptLookup", int: true, ok: (x) => x >= 1 && x <= 64, want: "an integer in [1, 64]", flag: "--lookup" }),
  promptLookupNgram: field({ key: "promptLookupNgram", int: true, ok: (x) => x >= 1 && x <= 16, want: "an integer in [1, 16]", flag: "--lookup-ngram" }),
} as const satisfies Record<GenerationNumberKey, GenerationNumberField>;

/** A value quoted in an error message: its JSON (or String), cut to 40 characters. */
export function shownValue(v: unknown): string {
  let s: string;
  try {
    s = typeof v === "number" ? String(v) : JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}

/**
 * Checks one value of a field; undefined passes. `name` is how the caller
 * calls it (the option key, the CLI flag or the request key); `api` applies the
 * request body's narrower range where the field has one; `shown` is the value
 * as the message quotes it (the CLI quotes the flag's text).
 */
export function checkGenerationNumber(f: GenerationNumberField, v: unknown, name: string = f.key, api = false, shown: string = shownValue(v)): number | undefined {
  if (v === undefined) return undefined;
  const range = api && f.apiRange ? f.apiRange : f;
  if (typeof v !== "number" || !Number.isFinite(v) || (f.int && !Number.isSafeInteger(v)) || !range.ok(v)) {
    throw new InvalidOptionError(`${name} must be ${range.want}, got ${shown}`);
  }
  return v;
}

/** Checks the named numeric fields of an options object (the library's names). */
export function checkGenerationNumbers(o: Partial<Record<GenerationNumberKey, unknown>>, keys: readonly GenerationNumberKey[]): void {
  for (const k of keys) checkGenerationNumber(GENERATION_NUMBERS[k], o[k]);
}

export const SAMPLING_KEYS = ["temperature", "topK", "topP", "minP", "repetitionPenalty", "seed"] as const satisfies readonly GenerationNumberKey[];
