/**
 * A request's structured-output fields to GenerateOptions (grammar/constraint.ts):
 *
 *   response_format: { type: "text" }
 *                  | { type: "json_object" }                                  (any JSON object)
 *                  | { type: "json_schema", json_schema: { name, schema, strict } }   (OpenAI)
 *   grammar: "root ::= ..."                                                   (llama.cpp's server)
 *
 * The schema or grammar is converted and parsed here, so a bad one is a 400 naming the field.
 */
import { InvalidOptionError, RequestError } from "../errors.js";
import { checkConstraint, type ConstraintOptions, type ResponseFormat } from "../grammar/constraint.js";

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/** The constraint options of a request body (empty when it has none). */
export function responseFormatOptions(b: Record<string, unknown>): ConstraintOptions {
  const out: ConstraintOptions = {};
  const rf = b.response_format;
  if (rf !== undefined && rf !== null) {
    if (!isObj(rf)) throw new RequestError('response_format must be an object { type: "text" | "json_object" | "json_schema" }', "response_format");
    if (rf.type === "json_schema" && !isObj(rf.json_schema) && rf.schema === undefined) {
      throw new RequestError("response_format json_schema needs json_schema: { name, schema }", "response_format");
    }
    out.responseFormat = rf as ResponseFormat;
  }
  if (b.grammar !== undefined && b.grammar !== null) {
    if (typeof b.grammar !== "string") throw new RequestError("grammar must be a string of GBNF text", "grammar");
    out.grammar = b.grammar;
  }
  try {
    checkConstraint(out);
  } catch (e) {
    if (e instanceof InvalidOptionError) throw new RequestError(e.message, out.grammar !== undefined ? "grammar" : "response_format");
    throw e;
  }
  return out;
}
