/**
 * Function calling on /v1/chat/completions (OpenAI's `tools` and `tool_choice`):
 *
 *   tools:       [{ type: "function", function: { name, description?, parameters? } }, ...]
 *   tool_choice: "auto" (default) | "none" | "required" | { type: "function", function: { name } }
 *
 * The tools go into the prompt through the chat template (chat/tools.ts). With "required" or a
 * named function the answer is constrained by a grammar (grammar/): a JSON object
 * { "name": <a tool>, "arguments": <valid under its parameters schema> }, so it always is a call;
 * with "auto" the answer is read as a call when it is one (toolCallOf). A call comes back as
 * `message.tool_calls` with finish_reason "tool_calls"; streamed, as `delta.tool_calls`.
 */
import { randomBytes } from "node:crypto";
import { GrammarError, RequestError } from "../errors.js";
import { schemaToGbnf } from "../grammar/json-schema.js";
import { toolCallOf, type ToolCall, type ToolSpec } from "../chat/tools.js";
import type { ConstraintOptions } from "../grammar/constraint.js";

export type ToolChoice = "auto" | "none" | "required" | { name: string };

export interface ToolsRequest {
  tools: ToolSpec[];
  choice: Exclude<ToolChoice, "none">;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** The request's tools and tool_choice, checked; null without tools (or with tool_choice "none"). */
export function parseTools(b: Record<string, unknown>, chat: boolean): ToolsRequest | null {
  const v = b.tools;
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) {
    if (b.tool_choice !== undefined && b.tool_choice !== null && b.tool_choice !== "none" && b.tool_choice !== "auto") {
      throw new RequestError("tool_choice needs tools", "tool_choice");
    }
    return null;
  }
  if (!chat) throw new RequestError("tools are supported on /v1/chat/completions only", "tools");
  if (!Array.isArray(v) || v.length > 128) throw new RequestError("tools must be an array of at most 128 { type: \"function\", function: { name, parameters } }", "tools");
  const tools = v.map((t, i): ToolSpec => {
    const at = `tools[${i}]`;
    if (!isObj(t) || t.type !== "function" || !isObj(t.function)) throw new RequestError(`${at} must be { type: "function", function: { name, description?, parameters? } }`, at);
    const f = t.function;
    if (typeof f.name !== "string" || !NAME.test(f.name)) throw new RequestError(`${at}.function.name must be 1 to 64 letters, digits, _ or -`, `${at}.function.name`);
    if (f.description !== undefined && typeof f.description !== "string") throw new RequestError(`${at}.function.description must be a string`, `${at}.function.description`);
    if (f.parameters !== undefined && !isObj(f.parameters)) throw new RequestError(`${at}.function.parameters must be a JSON schema object`, `${at}.function.parameters`);
    return { type: "function", function: { name: f.name, ...(f.description !== undefined ? { description: f.description as string } : {}), ...(f.parameters !== undefined ? { parameters: f.parameters as object } : {}) } };
  });
  const names = tools.map((t) => t.function.name);
  if (new Set(names).size !== names.length) throw new RequestError("tools have two functions of the same name", "tools");
  const c = b.tool_choice ?? "auto";
  let choice: ToolChoice;
  if (c === "auto" || c === "none" || c === "required") choice = c;
  else if (isObj(c) && c.type === "function" && isObj(c.function) && typeof c.function.name === "string") {
    if (!names.includes(c.function.name)) throw new RequestError(`tool_choice names ${JSON.stringify(c.function.name).slice(0, 70)}, which is not among the tools`, "tool_choice");
    choice = { name: c.function.name };
  } else throw new RequestError('tool_choice must be "auto", "none", "required" or { type: "function", function: { name } }', "tool_choice");
  return choice === "none" ? null : { tools, choice: choice as Exclude<ToolChoice, "none"> };
}

/** The schema of a call of one tool: { name: const, arguments: its parameters }. */
function callSchema(t: ToolSpec): object {
  return {
    type: "object",
    properties: { name: { const: t.function.name }, arguments: t.function.parameters ?? { type: "object", properties: {} } },
    required: ["name", "arguments"],
  };
}

/** The grammar that makes the answer a call (tool_choice "required" or named); none for "auto". */
export function toolConstraint(t: ToolsRequest): ConstraintOptions {
  if (t.choice === "auto") return {};
  const choice = t.choice;
  const offered = choice === "required" ? t.tools : t.tools.filter((x) => x.function.name === choice.name);
  const schema = offered.length === 1 ? callSchema(offered[0]!) : { anyOf: offered.map(callSchema) };
  try {
    return { grammar: schemaToGbnf(schema) };
  } catch (e) {
    if (e instanceof GrammarError) throw new RequestError(`a tool's parameters: ${e.message}`, "tools");
    throw e;
  }
}

/** The answer as OpenAI tool calls, or null when it is not a call. */
export function toolCallsOf(text: string, t: ToolsRequest): ToolCall[] | null {
  const call = toolCallOf(text, t.tools.map((x) => x.function.name));
  if (!call) return null;
  return [{ id: `call_${randomBytes(12).toString("hex")}`, type: "function", function: { name: call.name, arguments: JSON.stringify(call.arguments) } }];
}

/**
 * Whether streamed text so far could still be the start of a call ("auto"): it is held back
 * until that is decided (a call is sent whole at the end, as delta.tool_calls).
 */
export function mayBeCall(text: string): boolean {
  const t = text.trimStart();
  return t === "" || t.startsWith("{") || t.startsWith("<tool_call>") || "<tool_call>".startsWith(t) || t.startsWith("```") || "```".startsWith(t);
}
