/**
 * Every chat template llama.cpp ships (models/templates/*.jinja: Llama 3.x, Qwen 2.5/3, Mistral,
 * Phi-3.5, Gemma, DeepSeek, Granite, Hermes, Command R, functionary, gpt-oss ...) rendered by
 * lowbit's ChatTemplate as transformers' apply_chat_template renders it: the texts recorded by
 * scripts/oracle/chat_templates_reference.py (transformers' render_jinja_template, strftime_now
 * pinned) for four conversations each: a system + two-turn chat, one user message, a question with
 * a tool available, a tool call with its result. Where transformers' renderer fails for a reason
 * of its own Python sandbox or the template's Python-only code (not the template's
 * raise_exception), the case is not compared and is listed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ChatTemplate, type ChatMessage } from "../src/chat/template.js";
import type { ToolSpec } from "../src/chat/tools.js";
import { InvalidOptionError } from "../src/errors.js";
import { llamaCppTemplates } from "./helpers/llamacpp-templates.js";
import { REPO } from "./helpers/paths.js";

interface Render { text?: string; error?: string }
interface Fixture {
  transformers: string;
  date: string;
  bos_token: string;
  eos_token: string;
  cases: Record<string, { messages: (ChatMessage & { tool_calls?: { function: { arguments: unknown } }[] })[]; tools: ToolSpec[] | null }>;
  templates: Record<string, { sha256: string; renders: Record<string, Render> }>;
}

/**
 * Cases @huggingface/jinja (0.5.x) cannot render as Python's jinja2 does, by what it lacks; they are
 * rendered and reported, not compared. Everything else must equal transformers' text.
 */
const LIBRARY_GAPS: Record<string, string> = {
  "Apriel-1.6-15b-Thinker-fixed.jinja/tools": "the `string` filter on a dict",
  "Apriel-1.6-15b-Thinker-fixed.jinja/tool_call": "the `string` filter on a dict",
  "unsloth-Apriel-1.5.jinja/tools": "the `string` filter on a dict",
  "unsloth-Apriel-1.5.jinja/tool_call": "the `string` filter on a dict",
  "ByteDance-Seed-OSS.jinja/chat": "dict literals with integer keys",
  "ByteDance-Seed-OSS.jinja/user": "dict literals with integer keys",
  "ByteDance-Seed-OSS.jinja/tools": "dict literals with integer keys",
  "ByteDance-Seed-OSS.jinja/tool_call": "dict literals with integer keys",
  "meetkai-functionary-medium-v3.1.jinja/chat": "`selectattr` on none (jinja2 yields nothing)",
  "meetkai-functionary-medium-v3.1.jinja/user": "`selectattr` on none (jinja2 yields nothing)",
  "meetkai-functionary-medium-v3.1.jinja/tools": "HTML escaping of the `e` filter's input",
  "meetkai-functionary-medium-v3.1.jinja/tool_call": "HTML escaping of the `e` filter's input",
  "meetkai-functionary-medium-v3.2.jinja/tools": "unpacking a tuple in a for loop",
  "openbmb-MiniCPM5-1B.jinja/tool_call": "the `min` filter",
  "tencent-Hy3.jinja/chat": "str.format()",
  "tencent-Hy3.jinja/user": "str.format()",
  "tencent-Hy3.jinja/tools": "str.format()",
  "tencent-Hy3.jinja/tool_call": "str.format()",
};

const FIXTURE = JSON.parse(readFileSync(join(REPO, "test", "fixtures", "chat-templates-transformers.json"), "utf8")) as Fixture;
const src = llamaCppTemplates();

/** The fixture's messages as lowbit's API takes them (OpenAI style: tool-call arguments as JSON text). */
function apiMessages(ms: Fixture["cases"][string]["messages"]): ChatMessage[] {
  return ms.map((m) => m.tool_calls
    ? { ...m, tool_calls: m.tool_calls.map((c) => ({ ...c, function: { ...c.function, arguments: JSON.stringify(c.function.arguments) } })) } as ChatMessage
    : m);
}

test("llama.cpp's chat templates render as transformers renders them", { skip: "skip" in src ? src.skip : false }, (t) => {
  const dir = (src as { dir: string }).dir;
  // the date transformers saw (local time of the recorded wall clock)
  const [y, mo, d] = FIXTURE.date.slice(0, 10).split("-").map(Number) as [number, number, number];
  const now = new Date(y, mo - 1, d, 12, 0, 0);
  let compared = 0, raised = 0;
  const notCompared: string[] = [], gaps: string[] = [];
  for (const [name, rec] of Object.entries(FIXTURE.templates)) {
    const text = readFileSync(join(dir, name), "utf8");
    assert.equal(createHash("sha256").update(text).digest("hex"), rec.sha256, `${name}: not the template text the references were recorded from (re-run scripts/oracle/chat_templates_reference.py)`);
    const tpl = new ChatTemplate(text, { bos: FIXTURE.bos_token, eos: FIXTURE.eos_token });
    for (const [kase, want] of Object.entries(rec.renders)) {
      const c = FIXTURE.cases[kase]!;
      const render = () => tpl.renderAsTransformers(apiMessages(c.messages), c.tools ?? undefined, { now });
      const gap = LIBRARY_GAPS[`${name}/${kase}`];
      if (gap !== undefined) {
        let same = false;
        try {
          same = render() === want.text;
        } catch {
          // the gap shows as an error
        }
        gaps.push(`${name} / ${kase}: ${gap}${same ? " (now renders equal: remove it from LIBRARY_GAPS)" : ""}`);
      } else if (want.text !== undefined) {
        assert.equal(render(), want.text, `${name} / ${kase}`);
        compared++;
      } else if (want.error!.startsWith("TemplateError: ")) {
        // the template's own raise_exception: lowbit raises it too, with the template's message
        const msg = want.error!.slice("TemplateError: ".length);
        assert.throws(render, (e: Error) => e instanceof InvalidOptionError && e.message.includes(msg.trim()), `${name} / ${kase}`);
        raised++;
      } else {
        notCompared.push(`${name} / ${kase} (transformers: ${want.error})`);
      }
    }
  }
  t.diagnostic(`${Object.keys(FIXTURE.templates).length} templates (transformers ${FIXTURE.transformers}): ${compared} renderings equal, ${raised} raise_exception checks equal; not compared: ${notCompared.length}`);
  for (const n of notCompared) t.diagnostic(`  ${n}`);
  t.diagnostic(`@huggingface/jinja gaps (rendered, not compared): ${gaps.length}`);
  for (const g of gaps) t.diagnostic(`  ${g}`);
  assert.equal(compared + gaps.length + raised + notCompared.length, Object.keys(FIXTURE.templates).length * Object.keys(FIXTURE.cases).length);
  assert.ok(compared >= 240, `only ${compared} renderings compared`);
});

test("a template without tools gets them described in a system message; strftime_now is C-locale strftime", () => {
  const tpl = new ChatTemplate("{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{{ strftime_now('%a %d %b %Y %H:%M %j') }}", { bos: "", eos: "" });
  const tools = FIXTURE.cases.tools!.tools!;
  const out = tpl.render([{ role: "user", content: "hi" }], tools, { now: new Date(2026, 0, 15, 9, 5) });
  assert.match(out, /^\[system\] You can call these tools[\s\S]*"get_weather"[\s\S]*\[user\] hi\nThu 15 Jan 2026 09:05 015$/);
});
