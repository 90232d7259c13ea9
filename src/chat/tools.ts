/**
 * Tools (function calling) in chat prompts. A chat template that knows about tools (its Jinja
 * source uses `tools`, as Qwen's, Llama 3.1's, Mistral's and Hermes' do) gets them as the
 * `tools` variable (OpenAI's list of { type: "function", function: { name, description,
 * parameters } }, what transformers' apply_chat_template(tools=...) passes) and the conversation's
 * tool calls and results as they are. Any other template gets a system message describing the
 * tools and asking for a JSON object { "name", "arguments" }; earlier tool calls are shown as
 * that JSON and tool results as messages of role "tool" (ChatML) or "user" (other templates).
 *
 * What the model answers is read back by toolCallOf(): that JSON object, bare, in a code fence or
 * in <tool_call> tags (Hermes / Qwen), with "arguments" or "parameters".
 */

/** A tool as OpenAI's API and transformers describe it. */
export interface ToolSpec {
  type: "function";
  function: { name: string; description?: string; parameters?: object; strict?: boolean };
}

/** A tool call in an assistant message: `arguments` is JSON text (OpenAI's shape). */
export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** Whether a Jinja chat template renders a `tools` variable. */
export function templateHasTools(source: string): boolean {
  return /\btools\b/.test(source);
}

/** The system prompt describing the tools, for templates without tool support. */
export function toolSystemPrompt(tools: ToolSpec[]): string {
  const list = tools.map((t) => ({ name: t.function.name, ...(t.function.description ? { description: t.function.description } : {}), parameters: t.function.parameters ?? { type: "object", properties: {} } }));
  return (
    "You can call these tools (functions):\n" +
    JSON.stringify(list, null, 1) +
    '\nTo call one, answer with only a JSON object: {"name": <the tool\'s name>, "arguments": <an object of its parameters>}.'
  );
}

/** What a tool call looks like in the answer we ask of the model. */
export function toolCallJson(name: string, args: unknown): string {
  return JSON.stringify({ name, arguments: args });
}

/** The tool call (name and arguments object) an answer makes, or null. `names`: the tools offered. */
export function toolCallOf(text: string, names: string[]): { name: string; arguments: Record<string, unknown> } | null {
  let t = text.trim();
  const tag = /^<tool_call>\s*([\s\S]*?)\s*(?:<\/tool_call>)?$/.exec(t);
  if (tag) t = tag[1]!;
  const fence = /^```(?:json)?\s*([\s\S]*?)\s*```$/.exec(t);
  if (fence) t = fence[1]!;
  if (!t.startsWith("{")) return null;
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const args = o.arguments ?? o.parameters ?? {};
  if (typeof o.name !== "string" || !names.includes(o.name)) return null;
  const parsed = typeof args === "string" ? safeParse(args) : args;
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return null;
  return { name: o.name, arguments: parsed as Record<string, unknown> };
}

function safeParse(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}
