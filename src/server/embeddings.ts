/**
 * POST /v1/embeddings (OpenAI's shape): `input` a string, a list of strings, a list of token ids or
 * a list of such lists (at most 256 inputs); `encoding_format` "float" (default) or "base64"
 * (little-endian float32, what the openai client asks for); llama.cpp-style extensions `pooling`
 * ("mean", default, "last", "cls") and `normalize` (default true). Each input is embedded by
 * LLM.embed: the final hidden states pooled (embed/pooling.ts). Texts are tokenized on the prompt
 * worker like any prompt, with BOS / EOS added as the tokenizer adds them.
 */
import { RequestError } from "../errors.js";
import type { LLM } from "../llm.js";
import type { Pooling } from "../embed/pooling.js";

export interface EmbeddingsRequest {
  inputs: (string | number[])[];
  base64: boolean;
  pooling: Pooling;
  normalize: boolean;
  model: string | null;
}

const MAX_INPUTS = 256;
const isIds = (x: unknown): x is number[] => Array.isArray(x) && x.length > 0 && x.every((v) => Number.isSafeInteger(v) && (v as number) >= 0);

export function parseEmbeddingsRequest(body: unknown): EmbeddingsRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new RequestError("the request body must be a JSON object");
  const b = body as Record<string, unknown>;
  const v = b.input;
  let inputs: (string | number[])[];
  if (typeof v === "string") inputs = [v];
  else if (isIds(v)) inputs = [v];
  else if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string" || isIds(x))) inputs = v as (string | number[])[];
  else throw new RequestError("input must be a string, an array of strings, an array of token ids or an array of such arrays", "input");
  if (inputs.length > MAX_INPUTS) throw new RequestError(`input has ${inputs.length} entries; at most ${MAX_INPUTS}`, "input");
  if (inputs.some((x) => x === "")) throw new RequestError("input must not contain empty strings", "input");
  const fmt = b.encoding_format ?? "float";
  if (fmt !== "float" && fmt !== "base64") throw new RequestError('encoding_format must be "float" or "base64"', "encoding_format");
  if (b.dimensions !== undefined && b.dimensions !== null) throw new RequestError("dimensions is not supported (the vector has the model's hidden size)", "dimensions");
  const pooling = b.pooling ?? "mean";
  if (pooling !== "mean" && pooling !== "last" && pooling !== "cls") throw new RequestError('pooling must be "mean", "last" or "cls"', "pooling");
  if (b.normalize !== undefined && typeof b.normalize !== "boolean") throw new RequestError("normalize must be a boolean", "normalize");
  if (b.model !== undefined && typeof b.model !== "string") throw new RequestError("model must be a string", "model");
  return { inputs, base64: fmt === "base64", pooling, normalize: (b.normalize as boolean | undefined) ?? true, model: typeof b.model === "string" ? b.model : null };
}

/** The ids of a text input as LLM.embed reads a text: with BOS / EOS where the tokenizer adds them. */
export function withSpecials(llm: LLM, ids: number[]): number[] {
  const t = llm.tokenizer;
  return [...(t.addBosToken ? [t.bosTokenId!] : []), ...ids, ...(t.addEosToken ? [t.eosTokenId!] : [])];
}

/** OpenAI's embeddings response. */
export function embeddingsResponse(model: string, vectors: Float32Array[], promptTokens: number, base64: boolean) {
  return {
    object: "list",
    data: vectors.map((v, index) => ({
      object: "embedding",
      index,
      embedding: base64 ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") : Array.from(v),
    })),
    model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}
